import { describe, expect, it } from "vitest";
import { BUTTONS, buttonsFor, isDirect } from "./actions";

const command = (a: string) => a !== "merge" && a !== "create";

describe("the action buttons", () => {
  it("keep their fixed order and enable only what the ticket's actions allow", () => {
    const b = buttonsFor({ status: "dispatched" }, ["reassign", "escalate", "comment", "locate"], command);
    expect(b.map((x) => x.action)).toEqual(["dispatch", "reassign", "add_assist", "locate", "escalate", "reject", "comment"]);
    expect(b.filter((x) => x.enabled).map((x) => x.action)).toEqual(["reassign", "locate", "escalate", "comment"]);
    const order = b.map((x) => BUTTONS.indexOf(x.action as (typeof BUTTONS)[number]));
    expect([...order].sort((x, y) => x - y)).toEqual(order);
  });
  it("offer 立案并派遣 on a pending ticket that may be registered, and add unknown commands last", () => {
    const b = buttonsFor({ status: "pending" }, ["register", "preregister", "reject", "future_action"], command);
    expect(b[0]).toMatchObject({ action: "register_dispatch", enabled: true, kind: "primary" });
    expect(b[b.length - 1]).toMatchObject({ action: "future_action", enabled: true });
    expect(buttonsFor({ status: "registered" }, ["register"], command).some((x) => x.action === "register_dispatch")).toBe(false);
  });
  it("post at once only what needs nothing typed", () => {
    expect(isDirect("close", { status: "verified" })).toBe(true);
    expect(isDirect("confirm_area", { status: "dispatched" })).toBe(true);
    expect(isDirect("preregister", { status: "pending", category: "020102" })).toBe(true);
    expect(isDirect("preregister", { status: "pending", category: null })).toBe(false);
    expect(isDirect("comment", { status: "dispatched" })).toBe(false);
    expect(isDirect("dispatch", { status: "registered" })).toBe(false);
  });
});
