// The console's dispatch tools without the page: which fields an action asks for, the body it posts, what is
// still missing, the 来电登记 report id and envelope, the ranked unit list and the 小类 list as the pickers
// show them. Pure functions (tested in logic.test.ts); the server still decides (its 422 names the field).

export type Draft = {
  note: string;
  to_unit: string;
  category: string;
  level: number | null;
  hours: number | null; // an extension's length as typed; sent as `minutes`
  park: boolean;
  report: string; // split: "channel/report_id"
  lon: number | null;
  lat: number | null;
  crossConfirmed: boolean; // the operator confirmed a unit in another district
  into: string; // merge_into: the number of the ticket to merge into
};

export function emptyDraft(): Draft {
  return { note: "", to_unit: "", category: "", level: null, hours: null, park: false, report: "", lon: null,
    lat: null, crossConfirmed: false, into: "" };
}

export interface AreaRef { code: string; name: string }
export type Area = Partial<Record<"district" | "street" | "community" | "grid", AreaRef | null>>;
/** A gazetteer place (GET /places). */
export interface Place { name: string; kind: string; lon: number; lat: number; area: Area }

export interface TicketLike {
  ticket_no: string;
  routing?: unknown;
  version: number;
  status: string;
  category?: string | null;
  escalation_level?: number | null;
  assignee?: { code: string; name?: string | null } | null;
  assists?: string[];
  area?: Area | null;
  location?: { lon: number; lat: number } | null;
  address?: string | null;
  reports?: Array<{ channel: string; report_id: string; reported_at: string;
    reporter?: { name?: string | null; phone?: string | null } | null }>;
  history?: Array<{ action: string; data?: Record<string, unknown> | null }>;
  description?: string | null;
  report_count?: number | null;
}

// As dispatch/guards.py: NOTE_REQUIRED (plus a person's escalate) and UNIT_REQUIRED.
const NOTE_REQUIRED = new Set(["reject", "return", "fail_verify", "request_extension", "deny_extension", "comment",
  "split", "reassign", "escalate"]);
const UNIT_ACTIONS = new Set(["dispatch", "reassign", "add_assist", "register_dispatch"]);
const CATEGORY_ACTIONS = new Set(["register", "preregister", "register_dispatch"]);
const EXTENSION_ACTIONS = new Set(["request_extension", "approve_extension"]);
// The escalation ladder (dispatch/escalation.py LADDER, dispatch/state.py MAX_ESCALATION_LEVEL = 3; the API
// refuses a level not above the ticket's own). Labels are in the messages (tools.levels.<n>).
export const ESCALATION_LEVELS = [1, 2, 3];

export interface Needs {
  note: "required" | "optional";
  unit: boolean;
  category: "required" | "optional" | false;
  level: boolean;
  minutes: boolean;
  report: boolean;
  location: boolean;
  into: boolean;
}

/** What the dialog asks for an action. `register_dispatch` is the console's 立案并派遣: register, then dispatch. */
export function needsOf(action: string, ticket?: Pick<TicketLike, "category"> | null): Needs {
  const registerNeedsCategory = action === "register" || action === "register_dispatch";
  return {
    note: NOTE_REQUIRED.has(action) ? "required" : "optional",
    unit: UNIT_ACTIONS.has(action),
    category: CATEGORY_ACTIONS.has(action) ? (registerNeedsCategory && !ticket?.category ? "required" : "optional") : false,
    level: action === "escalate",
    minutes: EXTENSION_ACTIONS.has(action),
    report: action === "split",
    location: action === "locate",
    into: action === "merge_into",
  };
}

/** The steps an action is posted as. */
export function stepsOf(action: string): string[] {
  return action === "register_dispatch" ? ["register", "dispatch"] : [action];
}

/** The levels an escalation may go to from the ticket's current rung. */
export function levelsFrom(current: number | null | undefined): number[] {
  return ESCALATION_LEVELS.filter((l) => l > (current || 0));
}

/** Fields still missing or wrong, by name (the API's field names), before anything is posted. */
export function missingFields(action: string, ticket: TicketLike, draft: Draft, cross = false): string[] {
  const needs = needsOf(action, ticket);
  const out: string[] = [];
  if (needs.category === "required" && !draft.category) out.push("category");
  if (needs.unit) {
    if (!draft.to_unit) out.push("to_unit");
    else if ((action === "reassign" || action === "add_assist") && ticket.assignee?.code === draft.to_unit) out.push("to_unit");
    else if (action === "add_assist" && (ticket.assists || []).includes(draft.to_unit)) out.push("to_unit");
    else if (cross && !draft.crossConfirmed) out.push("cross_district");
  }
  if (needs.note === "required" && !draft.note.trim()) out.push("note");
  if (needs.level && draft.level !== null && !levelsFrom(ticket.escalation_level).includes(draft.level)) out.push("level");
  if (needs.minutes && !draft.park) {
    // Asking needs a length (or 挂账); approving may take the length asked for (none typed).
    if (draft.hours === null ? action === "request_extension" : !(draft.hours > 0)) out.push("minutes");
  }
  if (needs.report && !draft.report) out.push("report");
  if (needs.location && (draft.lon === null || draft.lat === null)) out.push("location");
  if (needs.into && (!draft.into.trim() || draft.into.trim() === ticket.ticket_no)) out.push("into");
  return [...new Set(out)];
}

