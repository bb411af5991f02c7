// The workbench's queue and what it shows of a ticket, as pure functions (tested in queue.test.ts): which
// tickets are the unit's (as lead or assisting unit), how a live event changes the queue, the order by deadline,
// the countdown with its colour, the area path, the photos and the history in words. No copies of the rules:
// the statuses of a queue and every label come from the vocabulary document.
import type { CityTime } from "@/shared/time";
import type { Lang, Vocabulary } from "@/shared/vocabulary";

export interface AreaLevel {
  code: string;
  name: string;
}

export interface Photo {
  sha256?: string;
  media_type?: string;
  url: string;
}

export interface HistoryEntry {
  at: string;
  actor: string;
  role: string;
  party?: string | null;
  action: string;
  from?: string | null;
  to?: string | null;
  note?: string | null;
  data?: Record<string, unknown> | null;
}

export interface Ticket {
  ticket_no: string;
  status: string;
  version: number;
  category?: string | null;
  description?: string | null;
  address?: string | null;
  deadline?: string | null;
  deadline_state?: string | null;
  escalation_level?: number | null;
  report_count?: number | null;
  assignee?: { code: string; name?: string | null; level?: string | null } | null;
  assists?: string[];
  area?: Partial<Record<"district" | "street" | "community" | "grid", AreaLevel | null>> | null;
  location?: { lon: number; lat: number } | null;
  history?: HistoryEntry[];
  reports?: Array<{ channel: string; report_id: string; reported_at: string; attachments?: Photo[] }>;
  actions?: string[];
  [key: string]: unknown;
}

export type Party = "lead" | "assist";

/** The unit's part in a ticket: lead (主办), assisting (协办), or none (no longer the unit's). */
export function partyOf(t: Pick<Ticket, "assignee" | "assists">, unit: string | null | undefined): Party | null {
  if (!unit) return null;
  if (t.assignee?.code === unit) return "lead";
  if ((t.assists || []).includes(unit)) return "assist";
  return null;
}

export function inQueue(t: Ticket, unit: string | null | undefined, statuses: readonly string[]): boolean {
  return statuses.includes(t.status) && partyOf(t, unit) !== null;
}

/** Earliest running deadline first, tickets without one last, then by number (the API's sort=deadline). */
export function byDeadline(a: Ticket, b: Ticket): number {
  const da = a.deadline ? Date.parse(a.deadline) : Infinity;
  const db = b.deadline ? Date.parse(b.deadline) : Infinity;
  if (da !== db) return da < db ? -1 : 1;
  return a.ticket_no < b.ticket_no ? -1 : a.ticket_no > b.ticket_no ? 1 : 0;
}

export type EventEffect = "added" | "updated" | "removed" | "stale" | "ignored";

/** A ticket event (or a ticket answered by the API) applied to the queue, in place. An older version than the
 *  one held is ignored (events may overtake the page's own reads); a ticket that left the unit or its queue
 *  statuses is removed. */
export function applyTicket(queue: Map<string, Ticket>, incoming: Partial<Ticket> & { ticket_no: string },
                            unit: string | null | undefined, statuses: readonly string[]): EventEffect {
  const held = queue.get(incoming.ticket_no);
  if (held && typeof incoming.version === "number" && incoming.version < held.version) return "stale";
  const merged = { ...(held || {}), ...stripUndefined(incoming) } as Ticket;
  if (!inQueue(merged, unit, statuses)) {
    if (held) {
      queue.delete(incoming.ticket_no);
      return "removed";
    }
    return "ignored";
  }
  queue.set(incoming.ticket_no, merged);
  return held ? "updated" : "added";
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type Tone = "green" | "yellow" | "red" | "none";

/** "剩余3小时5分" / "超时2小时", coloured by the ticket's deadline light (red once overdue whatever it says). */
export function deadlineView(t: Pick<Ticket, "deadline" | "deadline_state">, time: CityTime):
    { text: string; tone: Tone; at: string; overdue: boolean } | null {
  const c = time.countdown(t.deadline);
  if (!c || !t.deadline) return null;
  const state = t.deadline_state;
  const tone: Tone = c.overdue ? "red" : state === "green" || state === "yellow" || state === "red" ? state : "none";
  return { text: c.text, tone, at: time.dateTime(t.deadline), overdue: c.overdue };
}

const LEVELS = ["district", "street", "community", "grid"] as const;

/** 区 › 街道 › 社区 › 网格 names, the levels the ticket has (an empty list: not located). */
export function areaPath(t: Pick<Ticket, "area">): string[] {
  const area = t.area || {};
  return LEVELS.map((l) => area[l]?.name || "").filter((n) => n);
}

const MEDIA = /^\/media\/[0-9a-f]{64}$/;

function photosIn(list: unknown): Photo[] {
  if (!Array.isArray(list)) return [];
  return list.filter((a): a is Photo => !!a && typeof a === "object" && typeof (a as Photo).url === "string"
    && MEDIA.test((a as Photo).url));
}

/** The reports' photos (现场) and the photos of actions (处置, 核查), each at /media/<sha256> only. */
export function photosOf(t: Pick<Ticket, "reports" | "history">): { reported: Photo[]; handled: Photo[] } {
  const reported = (t.reports || []).flatMap((r) => photosIn(r.attachments));
  const handled = (t.history || []).flatMap((h) => photosIn(h.data?.attachments));
  return { reported, handled };
}

export interface HistoryLine {
  at: string;
  action: string; // the action's label
  who: string; // a person's account and their part, or "系统"
  note: string; // a person's note, shown as written
  systemNote: string; // the system's internal note: a secondary detail only
  detail: string; // particulars in words (an extension's length, a part)
  photos: Photo[];
  system: boolean;
}

/** The history in words: labels from the vocabulary, never raw codes; notes written by the system are kept
 *  apart (they are internal English), a person's note is shown as written. */
export function historyLines(t: Pick<Ticket, "history">, vocab: Vocabulary, lang: Lang, time: CityTime,
                             unitName: (code: string) => string,
                             words: { park: string; part: (unit: string) => string; extension: (span: string) => string }):
    HistoryLine[] {
  return (t.history || []).map((h) => {
    const system = h.role === "system";
    const who = system
      ? vocab.label("party", "system", lang)
      : [h.actor, h.party ? vocab.label("party", h.party, lang) : ""].filter(Boolean).join(" · ");
    const data = h.data || {};
    const detail: string[] = [];
    if (typeof data.part === "string" && data.part) detail.push(words.part(unitName(data.part)));
    if (typeof data.minutes === "number" && data.minutes > 0) detail.push(words.extension(time.duration(data.minutes * 60000)));
    if (data.park === true) detail.push(words.park);
    return {
      at: time.dateTime(h.at), action: vocab.label("action", h.action, lang, "done"), who,
      note: system ? "" : h.note || "", systemNote: system ? h.note || "" : "", detail: detail.join("，"),
      photos: photosIn(data.attachments), system,
    };
  });
}

/** Where each assisting unit stands in its part (签收, 处置) from the history. */
export function assistParts(t: Pick<Ticket, "assists" | "history">): Array<{ unit: string; stage: "waiting" | "acknowledged" | "handled" }> {
  return (t.assists || []).map((unit) => {
    let stage: "waiting" | "acknowledged" | "handled" = "waiting";
    for (const h of t.history || []) {
      if (h.data?.part !== unit) continue;
      if (h.action === "handle") stage = "handled";
      else if (h.action === "acknowledge" && stage === "waiting") stage = "acknowledged";
    }
    return { unit, stage };
  });
}
