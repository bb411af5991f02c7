// "My reports": the report numbers this device sent (localStorage, per channel and account), newest first, so a
// resident or a grid worker can follow them (GET /api/v1/reports/{channel}/{id}, then /track?q=). Only the
// number, the time and a short summary are kept: no phone numbers or photos.
export interface SentReport {
  report_id: string;
  channel: string;
  at: number; // ms since epoch, when it was sent
  summary: string;
}

export const MAX_KEPT = 50;

export class SentList {
  constructor(private readonly key: string, private readonly storage: Pick<Storage, "getItem" | "setItem"> = localStorage) {}

  static for(channel: string, owner: string): SentList {
    return new SentList(`yunguan.sent.${channel}.${owner}`);
  }

  list(): SentReport[] {
    try {
      const raw = JSON.parse(this.storage.getItem(this.key) || "[]");
      return Array.isArray(raw) ? raw.filter((x) => x && typeof x.report_id === "string") : [];
    } catch {
      return [];
    }
  }

  add(report: SentReport): SentReport[] {
    const list = [report, ...this.list().filter((x) => x.report_id !== report.report_id)].slice(0, MAX_KEPT);
    try {
      this.storage.setItem(this.key, JSON.stringify(list));
    } catch {
      /* storage full or blocked: the list is a convenience */
    }
    return list;
  }
}

/** A short line for the list: the description's start. */
export function summaryOf(text: string | null | undefined, max = 24): string {
  const t = (text || "").replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** A report number made on the device: prefix, the date, 12 random hex digits (unguessable: a resident's
 *  receipt is the key to its status). */
export function newReportId(prefix: string, now: Date = new Date(),
                            random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(6));
  const ymd = `${String(now.getUTCFullYear()).slice(2)}${String(now.getUTCMonth() + 1).padStart(2, "0")}${String(now.getUTCDate()).padStart(2, "0")}`;
  return `${prefix}${ymd}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase()}`;
}
