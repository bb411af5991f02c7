import { describe, expect, it } from "vitest";
import { CityTime, partsIn } from "./time";

const fixedNow = () => new Date("2026-11-30T02:00:00Z");

describe("CityTime", () => {
  it("shows a deadline in the city's zone whatever the browser's", () => {
    const t = new CityTime("Asia/Shanghai", "zh-CN", fixedNow);
    expect(t.time("2026-12-01T01:30:00Z")).toBe("09:30");
    expect(t.dateTime("2026-12-01T01:30:00Z")).toBe("12月1日 09:30");
    expect(new CityTime("UTC", "zh-CN", fixedNow).time("2026-12-01T01:30:00Z")).toBe("01:30");
  });
  it("crosses midnight by the city's calendar", () => {
    const t = new CityTime("Asia/Shanghai", "zh-CN", fixedNow);
    expect(t.date("2026-11-30T16:30:00Z")).toBe("12月1日");
    expect(t.date("2025-11-30T16:30:00Z")).toBe("2025年12月1日");
    expect(partsIn(new Date("2026-11-30T16:30:00Z"), "Asia/Shanghai").weekday).toBe(2);
    expect(t.dayHeading(new Date("2026-11-30T16:30:00Z"))).toBe("12月1日 星期二");
  });
  it("says durations in Chinese units", () => {
    const t = new CityTime("Asia/Shanghai", "zh-CN", fixedNow);
    expect(t.duration((15 * 60 + 23) * 60000)).toBe("15小时23分");
    expect(t.duration((2 * 1440 + 3 * 60 + 10) * 60000)).toBe("2天3小时");
    expect(t.duration(45 * 60000)).toBe("45分");
    expect(t.duration(20000)).toBe("不足1分");
    expect(t.duration(3 * 3600000)).toBe("3小时");
  });
  it("counts down and past a deadline", () => {
    const t = new CityTime("Asia/Shanghai", "zh-CN", fixedNow);
    expect(t.countdown("2026-11-30T05:05:00Z")).toMatchObject({ text: "剩余3小时5分", overdue: false });
    expect(t.countdown("2026-11-30T00:00:00Z")).toMatchObject({ text: "超时2小时", overdue: true });
    expect(t.countdown(null)).toBeNull();
  });
  it("speaks English when switched", () => {
    const t = new CityTime("Asia/Shanghai", "en", fixedNow);
    expect(t.dateTime("2026-12-01T01:30:00Z")).toBe("1 Dec 09:30");
    expect(t.duration((15 * 60 + 23) * 60000)).toBe("15 h 23 min");
    expect(t.countdown("2026-11-30T00:00:00Z")?.text).toBe("2 h overdue");
  });
  it("gives the city's date for queries", () => {
    expect(new CityTime("Asia/Shanghai", "zh-CN", fixedNow).isoDate(new Date("2026-11-30T17:00:00Z"))).toBe("2026-12-01");
  });
});
