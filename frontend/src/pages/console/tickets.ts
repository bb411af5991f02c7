// The console's ticket set without the page: one place where API tickets and socket events enter, deduplicated
// by (ticket_no, version); the deadline light of each ticket (its "severity"); the old closed ones evicted
// first; the header's counts; the filters, the list's order and the pending queue. Pure (tickets.test.ts).

export interface AreaRef { code: string; name: string }
export type AreaLevel = "district" | "street" | "community" | "grid";
export type Area = Partial<Record<AreaLevel, AreaRef | null>>;

export interface Routing {
  method?: string;
  rule?: string;
  distance_m?: number | null;
  border_m?: number | null;
  near_border?: boolean;
  hits?: string[];
  candidates?: unknown[];
  geocode_candidates?: unknown[];
  geocode?: { address?: string; confident?: boolean; reason?: string; candidates?: unknown[] } | null;
  [key: string]: unknown;
}

/** A ticket as the list API and ticket event v1 carry it (contract §3, §4 and the extensions). */
export interface TicketItem {
  ticket_no: string;
  version: number;
  status: string;
  category?: string | null;
  assignee?: { code: string; name?: string | null; level?: string | null } | null;
  area?: Area | null;
  location?: { lon: number; lat: number } | null;
  deadline?: string | null;
  deadline_state?: string | null;
  escalation_level?: number | null;
  description?: string | null;
  address?: string | null;
  routing?: Routing | null;
  created_at?: string;
  updated_at?: string;
  at?: string;
  event?: string;
  actor?: string;
  report_count?: number;
  assists?: string[];
  priority?: string | null;
  border_check?: boolean;
  channel?: string | null;
  [key: string]: unknown;
}

export interface Attachment { url?: string; media_type?: string; sha256?: string }
export interface HistoryEntry { at: string; actor: string; role?: string | null; party?: string | null; action: string;
  from?: string | null; to?: string | null; note?: string | null; data?: { attachments?: Attachment[] } | null }
export interface Report { channel: string; report_id: string; reported_at: string;
  reporter?: { name?: string | null; phone?: string | null; id?: string | null } | null; attachments?: Attachment[] }
/** GET /api/v1/tickets/{no} for staff: the ticket with its history, reports and the caller's `actions`. */
export interface Detail extends TicketItem { history?: HistoryEntry[]; reports?: Report[]; actions?: string[] }

export type Severity = "red" | "yellow" | "green" | "pending" | "open" | "done";
export const SEVERITY_ORDER: Severity[] = ["red", "yellow", "pending", "green", "open", "done"];
const RANK: Record<Severity, number> = { red: 0, yellow: 1, pending: 2, green: 3, open: 4, done: 5 };

export interface Entry extends TicketItem {
  _at: string | null; // when it last changed (event `at`, else updated_at, else created_at)
  _fresh: number; // ms timestamp of a live change (the row flashes), 0 for loaded ones
  _sev: Severity;
}

export function ms(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
}

function timeOf(t: TicketItem): string | null {
  return t.at || t.updated_at || t.created_at || null;
}

/** `deadline_state` from the lifecycle; a deadline already passed is red at once (before the server's next
 * deadline pass says so); only an old server without `deadline_state` makes an escalation alone red. */
export function severity(t: TicketItem, now: number, isFinal: (status: string) => boolean): Severity {
  if (isFinal(t.status)) return "done";
  const ds = t.deadline_state;
  if (ds === "red") return "red";
  const dl = ms(t.deadline);
  if (dl !== null && dl <= now) return "red";
  if (ds === "yellow" || ds === "green") return ds;
  if (ds === undefined && (t.escalation_level || 0) > 0) return "red";
  if (t.status === "pending") return "pending";
  return "open";
}

export interface IngestResult {
  applied: boolean; // a new version (or fields filled in)
  entry: Entry | null;
  becameRed: boolean;
  evicted: string[];
}

export class TicketStore {
  readonly tickets = new Map<string, Entry>();
  private readonly seen = new Set<string>();
  lastChange: string | null = null; // the latest change seen: where a gap fetch starts

  constructor(private readonly isFinal: (status: string) => boolean, readonly max = 20000) {}

  get size(): number {
    return this.tickets.size;
  }

  get(no: string): Entry | undefined {
    return this.tickets.get(no);
  }

  all(): Entry[] {
    return Array.from(this.tickets.values());
  }

  ingest(item: unknown, live: boolean, now: number): IngestResult {
    const none: IngestResult = { applied: false, entry: null, becameRed: false, evicted: [] };
    if (!item || typeof item !== "object") return none;
    const t = item as TicketItem;
    if (typeof t.ticket_no !== "string" || typeof t.version !== "number") return none;
    const no = t.ticket_no;
    const key = `${no}#${t.version}`;
    const prev = this.tickets.get(no);
    const at = timeOf(t);
    if (at && (!this.lastChange || (ms(at) ?? 0) > (ms(this.lastChange) ?? 0))) this.lastChange = at;
    if (this.seen.has(key) || (prev && prev.version > t.version)) {
      // The same change again (socket and API overlap) or an older one late: only fill in what the other
      // source carries (an event has no description, an API ticket no `event`).
      if (prev && prev.version === t.version) {
        let filled = false;
        const copy = { ...prev } as Record<string, unknown>;
        for (const [k, v] of Object.entries(t)) {
          if (copy[k] === undefined && v !== undefined) { copy[k] = v; filled = true; }
        }
        if (filled) {
          this.tickets.set(no, copy as Entry);
          return { applied: true, entry: copy as Entry, becameRed: false, evicted: [] };
        }
      }
      return { ...none, entry: prev || null };
    }
    this.seen.add(key);
    const merged = { ...(prev || {}), ...t } as Entry;
    if (!live) delete merged.event;
    merged._at = at;
    merged._fresh = live ? now : prev?._fresh || 0;
    merged._sev = severity(merged, now, this.isFinal);
    this.tickets.set(no, merged);
    const becameRed = merged._sev === "red" && prev?._sev !== "red";
    const evicted = this.tickets.size > this.max ? this.evict() : [];
    return { applied: true, entry: merged, becameRed, evicted };
  }

