// The phones' outbox: a report is stored on the device first (IndexedDB, with its already-resized photos and
// its client-made report_id) and then sent; what could not be sent (no connection, 503 broker_unavailable,
// a server error) stays and is sent again when the connection returns, on the next page load and by a timer
// with back-off. A re-send carries the same report_id, body and photo bytes, so the API accepts it once and
// answers with the same report_id (contract §4): retrying can never make two tickets. What the server refuses
// (a 4xx other than 408/429) is kept with its reason for the person to read and remove, never retried blindly.
// The logic is plain TypeScript over a small storage interface (OutboxStore), so it is tested with the
// in-memory store (outbox.test.ts); the pages use the IndexedDB one.
import { openDB, type IDBPDatabase } from "idb";
import { ApiError } from "../api";

export interface OutboxPhoto {
  name: string;
  blob: Blob;
}

export type OutboxState = "waiting" | "refused";

export interface OutboxItem {
  id: string; // the report_id
  channel: string;
  owner: string; // whose outbox: a grid worker's username, or "public"
  report: Record<string, unknown>; // the envelope as sent (report_id, reported_at, ... fixed once)
  photos: OutboxPhoto[];
  created: number; // ms since epoch
  attempts: number;
  nextAt: number; // ms since epoch: not tried again before
  state: OutboxState;
  code?: string; // the last failure's code (ApiError.code) and HTTP status (0: no connection)
  status?: number;
  fields?: Record<string, string>;
}

export interface OutboxStore {
  all(): Promise<OutboxItem[]>;
  put(item: OutboxItem): Promise<void>;
  remove(id: string): Promise<void>;
}

export class MemoryStore implements OutboxStore {
  readonly items = new Map<string, OutboxItem>();
  async all(): Promise<OutboxItem[]> {
    return [...this.items.values()].map((x) => ({ ...x })).sort((a, b) => a.created - b.created);
  }
  async put(item: OutboxItem): Promise<void> {
    this.items.set(item.id, { ...item });
  }
  async remove(id: string): Promise<void> {
    this.items.delete(id);
  }
}

const DB = "yunguan-phone";
const STORE = "outbox";

/** IndexedDB: survives reloads, closed tabs and restarts; Blobs are stored as they are. */
export class IdbStore implements OutboxStore {
  private db: Promise<IDBPDatabase> | null = null;
  private open(): Promise<IDBPDatabase> {
    if (!this.db) {
      this.db = openDB(DB, 1, {
        upgrade(db) {
          if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "id" });
        },
      });
    }
    return this.db;
  }
  async all(): Promise<OutboxItem[]> {
    const items = (await (await this.open()).getAll(STORE)) as OutboxItem[];
    return items.sort((a, b) => a.created - b.created);
  }
  async put(item: OutboxItem): Promise<void> {
    await (await this.open()).put(STORE, item);
  }
  async remove(id: string): Promise<void> {
    await (await this.open()).delete(STORE, id);
  }
}

/** Wait before the n-th retry (n ≥ 1): 5 s, 10 s, 20 s, … at most 5 minutes; `jitter` in [0, 1) spreads
 *  phones that come back online together by up to a fifth. */
export function backoff(attempts: number, jitter = 0): number {
  const base = Math.min(5 * 60_000, 5000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (1 + 0.2 * jitter));
}

/** Whether a failure is worth sending again unchanged (no connection, busy, server trouble, login expired)
 *  or a refusal that the same body would get again (bad field, photo refused, conflict). */
export function retryable(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true; // a script error while sending: keep the report, try later
  if (err.offline) return true;
  if (err.status === 401) return true; // an expired login: the page sends the login form; the report waits
  return err.status === 408 || err.status === 429 || err.status >= 500;
}

export type Sender = (item: OutboxItem, onProgress?: (share: number) => void) => Promise<{ report_id: string }>;

export interface FlushResult {
  sent: OutboxItem[];
  waiting: OutboxItem[];
  refused: OutboxItem[];
}

export class Outbox {
  private running: Promise<FlushResult> | null = null;
  private listeners = new Set<(items: OutboxItem[]) => void>();

  constructor(private readonly store: OutboxStore, private readonly send: Sender, readonly owner: string,
              private readonly now: () => number = Date.now, private readonly random: () => number = Math.random) {}

  onChange(listener: (items: OutboxItem[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** This owner's items, oldest first. */
  async items(): Promise<OutboxItem[]> {
    return (await this.store.all()).filter((x) => x.owner === this.owner);
  }

  private async changed(): Promise<void> {
    const items = await this.items();
    for (const l of this.listeners) l(items);
  }

  /** A new report: stored before anything is sent, so a closed page or a crash loses nothing. */
  async add(fields: Pick<OutboxItem, "id" | "channel" | "report" | "photos">): Promise<OutboxItem> {
    const item: OutboxItem = { ...fields, owner: this.owner, created: this.now(), attempts: 0, nextAt: 0, state: "waiting" };
    await this.store.put(item);
    await this.changed();
    return item;
  }

  async remove(id: string): Promise<void> {
    await this.store.remove(id);
    await this.changed();
  }

  /** The earliest time a waiting item is due (ms since epoch), or null with none waiting. */
  async nextDue(): Promise<number | null> {
    const due = (await this.items()).filter((x) => x.state === "waiting").map((x) => x.nextAt);
    return due.length ? Math.min(...due) : null;
  }

  /** Send what is due (all waiting items with `force`, e.g. when the connection returns), one at a time,
   *  oldest first; one flush runs at a time (a second call joins the running one). */
  flush(options: { force?: boolean; only?: string; onProgress?: (id: string, share: number) => void } = {}): Promise<FlushResult> {
    if (this.running) return this.running;
    this.running = this.run(options).finally(() => (this.running = null));
    return this.running;
  }

  private async run(options: { force?: boolean; only?: string; onProgress?: (id: string, share: number) => void }): Promise<FlushResult> {
    const result: FlushResult = { sent: [], waiting: [], refused: [] };
    for (const item of await this.items()) {
      if (item.state !== "waiting" || (options.only && item.id !== options.only)) continue;
      if (!options.force && item.nextAt > this.now()) {
        result.waiting.push(item);
        continue;
      }
      try {
        await this.send(item, (share) => options.onProgress?.(item.id, share));
        await this.store.remove(item.id);
        result.sent.push(item);
      } catch (err) {
        const again = retryable(err);
        const next: OutboxItem = {
          ...item,
          attempts: item.attempts + 1,
          code: err instanceof ApiError ? err.code : "unknown",
          status: err instanceof ApiError ? err.status : undefined,
          fields: err instanceof ApiError ? err.fields : undefined,
          state: again ? "waiting" : "refused",
        };
        next.nextAt = this.now() + backoff(next.attempts, this.random());
        await this.store.put(next);
        (again ? result.waiting : result.refused).push(next);
        // No connection: the rest would fail the same way; they go when it returns.
        if (err instanceof ApiError && err.offline) {
          break;
        }
      }
    }
    await this.changed();
    return result;
  }
}
