import { describe, expect, it } from "vitest";
import {
  areaPath, bodyOf, callEnvelope, callKey, callProblems, emptyCall, emptyDraft, groupCategories, groupUnits,
  geocodeCandidates, hotlineReportId, mergeTargets, categoriesDiffer, levelsFrom, missingFields, needsOf, ruleText, stepsOf, suggestedUnit, distanceText, excerpt,
  type Category, type RankedUnit, type TicketLike,
} from "./logic";

const ticket = (over: Partial<TicketLike> = {}): TicketLike => ({
  ticket_no: "CC20261201-00001", version: 3, status: "pending", category: null, escalation_level: 0,
  assignee: null, assists: [], ...over,
});

describe("what an action asks for", () => {
  it("needs a note exactly where the domain does (and a person's escalate)", () => {
    for (const a of ["reject", "return", "fail_verify", "request_extension", "deny_extension", "comment", "split",
      "reassign", "escalate"]) expect(needsOf(a).note).toBe("required");
    for (const a of ["dispatch", "close", "register", "locate", "add_assist", "confirm_area"]) expect(needsOf(a).note).toBe("optional");
  });
  it("asks a unit for dispatch, reassign, add_assist and 立案并派遣", () => {
    expect(["dispatch", "reassign", "add_assist", "register_dispatch"].every((a) => needsOf(a).unit)).toBe(true);
    expect(needsOf("close").unit).toBe(false);
  });
  it("requires a category to register only when the ticket has none", () => {
    expect(needsOf("register", { category: null }).category).toBe("required");
    expect(needsOf("register", { category: "01010101" }).category).toBe("optional");
    expect(needsOf("preregister", { category: null }).category).toBe("optional");
    expect(needsOf("dispatch").category).toBe(false);
  });
  it("posts 立案并派遣 as register then dispatch", () => {
    expect(stepsOf("register_dispatch")).toEqual(["register", "dispatch"]);
    expect(stepsOf("close")).toEqual(["close"]);
  });
});

describe("missing fields", () => {
  it("names the unit, note and category", () => {
    expect(missingFields("register_dispatch", ticket(), emptyDraft())).toEqual(["category", "to_unit"]);
    expect(missingFields("reassign", ticket({ status: "dispatched" }), emptyDraft())).toEqual(["to_unit", "note"]);
  });
  it("refuses the same unit for a reassign and an assist that already assists", () => {
    const t = ticket({ assignee: { code: "U1" }, assists: ["U2"] });
    expect(missingFields("reassign", t, { ...emptyDraft(), to_unit: "U1", note: "x" })).toEqual(["to_unit"]);
    expect(missingFields("add_assist", t, { ...emptyDraft(), to_unit: "U2" })).toEqual(["to_unit"]);
    expect(missingFields("add_assist", t, { ...emptyDraft(), to_unit: "U3" })).toEqual([]);
  });
  it("holds a cross-district unit until the operator confirms", () => {
    const d = { ...emptyDraft(), to_unit: "U9", note: "wrong district" };
    expect(missingFields("reassign", ticket(), d, true)).toEqual(["cross_district"]);
    expect(missingFields("reassign", ticket(), { ...d, crossConfirmed: true }, true)).toEqual([]);
    expect(missingFields("reassign", ticket(), d, false)).toEqual([]);
  });
  it("asks an extension's length unless parked; approving may take the asked length", () => {
    expect(missingFields("request_extension", ticket(), { ...emptyDraft(), note: "x" })).toEqual(["minutes"]);
    expect(missingFields("request_extension", ticket(), { ...emptyDraft(), note: "x", park: true })).toEqual([]);
    expect(missingFields("approve_extension", ticket(), emptyDraft())).toEqual([]);
    expect(missingFields("approve_extension", ticket(), { ...emptyDraft(), hours: 0 })).toEqual(["minutes"]);
  });
  it("wants a point to locate and a report to split", () => {
    expect(missingFields("locate", ticket(), emptyDraft())).toEqual(["location"]);
    expect(missingFields("split", ticket(), { ...emptyDraft(), note: "x" })).toEqual(["report"]);
  });
  it("refuses a level at or below the ticket's rung", () => {
    const t = ticket({ escalation_level: 2 });
    expect(levelsFrom(2)).toEqual([3]);
    expect(levelsFrom(3)).toEqual([]);
    expect(missingFields("escalate", t, { ...emptyDraft(), note: "slow", level: 1 })).toEqual(["level"]);
    expect(missingFields("escalate", t, { ...emptyDraft(), note: "slow", level: 3 })).toEqual([]);
    expect(missingFields("escalate", t, { ...emptyDraft(), note: "slow" })).toEqual([]);
  });
});

