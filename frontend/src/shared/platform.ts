// A page's start: the boot document, the language (with Element Plus's and Vant's own texts following it),
// the vocabulary, the city's time and the API client, provided to every component (usePlatform).
import { computed, createApp, inject, ref, type App, type Component, type ComputedRef, type Ref } from "vue";
import type { I18n } from "vue-i18n";
import { readBoot, type Boot } from "./boot";
import { makeI18n, normaliseLang, rememberLang, storedLang } from "./i18n";
import { CityTime } from "./time";
import { Vocabulary, type Lang } from "./vocabulary";
import { Api } from "./api";

export interface Platform {
  boot: Boot;
  vocab: Vocabulary;
  lang: Ref<Lang>;
  time: ComputedRef<CityTime>;
  now: Ref<Date>;
  api: Api;
  setLang(lang: Lang): void;
}

const KEY = Symbol("yunguan-platform");

export function makePlatform(boot: Boot, i18n: I18n): Platform {
  // Composition-mode vue-i18n: global.locale is a ref (a plain string only in legacy mode).
  const locale = i18n.global.locale as unknown as string | Ref<string>;
  const lang = ref<Lang>(normaliseLang(typeof locale === "string" ? locale : locale.value));
  const now = ref(new Date());
  // One ticking clock per page: countdowns and the header clock follow it (every 15 s; the clock itself
  // re-renders every second through its own timer where shown).
  if (typeof window !== "undefined") window.setInterval(() => (now.value = new Date()), 15000);
  const time = computed(() => new CityTime(boot.settings.timezone || "Asia/Shanghai", lang.value, () => now.value));
  const api = new Api(boot.token, "/api/v1", () => {
    if (boot.user) window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
  });
  return {
    boot, vocab: new Vocabulary(boot.vocabulary), lang, time, now, api,
    setLang(next: Lang) {
      lang.value = next;
      (i18n.global.locale as unknown as Ref<string>).value = next;
      rememberLang(next);
    },
  };
}

export function usePlatform(): Platform {
  const p = inject<Platform>(KEY);
  if (!p) throw new Error("usePlatform outside a page");
  return p;
}

export function providePlatform(app: App, platform: Platform): void {
  app.provide(KEY, platform);
}

type Messages = Record<string, unknown>;

/** Mount a page's root component on #app with everything above. */
export function startPage(root: Component, messages: { "zh-CN"?: Messages; en?: Messages } = {}): App {
  const boot = readBoot();
  const lang = storedLang() || normaliseLang(boot.settings.lang);
  const i18n = makeI18n(lang, messages);
  const app = createApp(root);
  app.use(i18n);
  const platform = makePlatform(boot, i18n);
  providePlatform(app, platform);
  document.documentElement.lang = lang;
  app.mount("#app");
  return app;
}

/** Log out: the server-rendered form with the page's CSRF token (web/templates/app.html). */
export function logOut(): void {
  const form = document.getElementById("logout-form") as HTMLFormElement | null;
  if (form) form.submit();
  else window.location.assign("/login");
}
