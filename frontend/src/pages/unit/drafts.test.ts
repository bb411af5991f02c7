import { describe, expect, it } from "vitest";
import { Drafts, isBlank } from "./drafts";
import { actionBody, formsFor, problemOf } from "./forms";

class MemoryStorage {
  data: Record<string, string> = {};
  getItem(k: string) { return k in this.data ? this.data[k] : null; }
  setItem(k: string, v: string) { this.data[k] = v; }
  removeItem(k: string) { delete this.data[k]; }
}

describe("drafts", () => {
  it("are kept per ticket and action until cleared", () => {
    const d = new Drafts();
    d.get("A", "handle").note = "已清理一半";
    d.get("B", "handle").note = "另一件";
    expect(d.get("A", "handle").note).toBe("已清理一半");
    expect(d.get("A", "return").note).toBe("");
    expect([...d.ticketsWithDrafts()].sort()).toEqual(["A", "B"]);
    d.clear("A", "handle");
    expect(d.get("A", "handle").note).toBe("");
    expect([...d.ticketsWithDrafts()]).toEqual(["B"]);
  });
  it("survive a reload through the tab's storage (text only)", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    const d = new Drafts(storage, "k");
    Object.assign(d.get("A", "request_extension"), { note: "等配件", minutes: 480 });
    d.get("A", "handle").photos.push(new File(["x"], "a.jpg"));
    d.save();
    const again = new Drafts(storage, "k");
    expect(again.get("A", "request_extension")).toMatchObject({ note: "等配件", minutes: 480, park: false, photos: [] });
    expect(isBlank(again.get("A", "handle"))).toBe(true);
    again.clear("A", "request_extension");
    expect((storage as unknown as MemoryStorage).data).toEqual({});
  });
  it("ignore a damaged store", () => {
    const storage = new MemoryStorage();
    storage.setItem("k", "{not json");
    expect(new Drafts(storage as unknown as Storage, "k").entries).toEqual({});
  });
});

describe("forms", () => {
  it("are drawn for the actions the server allows, in the workflow's order", () => {
    expect(formsFor(["comment", "handle", "acknowledge", "escalate"])).toEqual(["acknowledge", "handle", "comment"]);
    expect(formsFor(undefined)).toEqual([]);
  });
  it("say what is missing and build the body", () => {
    const d = new Drafts().get("A", "request_extension");
    expect(problemOf("request_extension", d)).toBe("note");
    d.note = "  等配件 ";
    expect(problemOf("request_extension", d)).toBeNull();
    expect(actionBody("request_extension", 7, d)).toEqual({ action: "request_extension", version: 7, note: "等配件", minutes: 240 });
    d.park = true;
    expect(actionBody("request_extension", 7, d)).toEqual({ action: "request_extension", version: 7, note: "等配件", park: true });
    expect(actionBody("acknowledge", 2, d)).toEqual({ action: "acknowledge", version: 2 });
    expect(actionBody("handle", 3, { ...d, note: "好了" }, [{ sha256: "s" }]))
      .toEqual({ action: "handle", version: 3, note: "好了", attachments: [{ sha256: "s" }] });
  });
});
