import { describe, expect, it } from "vitest";
import {
  emptyFilters, inCategory, overdue, passes, pendingQueue, queryKey, serverQuery, severity, sortTickets, stats,
  TicketStore, type Entry, type TicketItem,
} from "./tickets";
import messages from "./messages";

const FINAL = new Set(["closed", "rejected"]);
const isFinal = (s: string) => FINAL.has(s);
const NOW = Date.parse("2026-11-30T02:00:00Z");

function item(no: string, version: number, extra: Partial<TicketItem> = {}): TicketItem {
  return { ticket_no: no, version, status: "dispatched", updated_at: "2026-11-30T01:00:00Z", ...extra };
}

describe("severity", () => {
  it("follows deadline_state, and a passed deadline is red at once", () => {
    expect(severity(item("A", 1, { deadline_state: "green" }), NOW, isFinal)).toBe("green");
    expect(severity(item("A", 1, { deadline_state: "yellow" }), NOW, isFinal)).toBe("yellow");
    expect(severity(item("A", 1, { deadline_state: "green", deadline: "2026-11-30T01:59:00Z" }), NOW, isFinal)).toBe("red");
    expect(severity(item("A", 1, { status: "closed", deadline_state: "red" }), NOW, isFinal)).toBe("done");
    expect(severity(item("A", 1, { status: "pending", deadline_state: null }), NOW, isFinal)).toBe("pending");
    expect(severity(item("A", 1, { deadline_state: null, escalation_level: 2 }), NOW, isFinal)).toBe("open");
    expect(severity(item("A", 1, { escalation_level: 2 }), NOW, isFinal)).toBe("red"); // an old server
  });
});

describe("TicketStore", () => {
  it("applies each (ticket_no, version) once and never goes back to an older version", () => {
    const s = new TicketStore(isFinal);
    expect(s.ingest(item("A", 2, { description: "x" }), false, NOW).applied).toBe(true);
    expect(s.ingest(item("A", 2, { description: "x" }), true, NOW).applied).toBe(false);
    expect(s.ingest(item("A", 1, { status: "pending" }), true, NOW).applied).toBe(false);
    expect(s.get("A")!.status).toBe("dispatched");
    const r = s.ingest(item("A", 3, { status: "handled", event: "handle", at: "2026-11-30T01:30:00Z" }), true, NOW);
    expect(r.applied).toBe(true);
    expect(s.get("A")!.status).toBe("handled");
    expect(s.get("A")!.description).toBe("x"); // an event has no description: the earlier one stays
    expect(s.lastChange).toBe("2026-11-30T01:30:00Z");
  });
  it("fills in fields the other source carries for the same version", () => {
    const s = new TicketStore(isFinal);
    s.ingest(item("A", 1, { event: "created", at: "2026-11-30T01:00:00Z" }), true, NOW);
    const r = s.ingest(item("A", 1, { description: "路灯不亮" }), false, NOW);
    expect(r.applied).toBe(true);
    expect(s.get("A")!.description).toBe("路灯不亮");
  });
  it("says when a ticket turns red, and when the clock alone turns it", () => {
    const s = new TicketStore(isFinal);
    expect(s.ingest(item("A", 1, { deadline_state: "green", deadline: "2026-11-30T02:10:00Z" }), false, NOW).becameRed).toBe(false);
    expect(s.retick(NOW + 5 * 60000)).toEqual([]);
    const changed = s.retick(NOW + 11 * 60000);
    expect(changed.map((c) => [c.entry.ticket_no, c.becameRed])).toEqual([["A", true]]);
    expect(s.ingest(item("A", 2, { deadline_state: "red" }), true, NOW + 11 * 60000).becameRed).toBe(false);
  });
  it("evicts the oldest closed tickets first when full", () => {
    const s = new TicketStore(isFinal, 3);
    s.ingest(item("OLD", 1, { status: "closed", updated_at: "2026-11-01T00:00:00Z" }), false, NOW);
    s.ingest(item("NEWER", 1, { status: "closed", updated_at: "2026-11-20T00:00:00Z" }), false, NOW);
    s.ingest(item("OPEN", 1, { updated_at: "2026-10-01T00:00:00Z" }), false, NOW);
    const r = s.ingest(item("NEW", 1), false, NOW);
    expect(r.evicted).toEqual(["OLD"]);
    expect([...s.tickets.keys()].sort()).toEqual(["NEW", "NEWER", "OPEN"]);
  });
  it("ignores what is not a ticket", () => {
    const s = new TicketStore(isFinal);
    expect(s.ingest(null, true, NOW).applied).toBe(false);
    expect(s.ingest({ ticket_no: 5, version: 1 }, true, NOW).applied).toBe(false);
    expect(s.ingest({ ticket_no: "A" }, true, NOW).applied).toBe(false);
  });
});

