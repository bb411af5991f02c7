// What a clerk has typed (and the photos picked) for an action on a ticket, kept per ticket and action: the
// forms are drawn from the ticket, which live updates replace, while a draft lives here until it is sent
// successfully. The typed text is also kept in the tab's sessionStorage, so a reload does not lose it either
// (photos, being files, stay in memory only).
export interface Draft {
  note: string;
  minutes: number;
  park: boolean;
  photos: File[];
}

export const DEFAULT_MINUTES = 240;

export function emptyDraft(): Draft {
  return { note: "", minutes: DEFAULT_MINUTES, park: false, photos: [] };
}

type Saved = Record<string, { note: string; minutes: number; park: boolean }>;

export function draftKey(ticketNo: string, action: string): string {
  return `${ticketNo}|${action}`;
}

/** Whether a draft holds anything worth keeping (a typed note, photos or a changed length). */
export function isBlank(d: Draft): boolean {
  return !d.note.trim() && d.photos.length === 0 && d.minutes === DEFAULT_MINUTES && !d.park;
}

export class Drafts {
  entries: Record<string, Draft> = {};

  constructor(private readonly storage: Storage | null = null, private readonly storageKey = "yunguan.unit.drafts") {
    this.load();
  }

  /** The draft of an action on a ticket; made (empty) on first use. */
  get(ticketNo: string, action: string): Draft {
    const key = draftKey(ticketNo, action);
    if (!this.entries[key]) this.entries[key] = emptyDraft();
    return this.entries[key];
  }

  peek(ticketNo: string, action: string): Draft | undefined {
    return this.entries[draftKey(ticketNo, action)];
  }

  /** After a successful send only: the action is done, its draft goes. */
  clear(ticketNo: string, action: string): void {
    delete this.entries[draftKey(ticketNo, action)];
    this.save();
  }

  /** Tickets with something typed, for a mark in the queue. */
  ticketsWithDrafts(): Set<string> {
    const out = new Set<string>();
    for (const [key, d] of Object.entries(this.entries)) if (!isBlank(d)) out.add(key.split("|")[0]);
    return out;
  }

  serialise(): Saved {
    const out: Saved = {};
    for (const [key, d] of Object.entries(this.entries)) {
      if (d.note.trim() || d.park || d.minutes !== DEFAULT_MINUTES) out[key] = { note: d.note, minutes: d.minutes, park: d.park };
    }
    return out;
  }

  save(): void {
    if (!this.storage) return;
    try {
      const saved = this.serialise();
      if (Object.keys(saved).length) this.storage.setItem(this.storageKey, JSON.stringify(saved));
      else this.storage.removeItem(this.storageKey);
    } catch {
      /* storage full or disabled: the drafts stay in memory */
    }
  }

  private load(): void {
    if (!this.storage) return;
    let saved: Saved = {};
    try {
      saved = JSON.parse(this.storage.getItem(this.storageKey) || "{}") as Saved;
    } catch {
      return;
    }
    for (const [key, d] of Object.entries(saved || {})) {
      if (!d || typeof d !== "object" || !key.includes("|")) continue;
      this.entries[key] = {
        note: typeof d.note === "string" ? d.note : "",
        minutes: typeof d.minutes === "number" && d.minutes > 0 ? d.minutes : DEFAULT_MINUTES,
        park: d.park === true,
        photos: [],
      };
    }
  }
}
