// The console's urgent alert (issue 18): which live ticket events announce an urgent case, and the stack of
// alerts the operator has not acknowledged yet. An urgent ticket (a lifeline alarm, a gas leak; ticket event
// v1 carries `priority`) alerts when it is created, when it is first seen live, and when a lifeline alarm is
// raised to a higher level (a system `comment` whose note starts with 升级: the event itself does not say so,
// so the page reads the ticket's newest history entry to decide). Pure (urgent.test.ts).

export interface UrgentEvent {
  ticket_no?: unknown; event?: unknown; priority?: unknown; channel?: unknown; actor?: unknown;
}

/** "new": alert now; "check": a lifeline note that may be a raise (read the ticket); null: nothing. */
export function urgentReason(ev: UrgentEvent, known: boolean): "new" | "check" | null {
  if (ev.priority !== "urgent" || typeof ev.ticket_no !== "string") return null;
  if (ev.event === "created" || !known) return "new";
  if (ev.event === "comment" && ev.channel === "sensor") return "check";
  return null;
}

interface HistoryLike { at?: string; action?: string; note?: string | null }

/** The highest level a lifeline alarm was raised to by the history entries written with the event (the same
 * transaction: at or after the event's instant, a second of slack); application/lifeline.py writes
 * "升级 raised to level N: …". Null: the note was no raise (a clear, a lower level). */
export function raisedLevel(history: HistoryLike[] | null | undefined, eventAt: string | null | undefined): number | null {
  const since = eventAt ? Date.parse(eventAt) - 1000 : NaN;
  let best: number | null = null;
  for (const h of history || []) {
    if (h.action !== "comment" || !h.note) continue;
    if (!Number.isNaN(since) && !(Date.parse(h.at || "") >= since)) continue;
    const m = /^升级 raised to level (\d)/.exec(h.note);
    if (m && (best === null || Number(m[1]) > best)) best = Number(m[1]);
  }
  return best;
}

export interface UrgentAlert { no: string; why: "new" | "raised"; level: number | null; at: number }

/** Unacknowledged urgent alerts, newest first; one per ticket (a newer alert of the same ticket replaces it). */
export class UrgentStack {
  items: UrgentAlert[] = [];

  add(no: string, why: "new" | "raised", level: number | null, at: number): boolean {
    const had = this.items.find((a) => a.no === no);
    if (had && had.why === why && had.level === level) return false;
    this.items = [{ no, why, level, at }, ...this.items.filter((a) => a.no !== no)];
    return true;
  }

  ack(no: string): void {
    this.items = this.items.filter((a) => a.no !== no);
  }

  ackAll(): void {
    this.items = [];
  }

  has(no: string): boolean {
    return this.items.some((a) => a.no === no);
  }
}