function entries(...list: TicketItem[]): Entry[] {
  const s = new TicketStore(isFinal);
  for (const t of list) s.ingest(t, false, NOW);
  return s.all();
}

describe("filters and views", () => {
  const parents: Record<string, string> = { "020102": "0201", "0201": "02" };
  const parentOf = (c: string) => parents[c];
  const list = entries(
    item("A", 1, { category: "020102", area: { district: { code: "220102", name: "南关区" } }, channel: "public",
      address: "人民大街100号", deadline_state: "red", priority: "urgent" }),
    item("B", 1, { status: "pending", category: null, channel: "hotline", created_at: "2026-11-29T00:00:00Z" }),
    item("C", 1, { status: "closed", updated_at: "2026-11-30T01:00:00Z", channel: "grid", deadline_state: "yellow" }),
    item("D", 1, { status: "pending", created_at: "2026-11-28T00:00:00Z", deadline_state: "yellow" }),
  );
  const pass = (f: Partial<ReturnType<typeof emptyFilters>>) =>
    list.filter((t) => passes(t, { ...emptyFilters(), ...f }, parentOf)).map((t) => t.ticket_no).sort();

  it("match a category at any level of its tree", () => {
    expect(inCategory("020102", "02", parentOf)).toBe(true);
    expect(inCategory("020102", "03", parentOf)).toBe(false);
    expect(pass({ category: "0201" })).toEqual(["A"]);
  });
  it("narrow by status, district, source, urgency, light and text", () => {
    expect(pass({ status: "_open" })).toEqual(["A", "B", "D"]);
    expect(pass({ status: "pending" })).toEqual(["B", "D"]);
    expect(pass({ district: "220102" })).toEqual(["A"]);
    expect(pass({ channel: "hotline" })).toEqual(["B"]);
    expect(pass({ urgent: true })).toEqual(["A"]);
    expect(pass({ deadline: "late" })).toEqual(["A", "D"]);
    expect(pass({ text: "人民大街" })).toEqual(["A"]);
    expect(pass({ text: "南关" })).toEqual(["A"]);
  });
  it("order by urgency, queue the longest waiting first, count the header", () => {
    expect(sortTickets(list, "urgent").map((t) => t.ticket_no)).toEqual(["A", "D", "B", "C"]);
    expect(pendingQueue(list).map((t) => t.ticket_no)).toEqual(["D", "B"]);
    expect(overdue(list).map((t) => t.ticket_no)).toEqual(["A"]);
    const day = (iso: string) => iso.slice(0, 10);
    expect(stats(list, "2026-11-30", day)).toEqual({ open: 3, pending: 2, yellow: 1, red: 1, closedToday: 1 });
    expect(stats(list, "2026-12-01", day).closedToday).toBe(0);
  });
  it("send the server what it can filter, one cursor key per query", () => {
    expect(serverQuery({ ...emptyFilters(), status: "_open", text: "x", category: "02" })).toEqual({});
    expect(serverQuery({ ...emptyFilters(), status: "pending", district: "220102", deadline: "red" }))
      .toEqual({ status: "pending", district: "220102", deadline_state: "red" });
    expect(queryKey({ status: "a", district: "b" })).toBe(queryKey({ district: "b", status: "a" }));
  });
});

function keys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}

describe("the console's messages", () => {
  it("have the same keys in both languages and no English beside the Chinese", () => {
    expect(keys(messages.en).sort()).toEqual(keys(messages["zh-CN"]).sort());
    for (const k of keys(messages["zh-CN"])) {
      const value = k.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], messages["zh-CN"]) as string;
      expect(/[A-Za-z]{3,}/.test(value.replace(/\{[a-z]+\}/gi, "")), `${k}: ${value}`).toBe(false);
    }
  });
});
