import { describe, expect, it } from "vitest";
import { makeI18n } from "./i18n";
import { makePlatform } from "./platform";
import type { Boot } from "./boot";

const boot = {
  page: "t", user: null, token: null, csrf: null,
  settings: { timezone: "Asia/Shanghai", tile_url: "", tile_attribution: "", lang: "zh-CN" },
  vocabulary: { statuses: [], actions: [], roles: [], parties: [], channels: [], deadline_states: [], transitions: [],
    open_statuses: [], final_statuses: [] },
} as unknown as Boot;

describe("a page's platform", () => {
  it("starts in the i18n's language and switches both", () => {
    const i18n = makeI18n("en");
    const p = makePlatform(boot, i18n);
    expect(p.lang.value).toBe("en");
    p.setLang("zh-CN");
    expect(p.lang.value).toBe("zh-CN");
    expect((i18n.global.locale as unknown as { value: string }).value).toBe("zh-CN");
  });
});
