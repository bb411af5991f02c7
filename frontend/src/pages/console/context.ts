// What the console's parts share: the reference lists (categories, units, area names) and the few page-wide
// moves (open a ticket, show it on the map). Console.vue provides it; the parts inject it.
import { inject, provide, shallowRef, type ShallowRef } from "vue";
import { useI18n } from "vue-i18n";
import { usePlatform } from "@/shared/platform";
import type { AreaRef, Entry, TicketItem } from "./tickets";

export interface Category { code: string; name: string; parent?: string | null; level?: string; kind?: string }
export interface Unit { code: string; name: string; level?: string; kind?: string; parent?: string | null;
  district?: string | null }

export interface ConsoleContext {
  categories: ShallowRef<Map<string, Category>>;
  units: ShallowRef<Map<string, Unit>>;
  areaNames: ShallowRef<Map<string, string>>;
  selected: ShallowRef<string | null>;
  openTicket(no: string): void;
  showOnMap(no: string): void;
}

const KEY = Symbol("yunguan-console");

export function makeContext(openTicket: (no: string) => void, showOnMap: (no: string) => void): ConsoleContext {
  return {
    categories: shallowRef(new Map()), units: shallowRef(new Map()), areaNames: shallowRef(new Map()),
    selected: shallowRef(null), openTicket, showOnMap,
  };
}

export function provideConsole(ctx: ConsoleContext): void {
  provide(KEY, ctx);
}

export function useConsole(): ConsoleContext {
  const ctx = inject<ConsoleContext>(KEY);
  if (!ctx) throw new Error("useConsole outside the console");
  return ctx;
}

/** Names for codes, in the page's language where the vocabulary has them. */
export function useLabels() {
  const ctx = useConsole();
  const { t } = useI18n();
  const { vocab, lang } = usePlatform();
  const category = (code: string | null | undefined) => {
    if (!code) return t("console.list.unclassified");
    return ctx.categories.value.get(code)?.name || code;
  };
  const unit = (a: { code: string; name?: string | null } | string | null | undefined) => {
    if (!a) return "—";
    const code = typeof a === "string" ? a : a.code;
    const name = typeof a === "string" ? null : a.name;
    return name || ctx.units.value.get(code)?.name || code;
  };
  // The standard suffix of a 运管服 centre's name, shortened in narrow columns (the full name in the title).
  const unitShort = (a: Parameters<typeof unit>[0]) =>
    unit(a).replace("城市运行管理服务指挥中心", "运管指挥中心").replace("城市运行管理服务中心", "运管中心");
  const area = (ref: AreaRef | null | undefined) => (ref ? ref.name || ctx.areaNames.value.get(ref.code) || ref.code : "");
  const district = (tk: TicketItem) => area(tk.area?.district) || "—";
  const areaPath = (tk: TicketItem) =>
    (["district", "street", "community", "grid"] as const).map((k) => area(tk.area?.[k])).filter(Boolean).join(" / ");
  const status = (code: string | null | undefined) => vocab.label("status", code, lang.value);
  const severity = (tk: Entry) => t(`console.severity.${tk._sev}`);
  return { category, unit, unitShort, area, district, areaPath, status, severity };
}
