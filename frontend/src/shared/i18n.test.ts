import { describe, expect, it } from "vitest";
import zh from "@/locales/zh-CN";
import en from "@/locales/en";
import { normaliseLang } from "./i18n";

function keys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}

describe("message catalogues", () => {
  it("have the same keys in both languages", () => {
    expect(keys(en).sort()).toEqual(keys(zh).sort());
  });
  it("carry no English gloss in the Chinese texts", () => {
    for (const k of keys(zh)) {
      const value = k.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], zh) as string;
      if (k === "app.switchTo") continue; // the switch names the other language
      expect(/[A-Za-z]{3,}/.test(value.replace(/\{[a-z]+\}/g, "")), `${k}: ${value}`).toBe(false);
    }
  });
  it("defaults to Chinese", () => {
    expect(normaliseLang(undefined)).toBe("zh-CN");
    expect(normaliseLang("en-GB")).toBe("en");
    expect(normaliseLang("fr")).toBe("zh-CN");
  });
});