/** The POST body of one step. */
export function bodyOf(step: string, version: number, draft: Draft): Record<string, unknown> {
  const body: Record<string, unknown> = { action: step, version };
  const note = draft.note.trim();
  if (note) body.note = note;
  if (UNIT_ACTIONS.has(step) && draft.to_unit) body.to_unit = draft.to_unit;
  if (CATEGORY_ACTIONS.has(step) && draft.category) body.category = draft.category;
  if (step === "escalate" && draft.level !== null) body.level = draft.level;
  if (EXTENSION_ACTIONS.has(step)) {
    if (draft.park) body.park = true;
    else if (draft.hours !== null && draft.hours > 0) body.minutes = Math.round(draft.hours * 60);
  }
  if (step === "split" && draft.report) body.report = draft.report;
  if (step === "merge_into" && draft.into.trim()) body.into = draft.into.trim();
  if (step === "locate" && draft.lon !== null && draft.lat !== null) {
    body.location = { lon: round6(draft.lon), lat: round6(draft.lat) };
  }
  return body;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

// --- 合并 (merge_into) --------------------------------------------------------------------------------------------
/** An open ticket near the one being merged (GET /tickets/nearby: list items with `distance_m`). */
export type NearbyTicket = TicketLike & { distance_m?: number | null };

/** Where a duplicate may go: the open tickets nearby but itself, the same 小类 first, then the nearest. */
export function mergeTargets(items: NearbyTicket[], self: Pick<TicketLike, "ticket_no" | "category">,
    isFinal: (status: string) => boolean = (s) => s === "closed" || s === "rejected"): NearbyTicket[] {
  const same = (t: NearbyTicket) => (self.category && t.category === self.category ? 0 : 1);
  return items.filter((t) => t.ticket_no !== self.ticket_no && !isFinal(t.status))
    .map((t, i) => ({ t, i }))
    .sort((a, b) => same(a.t) - same(b.t) || (a.t.distance_m ?? Infinity) - (b.t.distance_m ?? Infinity) || a.i - b.i)
    .map(({ t }) => t);
}

/** Whether two tickets' 小类 differ (the console warns; the server allows it). */
export function categoriesDiffer(a: Pick<TicketLike, "category">, b: Pick<TicketLike, "category">): boolean {
  return (a.category || null) !== (b.category || null);
}

/** "南关区 / 永长街道 / 某社区 / 网格 0101" from a ticket's or place's area; "" when it has none. */
export function areaPath(area: Area | null | undefined): string {
  if (!area) return "";
  return (["district", "street", "community", "grid"] as const)
    .map((l) => area[l]?.name || "").filter(Boolean).join(" / ");
}

/** The unit routing suggested at the ticket's last 定位 (its history entry's data), if any. */
export function suggestedUnit(ticket: TicketLike): string | null {
  const h = [...(ticket.history || [])].reverse().find((e) => e.action === "locate");
  const code = h?.data?.suggested_unit;
  return typeof code === "string" && code ? code : null;
}

// --- units ranked for a ticket (GET /tickets/{no}/units) -------------------------------------------------------
export interface RankedUnit {
  code: string;
  name: string;
  level: string;
  kind?: string | null;
  district: AreaRef | null;
  reason: "duty" | "district" | "other";
  rule: string | null;
  cross_district: boolean;
}

export const REASONS: RankedUnit["reason"][] = ["duty", "district", "other"];

/** The units matching typed text (name or code), grouped by reason in the server's order. */
export function groupUnits(units: RankedUnit[], q: string): Array<{ reason: RankedUnit["reason"]; units: RankedUnit[] }> {
  const needle = q.trim().toLowerCase();
  const keep = needle ? units.filter((u) => u.name.toLowerCase().includes(needle) || u.code.toLowerCase().includes(needle)) : units;
  return REASONS.map((reason) => ({ reason, units: keep.filter((u) => u.reason === reason) }))
    .filter((g) => g.units.length > 0);
}

// --- the taxonomy (GET /categories) ----------------------------------------------------------------------------
export interface Category { code: string; name: string; parent: string | null; level: string }

/** 小类 grouped under their 大类, filtered by typed name or code (the 大类's name matches all its 小类). */
export function groupCategories(all: Category[], q = ""): Array<{ code: string; name: string; items: Category[] }> {
  const byCode = new Map(all.map((c) => [c.code, c]));
  const needle = q.trim().toLowerCase();
  const groups = new Map<string, { code: string; name: string; items: Category[] }>();
  for (const c of all) {
    if (c.level !== "subclass") continue;
    const parent = c.parent ? byCode.get(c.parent) : undefined;
    const key = parent?.code || "";
    const hit = !needle || c.name.toLowerCase().includes(needle) || c.code.startsWith(needle)
      || !!parent?.name.toLowerCase().includes(needle);
    if (!hit) continue;
    if (!groups.has(key)) groups.set(key, { code: key, name: parent?.name || "", items: [] });
    groups.get(key)!.items.push(c);
  }
  return [...groups.values()];
}

// --- 来电登记 -----------------------------------------------------------------------------------------------------
/** H-20261201-4K7Q2M9X: the hotline's own report id, made once per call so a re-send is the same report. */
export function hotlineReportId(cityDate: string, random: () => number = Math.random): string {
  const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; // no 0/O, 1/I: read out over the phone
  let tail = "";
  for (let i = 0; i < 8; i++) tail += alphabet[Math.floor(random() * alphabet.length) % alphabet.length];
  return `H-${cityDate.replace(/-/g, "")}-${tail}`;
}

export interface CallDraft {
  name: string;
  phone: string;
  address: string;
  lon: number | null;
  lat: number | null;
  category: string;
  description: string;
}

export function emptyCall(): CallDraft {
  return { name: "", phone: "", address: "", lon: null, lat: null, category: "", description: "" };
}

export const PHONE = /^\+?[0-9][0-9 -]{2,30}$/; // application/envelope.py Reporter.phone

/** Fields of a call that keep it from being sent (the envelope needs a location or an address). */
export function callProblems(c: CallDraft): string[] {
  const out: string[] = [];
  if (c.phone.trim() && !PHONE.test(c.phone.trim())) out.push("phone");
  if (!c.address.trim() && (c.lon === null || c.lat === null)) out.push("address");
  if (!c.description.trim() && !c.category) out.push("description");
  if (c.description.length > 2000) out.push("description");
  if (c.address.length > 500) out.push("address");
  if (c.name.length > 200) out.push("name");
  return [...new Set(out)];
}

/** The report envelope of a call (application/envelope.py): personal data only in `reporter`. */
export function callEnvelope(c: CallDraft, reportId: string, reportedAt: string): Record<string, unknown> {
  const env: Record<string, unknown> = { schema: "report/1", report_id: reportId, channel: "hotline", reported_at: reportedAt };
  if (c.category) env.category = c.category;
  if (c.description.trim()) env.description = c.description.trim();
  if (c.address.trim()) env.address = c.address.trim();
  if (c.lon !== null && c.lat !== null) env.location = { lon: round6(c.lon), lat: round6(c.lat) };
  const name = c.name.trim();
  const phone = c.phone.trim();
  if (name || phone) env.reporter = { ...(name ? { name } : {}), ...(phone ? { phone } : {}) };
  return env;
}

/** What identifies a call's content: a retry of the same content keeps its report id; an edit gets a new one. */
export function callKey(c: CallDraft): string {
  return JSON.stringify([c.name.trim(), c.phone.trim(), c.address.trim(), c.lon, c.lat, c.category, c.description.trim()]);
}

/** "120 米" / "1.2 公里" ("120 m" / "1.2 km"). */
export function distanceText(m: number, lang: string): string {
  const en = lang === "en";
  if (m < 1000) return `${Math.round(m)}${en ? " m" : "米"}`;
  return `${(m / 1000).toFixed(1)}${en ? " km" : "公里"}`;
}

/** The first characters of a description, for a hint line. */
export function excerpt(text: string | null | undefined, n = 40): string {
  const s = (text || "").replace(/\s+/g, " ").trim();
  return s.length > n ? s.slice(0, n) + "…" : s;
}

/** A duty rule's name as people wrote it in the matrix; the built-in fallbacks ("category-default:…",
 * "district-default") are not shown. */
export function ruleText(rule: string | null | undefined): string | null {
  if (!rule || rule.startsWith("category-default") || rule === "district-default") return null;
  return rule;
}

/** The gazetteer's candidates for an address-only ticket (routing.geocode.candidates: best first), to place it
 * with one click. */
export function geocodeCandidates(ticket: { routing?: unknown } | null | undefined):
    Array<{ name: string; kind: string; lon: number; lat: number }> {
  const geo = (ticket?.routing as { geocode?: { candidates?: unknown } } | null | undefined)?.geocode;
  const list = Array.isArray(geo?.candidates) ? geo!.candidates as Array<Record<string, unknown>> : [];
  return list.filter((c) => typeof c.name === "string" && typeof c.lon === "number" && typeof c.lat === "number")
    .map((c) => ({ name: c.name as string, kind: String(c.kind ?? ""), lon: c.lon as number, lat: c.lat as number }));
}
