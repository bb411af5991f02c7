import { describe, expect, it } from "vitest";
import { raisedLevel, urgentReason, UrgentStack } from "./urgent";

describe("urgent alerts", () => {
  it("alerts on an urgent ticket created or first seen, checks a lifeline note, ignores the rest", () => {
    expect(urgentReason({ ticket_no: "A", event: "created", priority: "urgent" }, false)).toBe("new");
    expect(urgentReason({ ticket_no: "A", event: "created", priority: "urgent" }, true)).toBe("new");
    expect(urgentReason({ ticket_no: "A", event: "dispatch", priority: "urgent" }, false)).toBe("new");
    expect(urgentReason({ ticket_no: "A", event: "dispatch", priority: "urgent" }, true)).toBeNull();
    expect(urgentReason({ ticket_no: "A", event: "comment", priority: "urgent", channel: "sensor" }, true)).toBe("check");
    expect(urgentReason({ ticket_no: "A", event: "comment", priority: "urgent", channel: "hotline" }, true)).toBeNull();
    expect(urgentReason({ ticket_no: "A", event: "created", priority: "normal" }, false)).toBeNull();
    expect(urgentReason({ event: "created", priority: "urgent" }, false)).toBeNull();
  });
  it("reads a raise from the entries written with the event", () => {
    const at = "2026-11-30T10:00:00+00:00";
    const raise = { at: "2026-11-30T10:00:00Z", action: "comment", note: "升级 raised to level 2: ppm 250 above 200" };
    expect(raisedLevel([raise], at)).toBe(2);
    expect(raisedLevel([raise, { at: "2026-11-30T10:00:00Z", action: "comment", note: "level 1 cleared" }], at)).toBe(2);
    expect(raisedLevel([{ ...raise, at: "2026-11-30T09:00:00Z" }], at)).toBeNull();
    expect(raisedLevel([{ at, action: "comment", note: "cleared" }], at)).toBeNull();
    expect(raisedLevel([{ at, action: "dispatch", note: null }], at)).toBeNull();
    expect(raisedLevel([], at)).toBeNull();
  });
  it("stacks one alert per ticket, newest first, until acknowledged", () => {
    const s = new UrgentStack();
    expect(s.add("A", "new", null, 1)).toBe(true);
    expect(s.add("B", "new", null, 2)).toBe(true);
    expect(s.add("A", "new", null, 3)).toBe(false);
    expect(s.add("A", "raised", 2, 4)).toBe(true);
    expect(s.items.map((a) => a.no)).toEqual(["A", "B"]);
    s.ack("A");
    expect(s.has("A")).toBe(false);
    expect(s.items.map((a) => a.no)).toEqual(["B"]);
    s.ackAll();
    expect(s.items).toEqual([]);
  });
});