describe("the body posted", () => {
  const d = { ...emptyDraft(), note: "  why  ", to_unit: "U1", category: "01010101", level: 2, hours: 1.5, report: "hotline/H-1",
    lon: 125.1234567, lat: 43.7654321 };
  it("carries only what each step takes", () => {
    expect(bodyOf("register", 3, d)).toEqual({ action: "register", version: 3, note: "why", category: "01010101" });
    expect(bodyOf("dispatch", 4, d)).toEqual({ action: "dispatch", version: 4, note: "why", to_unit: "U1" });
    expect(bodyOf("escalate", 4, d)).toEqual({ action: "escalate", version: 4, note: "why", level: 2 });
    expect(bodyOf("request_extension", 4, d)).toEqual({ action: "request_extension", version: 4, note: "why", minutes: 90 });
    expect(bodyOf("request_extension", 4, { ...d, park: true })).toMatchObject({ park: true });
    expect(bodyOf("request_extension", 4, { ...d, park: true })).not.toHaveProperty("minutes");
    expect(bodyOf("split", 4, d)).toEqual({ action: "split", version: 4, note: "why", report: "hotline/H-1" });
    expect(bodyOf("locate", 4, d)).toEqual({ action: "locate", version: 4, note: "why", location: { lon: 125.123457, lat: 43.765432 } });
    expect(bodyOf("close", 4, emptyDraft())).toEqual({ action: "close", version: 4 });
  });
});

describe("areas and units", () => {
  it("writes an area path and skips missing levels", () => {
    expect(areaPath({ district: { code: "1", name: "南关区" }, street: null, community: { code: "3", name: "某社区" }, grid: null }))
      .toBe("南关区 / 某社区");
    expect(areaPath(null)).toBe("");
  });
  it("finds the unit the last 定位 suggested", () => {
    expect(suggestedUnit(ticket({ history: [{ action: "create" }, { action: "locate", data: { suggested_unit: "U7" } }] }))).toBe("U7");
    expect(suggestedUnit(ticket({ history: [{ action: "create" }] }))).toBeNull();
  });
  const units: RankedUnit[] = [
    { code: "D1", name: "南关区城管局", level: "district", district: { code: "220102", name: "南关区" }, reason: "duty", rule: "道路", cross_district: false },
    { code: "D2", name: "南关区水务", level: "district", district: { code: "220102", name: "南关区" }, reason: "district", rule: null, cross_district: false },
    { code: "X1", name: "朝阳区城管局", level: "district", district: { code: "220104", name: "朝阳区" }, reason: "other", rule: null, cross_district: true },
  ];
  it("groups ranked units by reason in order and filters by name or code", () => {
    expect(groupUnits(units, "").map((g) => g.reason)).toEqual(["duty", "district", "other"]);
    expect(groupUnits(units, "城管").map((g) => g.units.map((u) => u.code))).toEqual([["D1"], ["X1"]]);
    expect(groupUnits(units, "x1")[0].units[0].code).toBe("X1");
  });
  it("hides the built-in fallback rules", () => {
    expect(ruleText("category-default:street_office")).toBeNull();
    expect(ruleText("district-default")).toBeNull();
    expect(ruleText("主干道保洁")).toBe("主干道保洁");
  });
});

describe("categories", () => {
  const all: Category[] = [
    { code: "01", name: "市容环境", parent: null, level: "root" },
    { code: "0101", name: "环境卫生", parent: "01", level: "class" },
    { code: "01010101", name: "暴露垃圾", parent: "0101", level: "subclass" },
    { code: "01010102", name: "积存垃圾渣土", parent: "0101", level: "subclass" },
    { code: "0102", name: "道路", parent: "01", level: "class" },
    { code: "01020101", name: "道路破损", parent: "0102", level: "subclass" },
  ];
  it("lists 小类 under their 大类 and searches name, code and 大类", () => {
    expect(groupCategories(all).map((g) => [g.name, g.items.length])).toEqual([["环境卫生", 2], ["道路", 1]]);
    expect(groupCategories(all, "垃圾").flatMap((g) => g.items.map((c) => c.code))).toEqual(["01010101", "01010102"]);
    expect(groupCategories(all, "0102").flatMap((g) => g.items.map((c) => c.code))).toEqual(["01020101"]);
    expect(groupCategories(all, "道路").flatMap((g) => g.items.map((c) => c.code))).toEqual(["01020101"]);
  });
});

