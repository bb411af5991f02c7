// The platform's vocabulary, as the server sends it (dispatch/vocabulary.py, schema vocabulary/1): labels of
// statuses, actions, roles, channels and deadline lights, the open statuses and the transition table. Pages
// keep no copies: a status renamed or a transition added on the server shows up here as is (decision 0016).
export interface Labelled {
  code: string;
  zh: string;
  en: string;
  done?: string;
  public?: { zh: string; en: string };
  [key: string]: unknown;
}

export interface Transition {
  from: string;
  action: string;
  to: string;
  parties: string[];
}

export interface VocabularyDocument {
  schema: string;
  roles: Labelled[];
  parties: Labelled[];
  channels: Labelled[];
  statuses: Labelled[];
  open_statuses: string[];
  final_statuses: string[];
  with_unit_statuses: string[];
  unit_queue_statuses: string[];
  actions: Labelled[];
  deadline_states: Labelled[];
  category_code: { level_digits: Record<string, number>; subclass_digits: number };
  transitions: Transition[];
  [key: string]: unknown;
}

export type Variant = "plain" | "done" | "public";
export type Lang = "zh-CN" | "en";

function index(list: Labelled[] | undefined): Map<string, Labelled> {
  return new Map((list || []).map((x) => [x.code, x]));
}

export class Vocabulary {
  readonly doc: VocabularyDocument;
  private readonly tables: Record<string, Map<string, Labelled>>;
  private readonly open: Set<string>;
  private readonly final: Set<string>;

  constructor(doc: VocabularyDocument) {
    this.doc = doc;
    this.tables = {
      status: index(doc.statuses),
      action: index(doc.actions),
      channel: index(doc.channels),
      role: index(doc.roles),
      party: index(doc.parties),
      deadline: index(doc.deadline_states),
    };
    this.open = new Set(doc.open_statuses);
    this.final = new Set(doc.final_statuses);
  }

  /** The label of a code in one language; a code the document does not know shows as itself. */
  label(table: "status" | "action" | "channel" | "role" | "party" | "deadline", code: string | null | undefined,
        lang: Lang, variant: Variant = "plain"): string {
    if (code === null || code === undefined) return "";
    const x = this.tables[table].get(code);
    if (!x) return String(code);
    if (variant === "public" && x.public) return lang === "en" ? x.public.en : x.public.zh;
    if (lang !== "en") return x.zh;
    if ((variant === "done" || variant === "public") && x.done) return x.done;
    return x.en;
  }

  isStatus(code: unknown): boolean {
    return typeof code === "string" && this.tables.status.has(code);
  }
  isOpen(status: string): boolean {
    return this.open.has(status);
  }
  isFinal(status: string): boolean {
    return this.final.has(status);
  }
  get statusCodes(): string[] {
    return this.doc.statuses.map((s) => s.code);
  }
  /** What the table lets `party` do in `status`, before the server's guards (which still decide: 422). */
  actionsFor(status: string, party: string): string[] {
    const out: string[] = [];
    for (const t of this.doc.transitions) {
      if (t.from === status && t.parties.includes(party) && !out.includes(t.action)) out.push(t.action);
    }
    return out;
  }
  /** Whether an action is one a person can send (not the worker's `create`, `merge`, `warn`...). */
  isCommand(action: string): boolean {
    const x = this.tables.action.get(action);
    return !!x && x.command === true;
  }
  /** Each account role's own page (dispatch.vocabulary.HOME_PAGE): where login lands and "forbidden" links. */
  homePage(role: string | null | undefined): string {
    const home = role ? this.tables.role.get(role)?.home : undefined;
    return typeof home === "string" && home ? home : "/login";
  }
}
