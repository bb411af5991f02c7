import { describe, expect, it } from "vitest";
import messages from "./messages";

function keys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}

describe("the monitoring view's texts", () => {
  it("have the same keys in both languages and no English in the Chinese", () => {
    expect(keys(messages.en).sort()).toEqual(keys(messages["zh-CN"]).sort());
    for (const k of keys(messages["zh-CN"])) {
      const value = k.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], messages["zh-CN"]) as string;
      expect(/[A-Za-z]{3,}/.test(value.replace(/\{[a-z]+\}/g, "")), `${k}: ${value}`).toBe(false);
    }
  });
});
