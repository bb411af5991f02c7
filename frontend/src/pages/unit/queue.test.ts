import { describe, expect, it } from "vitest";
import { CityTime } from "@/shared/time";
import { Vocabulary, type VocabularyDocument } from "@/shared/vocabulary";
import { applyTicket, areaPath, assistParts, byDeadline, deadlineView, historyLines, partyOf, photosOf, type Ticket } from "./queue";

const QUEUE = ["dispatched", "acknowledged", "reopened", "suspended", "handled"];
const UNIT = "220102-SANITATION";
const now = () => new Date("2026-11-30T02:00:00Z"); // 10:00 in Changchun
const zh = new CityTime("Asia/Shanghai", "zh-CN", now);
const sha = "a".repeat(64);

function ticket(no: string, extra: Partial<Ticket> = {}): Ticket {
  return { ticket_no: no, status: "dispatched", version: 1, assignee: { code: UNIT }, assists: [], ...extra };
}

const vocab = new Vocabulary({
  schema: "vocabulary/1", roles: [], channels: [], statuses: [], open_statuses: [], final_statuses: [],
  with_unit_statuses: [], unit_queue_statuses: QUEUE, deadline_states: [], transitions: [],
  category_code: { level_digits: {}, subclass_digits: 2 },
  parties: [{ code: "system", zh: "系统", en: "System" }, { code: "lead", zh: "主办单位", en: "Lead unit" }],
  actions: [{ code: "handle", zh: "处置反馈", en: "Report handled", done: "Handled" },
    { code: "warn", zh: "预警", en: "Warn", done: "Warning" },
    { code: "request_extension", zh: "申请延期", en: "Request extension", done: "Extension requested" }],
} as unknown as VocabularyDocument);

describe("the queue", () => {
  it("holds the unit's tickets as lead or assisting unit", () => {
    expect(partyOf(ticket("A"), UNIT)).toBe("lead");
    expect(partyOf(ticket("A", { assignee: { code: "X" }, assists: [UNIT] }), UNIT)).toBe("assist");
    expect(partyOf(ticket("A", { assignee: { code: "X" } }), UNIT)).toBeNull();
  });
  it("takes live events: new, newer, older, and tickets that leave", () => {
    const q = new Map<string, Ticket>();
    expect(applyTicket(q, ticket("A", { address: "人民大街1号" }), UNIT, QUEUE)).toBe("added");
    expect(applyTicket(q, { ticket_no: "A", status: "acknowledged", version: 3 }, UNIT, QUEUE)).toBe("updated");
    expect(q.get("A")).toMatchObject({ status: "acknowledged", version: 3, address: "人民大街1号" });
    expect(applyTicket(q, { ticket_no: "A", status: "dispatched", version: 2 }, UNIT, QUEUE)).toBe("stale");
    expect(q.get("A")!.status).toBe("acknowledged");
    expect(applyTicket(q, { ticket_no: "A", status: "returned", version: 4 }, UNIT, QUEUE)).toBe("removed");
    expect(q.has("A")).toBe(false);
    expect(applyTicket(q, ticket("B", { assignee: { code: "OTHER" }, version: 2 }), UNIT, QUEUE)).toBe("ignored");
    applyTicket(q, ticket("C"), UNIT, QUEUE);
    expect(applyTicket(q, { ticket_no: "C", version: 2, assignee: { code: "OTHER" }, assists: [] }, UNIT, QUEUE)).toBe("removed");
  });
  it("orders by deadline, tickets without one last", () => {
    const list = [ticket("C"), ticket("B", { deadline: "2026-11-30T05:00:00Z" }), ticket("A", { deadline: "2026-11-30T03:00:00Z" })];
    expect(list.sort(byDeadline).map((x) => x.ticket_no)).toEqual(["A", "B", "C"]);
  });
});

describe("what a ticket shows", () => {
  it("counts down in Chinese, coloured by the deadline light", () => {
    expect(deadlineView({ deadline: "2026-11-30T05:05:00Z", deadline_state: "green" }, zh))
      .toMatchObject({ text: "剩余3小时5分", tone: "green", at: "11月30日 13:05" });
    expect(deadlineView({ deadline: "2026-11-30T00:00:00Z", deadline_state: "yellow" }, zh))
      .toMatchObject({ text: "超时2小时", tone: "red", overdue: true });
    expect(deadlineView({ deadline: null, deadline_state: null }, zh)).toBeNull();
    expect(deadlineView({ deadline: "2026-11-30T05:05:00Z" }, new CityTime("Asia/Shanghai", "en", now))?.text)
      .toBe("3 h 5 min left");
  });
  it("names the area from district down to grid", () => {
    expect(areaPath({ area: { district: { code: "220102", name: "南关区" }, street: { code: "1", name: "永吉街道" },
      community: null, grid: { code: "g", name: "第3网格" } } })).toEqual(["南关区", "永吉街道", "第3网格"]);
    expect(areaPath({ area: null })).toEqual([]);
  });
  it("shows stored photos only", () => {
    const p = photosOf({
      reports: [{ channel: "public", report_id: "r", reported_at: "", attachments: [{ url: `/media/${sha}` }, { url: "javascript:x" }] }],
      history: [{ at: "", actor: "x", role: "department", action: "handle", data: { attachments: [{ url: `/media/${sha}` }] } }],
    });
    expect(p.reported).toHaveLength(1);
    expect(p.handled).toEqual([{ url: `/media/${sha}` }]);
  });
  it("says the history in words, the system's notes apart", () => {
    const lines = historyLines({ history: [
      { at: "2026-11-30T01:00:00Z", actor: "worker", role: "system", party: "system", action: "warn", note: "deadline near" },
      { at: "2026-11-30T01:30:00Z", actor: "nanguan", role: "department", party: "lead", action: "request_extension",
        note: "等待配件", data: { minutes: 240 } },
    ] }, vocab, "zh-CN", zh, (c) => c, { park: "挂账", part: (u) => `${u}的部分`, extension: (s) => `延期${s}` });
    expect(lines[0]).toMatchObject({ action: "预警", who: "系统", note: "", systemNote: "deadline near", system: true });
    expect(lines[1]).toMatchObject({ action: "申请延期", who: "nanguan · 主办单位", note: "等待配件", detail: "延期4小时",
      at: "11月30日 09:30" });
  });
  it("tells where each assisting unit stands", () => {
    expect(assistParts({ assists: ["U1", "U2", "U3"], history: [
      { at: "", actor: "a", role: "department", action: "acknowledge", data: { part: "U1" } },
      { at: "", actor: "a", role: "department", action: "acknowledge", data: { part: "U2" } },
      { at: "", actor: "a", role: "department", action: "handle", data: { part: "U2" } },
    ] })).toEqual([{ unit: "U1", stage: "acknowledged" }, { unit: "U2", stage: "handled" }, { unit: "U3", stage: "waiting" }]);
  });
});
