// The forms a unit may be offered; the ticket's `actions` (from the API, after the server's guards) say which
// apply now. Only each form's inputs are described here: the action's name is the vocabulary's label.
import type { Draft } from "./drafts";

export interface FormSpec {
  note?: "what" | "reason" | "note"; // which words the note field takes (messages: unit.notes.<kind>)
  noteRequired?: boolean;
  photos?: boolean;
  minutes?: boolean;
  danger?: boolean;
}

export const FORMS: Record<string, FormSpec> = {
  acknowledge: {},
  handle: { note: "what", noteRequired: true, photos: true },
  return: { note: "reason", noteRequired: true, danger: true },
  request_extension: { note: "reason", noteRequired: true, minutes: true },
  resume: { note: "note" },
  comment: { note: "note", noteRequired: true },
};

/** The forms to draw, in the order above (the workflow's order), for the actions the server allows. */
export function formsFor(actions: readonly string[] | undefined): string[] {
  const allowed = new Set(actions || []);
  return Object.keys(FORMS).filter((a) => allowed.has(a));
}

export type Problem = "note" | "minutes" | null;

/** What is missing before sending (the server checks again and names the field). */
export function problemOf(action: string, d: Draft): Problem {
  const spec = FORMS[action] || {};
  if (spec.noteRequired && !d.note.trim()) return "note";
  if (spec.minutes && !d.park && !(Number.isFinite(d.minutes) && d.minutes >= 1)) return "minutes";
  return null;
}

/** The body of POST /tickets/{no}/actions for a draft (photos are attached after their upload). */
export function actionBody(action: string, version: number, d: Draft,
                           attachments?: Array<{ sha256: string }>): Record<string, unknown> {
  const spec = FORMS[action] || {};
  const body: Record<string, unknown> = { action, version };
  if (spec.note && d.note.trim()) body.note = d.note.trim();
  if (spec.minutes) {
    if (d.park) body.park = true;
    else body.minutes = Math.round(d.minutes);
  }
  if (attachments && attachments.length) body.attachments = attachments;
  return body;
}
