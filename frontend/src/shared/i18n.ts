// Language: zh-CN by default, English by switch. The choice is a cookie (`yunguan_lang`, so server-rendered
// pages such as the login form follow it too) and is applied without reloading. Pages add their own
// messages under their page key (mergeMessages); API error codes are translated here (errors.<code>).
import { createI18n, type I18n } from "vue-i18n";
import zh from "@/locales/zh-CN";
import en from "@/locales/en";
import type { Lang } from "./vocabulary";

export const LANGS: Lang[] = ["zh-CN", "en"];
export const COOKIE = "yunguan_lang";

export function normaliseLang(value: string | null | undefined): Lang {
  return value && value.toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

export function storedLang(doc: Document = document): Lang | null {
  const m = doc.cookie.match(/(?:^|;\s*)yunguan_lang=([^;]+)/);
  return m ? normaliseLang(decodeURIComponent(m[1])) : null;
}

export function rememberLang(lang: Lang, doc: Document = document): void {
  doc.cookie = `${COOKIE}=${encodeURIComponent(lang)}; path=/; max-age=31536000; SameSite=Lax`;
  doc.documentElement.lang = lang;
}

type Messages = Record<string, unknown>;

export function makeI18n(lang: Lang, pageMessages: { "zh-CN"?: Messages; en?: Messages } = {}): I18n {
  return createI18n({
    legacy: false,
    locale: lang,
    fallbackLocale: "zh-CN",
    missingWarn: false,
    fallbackWarn: false,
    messages: {
      "zh-CN": { ...zh, ...(pageMessages["zh-CN"] || {}) },
      en: { ...en, ...(pageMessages.en || {}) },
    } as never,
  });
}
