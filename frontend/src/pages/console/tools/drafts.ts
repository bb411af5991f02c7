// What an operator has typed into an action's dialog, kept per ticket and action for the page's life: a live
// update of the ticket (a new version from the socket) or closing and reopening the dialog loses nothing;
// a successful send clears it.
import { reactive } from "vue";
import { emptyCall, emptyDraft, type Draft } from "./logic";

const drafts = new Map<string, Draft>();

export function draftFor(ticketNo: string, action: string): Draft {
  const key = `${ticketNo}|${action}`;
  let d = drafts.get(key);
  if (!d) {
    d = reactive(emptyDraft()) as Draft;
    drafts.set(key, d);
  }
  return d;
}

/** Empties the draft in place (components hold the same object). */
export function clearDraft(ticketNo: string, action: string): void {
  const d = drafts.get(`${ticketNo}|${action}`);
  if (d) Object.assign(d, emptyDraft());
}

// The call being registered (来电登记): kept while the form is closed and reopened, and after a failed send,
// with the report id of its last attempt (a re-send of the same content keeps it: the server counts it once).
export const call = reactive({
  draft: emptyCall(),
  attempt: null as null | { reportId: string; key: string; reportedAt: string },
});

export function clearCall(): void {
  Object.assign(call.draft, emptyCall());
  call.attempt = null;
}