describe("来电登记", () => {
  it("makes report ids H-<date>-<8 readable characters>", () => {
    const id = hotlineReportId("2026-12-01");
    expect(id).toMatch(/^H-20261201-[2-9A-HJ-NP-Z]{8}$/);
    expect(hotlineReportId("2026-12-01", () => 0)).toBe("H-20261201-22222222");
    expect(new Set(Array.from({ length: 200 }, () => hotlineReportId("2026-12-01"))).size).toBe(200);
  });
  it("needs an address or a point, a description or category, and a phone that looks like one", () => {
    expect(callProblems(emptyCall())).toEqual(["address", "description"]);
    expect(callProblems({ ...emptyCall(), lon: 125.3, lat: 43.8, category: "01010101", phone: "abc" })).toEqual(["phone"]);
    expect(callProblems({ ...emptyCall(), address: "人民大街1号", description: "井盖丢了", phone: "0431-8888 1234" })).toEqual([]);
  });
  it("puts the caller only in reporter and leaves out what is empty", () => {
    const env = callEnvelope({ ...emptyCall(), name: " 王女士 ", phone: "13800000000", address: "人民大街", description: "路灯不亮",
      lon: 125.3, lat: 43.8, category: "" }, "H-20261201-ABCDEFGH", "2026-12-01T01:00:00Z");
    expect(env).toEqual({ schema: "report/1", report_id: "H-20261201-ABCDEFGH", channel: "hotline", reported_at: "2026-12-01T01:00:00Z",
      description: "路灯不亮", address: "人民大街", location: { lon: 125.3, lat: 43.8 }, reporter: { name: "王女士", phone: "13800000000" } });
    expect(callEnvelope({ ...emptyCall(), address: "x" }, "H", "t")).not.toHaveProperty("reporter");
    expect(JSON.stringify(env)).not.toContain("priority");
  });
  it("keeps the report id for the same content only", () => {
    const a = { ...emptyCall(), address: "人民大街", description: "x" };
    expect(callKey(a)).toBe(callKey({ ...a, description: "x " }));
    expect(callKey(a)).not.toBe(callKey({ ...a, description: "y" }));
  });
  it("says distances and excerpts shortly", () => {
    expect(distanceText(123.4, "zh-CN")).toBe("123米");
    expect(distanceText(1530, "en")).toBe("1.5 km");
    expect(excerpt("a\n b", 10)).toBe("a b");
    expect(excerpt("x".repeat(50), 10)).toBe("xxxxxxxxxx…");
  });
});

describe("geocode candidates", () => {
  it("offers the gazetteer's candidates of an address-only ticket", () => {
    const routing = { method: "manual", geocode: { address: "南湖公园西门", confident: false, candidates: [
      { name: "南湖公园", kind: "landmark", score: 0.7, lon: 125.3, lat: 43.85 }, { name: "bad", kind: "road" }] } };
    expect(geocodeCandidates({ routing })).toEqual([{ name: "南湖公园", kind: "landmark", lon: 125.3, lat: 43.85 }]);
    expect(geocodeCandidates({ routing: null })).toEqual([]);
    expect(geocodeCandidates({ routing: { geocode: { candidates: "x" } } })).toEqual([]);
  });
});

describe("合并 (merge_into)", () => {
  const a = ticket({ ticket_no: "CC20261201-00001", category: "01010101", status: "dispatched" });
  it("asks for the target ticket, with an optional reason", () => {
    const n = needsOf("merge_into");
    expect(n.into).toBe(true);
    expect(n.note).toBe("optional");
    expect(needsOf("split").into).toBe(false);
  });
  it("misses `into` when nothing or the ticket itself is given", () => {
    expect(missingFields("merge_into", a, emptyDraft())).toEqual(["into"]);
    expect(missingFields("merge_into", a, { ...emptyDraft(), into: "  CC20261201-00001 " })).toEqual(["into"]);
    expect(missingFields("merge_into", a, { ...emptyDraft(), into: "CC20261201-00002" })).toEqual([]);
  });
  it("posts the number trimmed, and only for merge_into", () => {
    const d = { ...emptyDraft(), into: " CC20261201-00002 ", note: "重复上报" };
    expect(bodyOf("merge_into", 4, d)).toEqual({ action: "merge_into", version: 4, into: "CC20261201-00002", note: "重复上报" });
    expect(bodyOf("comment", 4, d)).toEqual({ action: "comment", version: 4, note: "重复上报" });
  });
  it("offers nearby open tickets but itself, the same 小类 first, then the nearest", () => {
    const items = [
      { ...ticket({ ticket_no: "X-far-same", category: "01010101" }), distance_m: 300 },
      { ...ticket({ ticket_no: "X-near-other", category: "02020202" }), distance_m: 20 },
      { ...ticket({ ticket_no: "CC20261201-00001", category: "01010101" }), distance_m: 0 },
      { ...ticket({ ticket_no: "X-near-same", category: "01010101" }), distance_m: 40 },
      { ...ticket({ ticket_no: "X-closed", category: "01010101", status: "closed" }), distance_m: 5 },
    ];
    expect(mergeTargets(items, a).map((t) => t.ticket_no)).toEqual(["X-near-same", "X-far-same", "X-near-other"]);
    expect(mergeTargets(items, { ticket_no: "none", category: null }).map((t) => t.ticket_no))
      .toEqual(["CC20261201-00001", "X-near-other", "X-near-same", "X-far-same"]);
  });
  it("tells when the two 小类 differ (a missing one counts as different)", () => {
    expect(categoriesDiffer(a, { category: "01010101" })).toBe(false);
    expect(categoriesDiffer(a, { category: "02020202" })).toBe(true);
    expect(categoriesDiffer(a, { category: null })).toBe(true);
    expect(categoriesDiffer({ category: null }, { category: undefined })).toBe(false);
  });
});
