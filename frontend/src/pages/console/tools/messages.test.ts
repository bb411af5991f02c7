import { describe, expect, it } from "vitest";
import messages from "./messages";

function keys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}

describe("the tools' texts", () => {
  it("have the same keys in both languages", () => {
    expect(keys(messages.en).sort()).toEqual(keys(messages["zh-CN"]).sort());
  });
  it("carry no English in the Chinese texts", () => {
    const zh = messages["zh-CN"] as Record<string, unknown>;
    for (const k of keys(zh)) {
      const value = k.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], zh) as string;
      expect(/[A-Za-z]{2,}/.test(value.replace(/\{[a-zA-Z]+\}/g, "")), `${k}: ${value}`).toBe(false);
    }
  });
});
