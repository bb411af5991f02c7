// The command centre's buttons, in a fixed order (muscle memory on a wall screen). Which are enabled comes from
// the ticket's `actions` (GET /api/v1/tickets/{no}: what this account may do now); the everyday five always
// show (greyed when not possible), the rest only when possible. Pure (actions.test.ts).

export const BUTTONS = ["register_dispatch", "preregister", "register", "dispatch", "reassign", "add_assist",
  "locate", "escalate", "approve_extension", "deny_extension", "resume", "split", "merge_into", "reject", "close",
  "comment", "confirm_area"] as const;

const EVERYDAY = new Set(["dispatch", "reassign", "add_assist", "escalate", "reject"]);
const PRIMARY = new Set(["register_dispatch", "dispatch", "close", "confirm_area"]);
const WARN = new Set(["escalate"]);
const DANGER = new Set(["reject"]);

export interface Button { action: string; enabled: boolean; kind: "primary" | "warning" | "danger" | "default" }

export interface ActionTicket { status: string; category?: string | null; actions?: unknown }

export function allowedOf(t: ActionTicket, fallback: (status: string) => string[]): string[] {
  return Array.isArray(t.actions) ? t.actions.map(String) : fallback(t.status);
}

/** The buttons to show for a ticket; an allowed action outside the fixed list comes last, so none is lost. */
export function buttonsFor(t: ActionTicket, allowed: string[], isCommand: (a: string) => boolean): Button[] {
  const may = (a: string) => (a === "register_dispatch"
    ? allowed.includes("register") && t.status === "pending" : allowed.includes(a));
  const list: string[] = [...BUTTONS];
  for (const a of allowed) if (!list.includes(a) && isCommand(a)) list.push(a);
  const out: Button[] = [];
  for (const action of list) {
    const enabled = may(action);
    if (!enabled && !EVERYDAY.has(action)) continue;
    const kind = PRIMARY.has(action) ? "primary" : WARN.has(action) ? "warning" : DANGER.has(action) ? "danger" : "default";
    out.push({ action, enabled, kind });
  }
  return out;
}

/** Actions posted at once, without a dialog: they need nothing typed or picked. 受理 needs a category only
 * when the ticket has none. */
export function isDirect(action: string, t: ActionTicket): boolean {
  if (action === "preregister") return !!t.category;
  return action === "close" || action === "confirm_area" || action === "resume";
}
