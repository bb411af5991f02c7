// The evaluation page's figures from the API's answers, as pure functions (data.test.ts): periods, sorting,
// percentages and the 红黑榜 marks. The page itself only fetches and renders.
import type { Boards, EvalRow } from "@/shared/evaluation";

export type { EvalRow };
export interface Evaluation {
  by: string; from: string; to: string; evaluated_at: string;
  rows: EvalRow[]; boards?: Boards; min_dispatched?: number;
  formulas?: Record<string, string>; weights?: Record<string, number>;
}
export interface CaseItem {
  ticket_no: string; status: string; category?: string | null; lead_unit?: string | null;
  first_dispatched_at?: string | null; deadline?: string | null; address?: string | null;
  [key: string]: unknown;
}
export interface CasePage { total: number; items: CaseItem[]; next_cursor: string | null }

// The contract's order (§8), as the API's COUNTS and RATES.
export const COUNTS = ["dispatched", "acknowledged_on_time", "handled", "handled_on_time", "overdue", "reworked",
  "returned", "extended", "closed"] as const;
export const RATES = ["on_time_rate", "close_rate", "ack_rate", "overdue_rate", "rework_rate", "return_rate",
  "extension_rate"] as const;
// A rate's numerator (dispatch/kpi.py RATES): a click on a rate lists the cases it counts.
export const RATE_NUMERATOR: Record<string, string> = {
  on_time_rate: "handled_on_time", close_rate: "closed", ack_rate: "acknowledged_on_time", overdue_rate: "overdue",
  rework_rate: "reworked", return_rate: "returned", extension_rate: "extended",
};
export const BREAKDOWNS = ["unit", "district", "street", "community", "grid", "category"] as const;
export const NO_KEY = "none"; // the API's key of the row without one

export interface Period { from: string; to: string } // YYYY-MM-DD, `to` exclusive

/** The month of `day` (YYYY-MM-DD or YYYY-MM) as [first, first of next). */
export function monthPeriod(day: string): Period {
  const [y, m] = day.split("-").map(Number);
  const next = m === 12 ? [y + 1, 1] : [y, m + 1];
  return { from: `${y}-${pad(m)}-01`, to: `${next[0]}-${pad(next[1])}-01` };
}

/** The month before the month of `day`. */
export function lastMonthPeriod(day: string): Period {
  const [y, m] = day.split("-").map(Number);
  return monthPeriod(m === 1 ? `${y - 1}-12` : `${y}-${pad(m - 1)}`);
}

/** [from, to) as a whole month's YYYY-MM, or null when it is another span. */
export function monthOf(period: Period): string | null {
  const p = monthPeriod(period.from);
  return p.from === period.from && p.to === period.to ? period.from.slice(0, 7) : null;
}

/** An inclusive pair of days (a date-range picker's) as [from, to) and back. */
export function fromInclusive(first: string, last: string): Period {
  return { from: first, to: addDays(last, 1) };
}
export function lastDayOf(period: Period): string {
  return addDays(period.to, -1);
}

export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  return new Date(d.getTime() + n * 86400000).toISOString().slice(0, 10);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The period a URL asks for (?month=YYYY-MM, or ?from=&to=), else null. */
export function periodFromQuery(search: string): Period | null {
  const q = new URLSearchParams(search);
  const month = q.get("month");
  if (month && /^\d{4}-(0[1-9]|1[0-2])$/.test(month)) return monthPeriod(month);
  const from = q.get("from"), to = q.get("to");
  if (from && to && DAY.test(from) && DAY.test(to) && from < to) return { from, to };
  return null;
}

/** Rates as percentages with one decimal; null (no denominator) shown as — rather than 0 %. */
export function percentText(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;
}

export function scoreText(score: number | null | undefined): string {
  return score === null || score === undefined ? "—" : score.toFixed(2);
}

export type SortKey = { column: string; descending: boolean };

/** The value a column sorts by: `rank`, `score`, `name`, a count or a rate. */
function valueOf(row: EvalRow, column: string): number | string | null {
  if (column === "rank") return row.rank;
  if (column === "score") return row.score;
  if (column === "name") return row.key.name || row.key.code || "";
  if (column in row.counts) return row.counts[column];
  if (column in row.rates) return row.rates[column];
  return null;
}

/** Rows sorted by one column; rows without a value (no rank, a null rate) always last; ties by rank, then the
 *  row with more tickets first (as the API orders rows and fills the 红黑榜, dispatch.kpi.board_order), then code. */
export function sortRows(rows: EvalRow[], sort: SortKey): EvalRow[] {
  const sign = sort.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = valueOf(a, sort.column), y = valueOf(b, sort.column);
    if (x === null && y !== null) return 1;
    if (y === null && x !== null) return -1;
    if (x !== null && y !== null && x !== y) {
      const c = typeof x === "string" ? String(x).localeCompare(String(y), "zh-CN") : (x as number) - (y as number);
      if (c) return sign * c;
    }
    return (a.rank ?? Infinity) - (b.rank ?? Infinity) || b.counts.dispatched - a.counts.dispatched
      || (a.key.code || "").localeCompare(b.key.code || "");
  });
}

/** The sort after a click on a column: the same column flips, another starts with its natural direction. */
export function nextSort(current: SortKey, column: string): SortKey {
  if (current.column === column) return { column, descending: !current.descending };
  return { column, descending: !(column === "rank" || column === "name") };
}

/** 红榜/黑榜 of a row: "red", "black" or null (the boards list row codes; null is the row without a key). */
export function boardOf(evaluation: Evaluation | null, row: EvalRow): "red" | "black" | null {
  if (!evaluation?.boards || row.rank === null) return null;
  if (evaluation.boards.red.includes(row.key.code)) return "red";
  if (evaluation.boards.black.includes(row.key.code)) return "black";
  return null;
}

/** The key the cases API takes for a row. */
export function keyOf(row: EvalRow): string {
  return row.key.code ?? NO_KEY;
}
