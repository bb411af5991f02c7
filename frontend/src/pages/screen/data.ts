// The wall screen's figures from the API's answers, as pure functions (tested in data.test.ts).
import type { Boards, EvalRow } from "@/shared/evaluation";

export type { EvalRow };
export interface Evaluation { rows: EvalRow[]; boards?: Boards }
export interface TrendDay { date: string; intake: Record<string, number>; intake_total: number; dispatched: number;
  closed: number; overdue: number }
export interface Live { open: number; pending: number; urgent: number; overdue: number; due_soon: number;
  opened_today: number; closed_today: number;
  districts: Array<{ code: string; name: string; open: number; overdue: number; due_soon: number }> }

/** [from, to) as YYYY-MM-DD for the `days` days ending with `today` (the city's date). */
export function lastDays(today: string, days: number): { from: string; to: string } {
  const end = new Date(`${today}T00:00:00Z`);
  const start = new Date(end.getTime() - (days - 1) * 86400000);
  const next = new Date(end.getTime() + 86400000);
  return { from: start.toISOString().slice(0, 10), to: next.toISOString().slice(0, 10) };
}

/** The categories with the most tickets, largest first, at most n (rows without a code are left out). */
export function topCategories(rows: EvalRow[], n = 10): Array<{ code: string; name: string; count: number }> {
  return rows
    .filter((r) => r.key.code && (r.counts.dispatched ?? 0) > 0)
    .map((r) => ({ code: r.key.code as string, name: r.key.name || (r.key.code as string), count: r.counts.dispatched }))
    .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code))
    .slice(0, n);
}

/** 红黑榜 rows: the evaluation's boards (codes) resolved to their rows, in board order. */
export function boardRows(evaluation: Evaluation | null): { red: EvalRow[]; black: EvalRow[] } {
  if (!evaluation) return { red: [], black: [] };
  const byCode = new Map(evaluation.rows.map((r) => [r.key.code, r]));
  const pick = (codes: (string | null)[] | undefined) =>
    (codes || []).map((c) => byCode.get(c)).filter((r): r is EvalRow => !!r);
  return { red: pick(evaluation.boards?.red), black: pick(evaluation.boards?.black) };
}

/** Rates as percentages with one decimal, null kept (no denominator: no figure rather than 0 %). */
export function percent(rate: number | null | undefined): number | null {
  return rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10;
}

/** A colour ramp for counts (0 → pale, max → deep red), for the heat layer. */
export function heatColour(count: number, max: number): string {
  if (!count || max <= 0) return "rgba(80, 120, 170, 0.15)";
  const share = Math.min(1, Math.sqrt(count / max));
  const stops = [[254, 224, 144], [253, 174, 97], [244, 109, 67], [215, 48, 39], [165, 0, 38]];
  const at = share * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(at));
  const f = at - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
