import { describe, expect, it } from "vitest";
import { boardRows, heatColour, lastDays, percent, topCategories, type EvalRow } from "./data";

const row = (code: string | null, dispatched: number, rank: number | null = null): EvalRow => ({
  key: { code, name: code ? `n${code}` : null }, counts: { dispatched }, rates: {}, score: null, rank,
});

describe("wall screen data", () => {
  it("spans the last days by the city's date, across month ends", () => {
    expect(lastDays("2026-12-01", 7)).toEqual({ from: "2026-11-25", to: "2026-12-02" });
    expect(lastDays("2026-03-01", 30)).toEqual({ from: "2026-01-31", to: "2026-03-02" });
  });
  it("ranks categories by tickets and keeps ten", () => {
    const rows = [row(null, 50), row("020102", 3), row("010101", 9), row("030201", 0),
      ...Array.from({ length: 12 }, (_, i) => row(`0901${String(i).padStart(2, "0")}`, 1))];
    const top = topCategories(rows);
    expect(top).toHaveLength(10);
    expect(top[0]).toEqual({ code: "010101", name: "n010101", count: 9 });
    expect(top.map((t) => t.code)).not.toContain(null);
    expect(top.map((t) => t.code)).not.toContain("030201");
  });
  it("resolves the boards to rows in their order", () => {
    const rows = [row("A", 5, 1), row("B", 5, 2), row("C", 5, 3)];
    const b = boardRows({ rows, boards: { red: ["A"], black: ["C", "missing"] } });
    expect(b.red.map((r) => r.key.code)).toEqual(["A"]);
    expect(b.black.map((r) => r.key.code)).toEqual(["C"]);
    expect(boardRows(null)).toEqual({ red: [], black: [] });
  });
  it("keeps an undefined rate undefined", () => {
    expect(percent(null)).toBeNull();
    expect(percent(0.8765)).toBe(87.7);
  });
  it("colours heat from pale to deep", () => {
    expect(heatColour(0, 10)).toContain("rgba");
    expect(heatColour(10, 10)).toBe("rgb(165, 0, 38)");
    expect(heatColour(1, 100)).not.toBe(heatColour(50, 100));
  });
});
