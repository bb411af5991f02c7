import { describe, expect, it } from "vitest";
import phone from "./messages";
import grid from "@/pages/grid/messages";
import report from "@/pages/report/messages";
import track from "@/pages/track/messages";
import { newReportId, SentList, summaryOf } from "./sent";
import { searchCategories } from "./categories";

function keys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}
function value(o: Record<string, unknown>, key: string): string {
  return key.split(".").reduce<unknown>((x, p) => (x as Record<string, unknown>)[p], o) as string;
}

describe("the phone pages' texts", () => {
  for (const [name, m] of Object.entries({ phone, grid, report, track })) {
    it(`${name}: the same keys in both languages, no English in the Chinese`, () => {
      expect(keys(m.en).sort()).toEqual(keys(m["zh-CN"]).sort());
      for (const k of keys(m["zh-CN"])) {
        const v = value(m["zh-CN"], k).replace(/\{[a-z]+\}/g, "");
        expect(/[A-Za-z]{3,}/.test(v), `${k}: ${v}`).toBe(false);
      }
    });
  }
});

describe("my reports", () => {
  it("keeps the newest first, once each, at most fifty", () => {
    const data = new Map<string, string>();
    const storage = { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v) };
    const list = new SentList("k", storage);
    for (let i = 0; i < 60; i++) list.add({ report_id: `R${i}`, channel: "public", at: i, summary: "" });
    list.add({ report_id: "R55", channel: "public", at: 99, summary: "again" });
    const kept = list.list();
    expect(kept).toHaveLength(50);
    expect(kept[0]).toMatchObject({ report_id: "R55", summary: "again" });
    expect(kept.filter((x) => x.report_id === "R55")).toHaveLength(1);
  });
  it("makes unguessable numbers with the date", () => {
    const id = newReportId("R", new Date("2026-11-30T12:00:00Z"), (b) => b.fill(0xab));
    expect(id).toBe("R261130-ABABABABABAB");
    expect(newReportId("G")).toMatch(/^G\d{6}-[0-9A-F]{12}$/);
    expect(summaryOf("  路边  垃圾\n堆放  ", 4)).toBe("路边 垃…");
  });
  it("finds categories by name words or code", () => {
    const cats = [{ code: "020102", name: "暴露垃圾" }, { code: "010101", name: "井盖破损" }, { code: "020103", name: "垃圾满溢" }];
    expect(searchCategories(cats, "垃圾").map((c) => c.code)).toEqual(["020102", "020103"]);
    expect(searchCategories(cats, "0101").map((c) => c.code)).toEqual(["010101"]);
    expect(searchCategories(cats, "")).toHaveLength(3);
  });
});
