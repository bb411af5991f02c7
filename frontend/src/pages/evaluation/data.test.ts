import { describe, expect, it } from "vitest";
import { boardOf, fromInclusive, lastDayOf, lastMonthPeriod, monthOf, monthPeriod, nextSort, percentText,
  periodFromQuery, sortRows, type EvalRow } from "./data";

const row = (code: string | null, rank: number | null, score: number | null, dispatched: number,
             onTime: number | null): EvalRow => ({ key: { code, name: code }, rank, score,
  counts: { dispatched }, rates: { on_time_rate: onTime } });

describe("periods", () => {
  it("months, last month across the year, ranges and the URL", () => {
    expect(monthPeriod("2026-11-30")).toEqual({ from: "2026-11-01", to: "2026-12-01" });
    expect(monthPeriod("2026-12")).toEqual({ from: "2026-12-01", to: "2027-01-01" });
    expect(lastMonthPeriod("2027-01-15")).toEqual({ from: "2026-12-01", to: "2027-01-01" });
    expect(monthOf({ from: "2026-09-01", to: "2026-10-01" })).toBe("2026-09");
    expect(monthOf({ from: "2026-09-01", to: "2026-09-15" })).toBeNull();
    expect(fromInclusive("2026-02-20", "2026-02-28")).toEqual({ from: "2026-02-20", to: "2026-03-01" });
    expect(lastDayOf({ from: "2024-02-01", to: "2024-03-01" })).toBe("2024-02-29");
    expect(periodFromQuery("?month=2026-09")).toEqual({ from: "2026-09-01", to: "2026-10-01" });
    expect(periodFromQuery("?from=2026-09-03&to=2026-09-10")).toEqual({ from: "2026-09-03", to: "2026-09-10" });
    expect(periodFromQuery("?month=2026-13")).toBeNull();
    expect(periodFromQuery("?from=2026-09-10&to=2026-09-03")).toBeNull();
  });
});

describe("figures", () => {
  it("percentages keep null as a dash", () => {
    expect(percentText(null)).toBe("—");
    expect(percentText(0)).toBe("0.0%");
    expect(percentText(0.55555)).toBe("55.6%");
    expect(percentText(1)).toBe("100.0%");
  });

  it("sorts by a column with the rows without a value last, and flips on a second click", () => {
    const rows = [row("a", 2, 70, 5, 0.5), row("b", 1, 90, 3, null), row(null, null, null, 1, 0.9)];
    expect(sortRows(rows, { column: "rank", descending: false }).map((r) => r.key.code)).toEqual(["b", "a", null]);
    expect(sortRows(rows, { column: "on_time_rate", descending: true }).map((r) => r.key.code)).toEqual([null, "a", "b"]);
    expect(sortRows(rows, { column: "dispatched", descending: false }).map((r) => r.key.code)).toEqual([null, "b", "a"]);
    const tied = [row("small", 1, 90, 2, 1), row("big", 1, 90, 40, 1), row("mid", 1, 90, 9, 1)];
    expect(sortRows(tied, { column: "rank", descending: false }).map((r) => r.key.code)).toEqual(["big", "mid", "small"]);
    expect(nextSort({ column: "rank", descending: false }, "rank")).toEqual({ column: "rank", descending: true });
    expect(nextSort({ column: "rank", descending: false }, "score")).toEqual({ column: "score", descending: true });
  });

  it("marks the boards' rows", () => {
    const rows = [row("a", 1, 90, 5, 1), row("b", 2, 50, 5, 0.5), row("c", null, null, 0, null)];
    const ev = { by: "unit", from: "", to: "", evaluated_at: "", rows, boards: { red: ["a"], black: ["b"] } };
    expect(rows.map((r) => boardOf(ev, r))).toEqual(["red", "black", null]);
  });
});
