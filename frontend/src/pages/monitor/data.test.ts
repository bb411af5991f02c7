import { describe, expect, it } from "vitest";
import {
  alarmList, chartOption, consoleLink, countShown, niceBounds, parseMap, passes, rangeParams, shownOf, worst,
} from "./data";

const answer = {
  fields: ["device_id", "kind", "lon", "lat", "status", "level", "ticket_no"],
  rows: [
    ["a", "gas", 125.1, 43.8, "normal", 0, null],
    ["b", "gas", 125.2, 43.8, "alarm", 1, "T-1"],
    ["c", "water", 125.3, 43.8, "alarm", 3, "T-2"],
    ["d", "water", 125.4, 43.8, "offline", 2, "T-3"],
    ["e", "gas", "x", 43.8, "normal", 0, null],
    ["f", "heating", 125.5, 43.9, "alarm", 2, null],
  ],
  truncated: false,
};

describe("monitor data", () => {
  it("reads the compact rows by their field names and skips unplaceable ones", () => {
    const devices = parseMap(answer);
    expect(devices.map((d) => d.device_id)).toEqual(["a", "b", "c", "d", "f"]);
    expect(devices[1]).toMatchObject({ kind: "gas", shown: "l1", ticket_no: "T-1" });
    expect(parseMap(null)).toEqual([]);
  });
  it("shows offline before its last level, and levels 1-3", () => {
    expect(shownOf("offline", 3)).toBe("offline");
    expect(shownOf("alarm", 2)).toBe("l2");
    expect(shownOf("alarm", 0)).toBe("normal");
    expect(shownOf("normal", 0)).toBe("normal");
  });
  it("counts, filters and orders the alarm list highest level first", () => {
    const devices = parseMap(answer);
    expect(countShown(devices)).toEqual({ normal: 1, l1: 1, l2: 1, l3: 1, offline: 1 });
    expect(alarmList(devices).map((d) => d.device_id)).toEqual(["c", "f", "b", "d"]);
    expect(devices.filter((d) => passes(d, { kind: "water", shown: [] })).map((d) => d.device_id)).toEqual(["c", "d"]);
    expect(devices.filter((d) => passes(d, { kind: "", shown: ["l3", "offline"] })).map((d) => d.device_id))
      .toEqual(["c", "d"]);
    expect(worst(["normal", "l1", "offline"])).toBe("l1");
    expect(worst(["normal"])).toBe("normal");
  });
  it("asks for the range before now and links to the console's ticket", () => {
    const now = new Date("2026-11-30T10:00:00Z");
    expect(rangeParams("1h", now).from).toBe("2026-11-30T09:00:00.000Z");
    expect(rangeParams("7d", now).from).toBe("2026-11-23T10:00:00.000Z");
    expect(consoleLink("YG 1")).toBe("/console#ticket=YG%201");
  });
  it("draws each threshold as a markLine in its level's colour and keeps them inside the axis", () => {
    const option = chartOption([{ at: "2026-11-30T09:00:00Z", value: 10 }, { at: "2026-11-30T09:01:00Z", value: 12 }],
      [{ level: 1, direction: "above", value: 50 }, { level: 3, direction: "above", value: 1000 }],
      { name: "ppm", label: (t) => `L${t.level} ${t.value}`, rem: 16, binned: false, timeText: String });
    const lines = (option.series[0].markLine as { data: Array<{ yAxis: number; name: string; lineStyle: { color: string } }> }).data;
    expect(lines.map((l) => [l.yAxis, l.name])).toEqual([[50, "L1 50"], [1000, "L3 1000"]]);
    expect(lines[1].lineStyle.color).toBe("#d62828");
    expect(option.yAxis.max).toBeGreaterThan(1000);
    expect(option.yAxis.min).toBe(0);
    expect(niceBounds(590, 900)).toEqual([550, 950]);
    expect(niceBounds(0.1, 0.36)).toEqual([0.05, 0.4]);
    expect(niceBounds(-5, 5)).toEqual([-10, 10]);
    const binned = chartOption([{ at: "2026-11-30T09:00:00Z", value: 10, min: 5, max: 20, n: 4 }], [],
      { name: "ppm", label: String, rem: 16, binned: true, timeText: String });
    expect(binned.series).toHaveLength(3);
  });
});