  /** The oldest closed tickets leave first when the set is full. */
  private evict(): string[] {
    const old = this.all().filter((t) => t._sev === "done").sort((a, b) => (ms(a._at) || 0) - (ms(b._at) || 0));
    const out: string[] = [];
    for (const t of old) {
      if (this.tickets.size <= this.max) break;
      this.tickets.delete(t.ticket_no);
      out.push(t.ticket_no);
    }
    return out;
  }

  /** The clock moves tickets from green to red without any event: the ones whose light changed. */
  retick(now: number): Array<{ entry: Entry; becameRed: boolean }> {
    const out: Array<{ entry: Entry; becameRed: boolean }> = [];
    for (const [no, t] of this.tickets) {
      const sev = severity(t, now, this.isFinal);
      if (sev !== t._sev) {
        const next = { ...t, _sev: sev };
        this.tickets.set(no, next);
        out.push({ entry: next, becameRed: sev === "red" });
      }
    }
    return out;
  }
}

export interface Stats { open: number; pending: number; yellow: number; red: number; closedToday: number }

/** The header's counts; `dayOf` gives the city's date of an instant (closed today = closed on the city's
 * today). */
export function stats(list: Entry[], today: string, dayOf: (iso: string) => string): Stats {
  const s: Stats = { open: 0, pending: 0, yellow: 0, red: 0, closedToday: 0 };
  for (const t of list) {
    if (t._sev !== "done") s.open++;
    if (t.status === "pending") s.pending++;
    if (t._sev === "yellow") s.yellow++;
    if (t._sev === "red") s.red++;
    if (t.status === "closed") {
      const at = t.updated_at || t._at;
      if (at && dayOf(at) === today) s.closedToday++;
    }
  }
  return s;
}

export interface Filters {
  status: string; // "" all, "_open" every open status, else one status
  district: string;
  category: string; // any level: a ticket matches its own code or an ancestor's
  unit: string;
  channel: string;
  urgent: boolean;
  deadline: string; // "", "red", "yellow", "late" (red or yellow)
  text: string;
  sort: "recent" | "urgent";
}

export function emptyFilters(): Filters {
  return { status: "", district: "", category: "", unit: "", channel: "", urgent: false, deadline: "", text: "",
    sort: "recent" };
}

export function inCategory(code: string | null | undefined, wanted: string,
                           parentOf: (code: string) => string | null | undefined): boolean {
  let c: string | null | undefined = code;
  for (let guard = 0; c && guard < 8; guard++) {
    if (c === wanted) return true;
    c = parentOf(c);
  }
  return false;
}

export function passes(t: Entry, f: Filters, parentOf: (code: string) => string | null | undefined): boolean {
  if (f.status === "_open" && t._sev === "done") return false;
  if (f.status && f.status !== "_open" && t.status !== f.status) return false;
  if (f.district && t.area?.district?.code !== f.district) return false;
  if (f.unit && t.assignee?.code !== f.unit) return false;
  if (f.category && !inCategory(t.category, f.category, parentOf)) return false;
  if (f.channel && t.channel !== f.channel) return false;
  if (f.urgent && t.priority !== "urgent") return false;
  if (f.deadline === "red" && t._sev !== "red") return false;
  if (f.deadline === "yellow" && t._sev !== "yellow") return false;
  if (f.deadline === "late" && t._sev !== "red" && t._sev !== "yellow") return false;
  const q = f.text.trim().toLowerCase();
  if (q) {
    const hay = [t.ticket_no, t.address, t.description, t.assignee?.name, t.area?.district?.name,
      t.area?.street?.name, t.area?.community?.name].filter(Boolean).join(" ").toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

/** The list's order: latest change first, or the most urgent first (light, then deadline, then latest). */
export function sortTickets(list: Entry[], mode: Filters["sort"]): Entry[] {
  const out = list.slice();
  if (mode === "urgent") {
    out.sort((a, b) => (RANK[a._sev] - RANK[b._sev])
      || ((ms(a.deadline) ?? Infinity) - (ms(b.deadline) ?? Infinity))
      || ((ms(b._at) || 0) - (ms(a._at) || 0)));
  } else {
    out.sort((a, b) => (ms(b._at) || 0) - (ms(a._at) || 0));
  }
  return out;
}

/** Tickets waiting for an operator, the longest waiting first. */
export function pendingQueue(list: Entry[]): Entry[] {
  return list.filter((t) => t.status === "pending")
    .sort((a, b) => (ms(a.created_at || a._at) || 0) - (ms(b.created_at || b._at) || 0));
}

/** The overdue ones, the longest overdue first. */
export function overdue(list: Entry[]): Entry[] {
  return list.filter((t) => t._sev === "red")
    .sort((a, b) => (ms(a.deadline) ?? Infinity) - (ms(b.deadline) ?? Infinity));
}

/** The server-side part of the filters (contract parameters), so a filtered view is complete beyond the
 * tickets already loaded; the rest are applied here only. */
export function serverQuery(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.status && f.status !== "_open") q.status = f.status;
  if (f.unit) q.unit = f.unit;
  if (f.district) q.district = f.district;
  if (f.deadline === "red" || f.deadline === "yellow") q.deadline_state = f.deadline;
  return q;
}

/** One key per server-side query: where the "load more" cursor of that query is kept. */
export function queryKey(q: Record<string, string>): string {
  return Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join("&");
}
