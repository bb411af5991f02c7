// What the phone pages ask of the device: its position (WGS-84, as browsers report it), the service worker
// that keeps the pages for offline use, and Vant's own texts in the page's language.
import { ref, watch, type Ref } from "vue";
import { Locale } from "vant";
import vantZh from "vant/es/locale/lang/zh-CN";
import vantEn from "vant/es/locale/lang/en-US";
import type { Lang } from "../vocabulary";
import type { Point } from "./PinMap.vue";

export type LocateState = "idle" | "locating" | "located" | "denied" | "failed" | "unsupported";

export function useLocate() {
  const point = ref<Point | null>(null);
  const state = ref<LocateState>("idle");
  function locate(): void {
    if (!("geolocation" in navigator)) {
      state.value = "unsupported";
      return;
    }
    state.value = "locating";
    navigator.geolocation.getCurrentPosition((pos) => {
      point.value = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy, moved: false };
      state.value = "located";
    }, (err) => {
      state.value = err.code === err.PERMISSION_DENIED ? "denied" : "failed";
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }
  function clear(): void {
    point.value = null;
    state.value = "idle";
  }
  return { point, state, locate, clear };
}

/** The sentence under the locate button. */
export function locateText(t: (k: string, named?: Record<string, unknown>) => string, state: LocateState,
                           point: Point | null): string {
  if (state === "locating") return t("phone.locating");
  if (state === "unsupported") return t("phone.noGeo");
  if (state === "denied") return t("phone.geoDenied");
  if (state === "failed") return t("phone.geoFailed");
  if (!point) return "";
  const named = { lat: point.lat.toFixed(5), lon: point.lon.toFixed(5), acc: Math.round(point.accuracy || 0) };
  return point.moved ? t("phone.moved", named) : t("phone.located", named);
}

export function registerWorker(): void {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  const go = () => void navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
  if (document.readyState === "complete") go();
  else window.addEventListener("load", go);
}

export function useVantLocale(lang: Ref<Lang>): void {
  watch(lang, (l) => (l === "en" ? Locale.use("en-US", vantEn) : Locale.use("zh-CN", vantZh)), { immediate: true });
}
