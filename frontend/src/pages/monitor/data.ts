// The monitoring view without the page: the map's compact rows turned into devices, each device's display
// state (normal, alarm level 1–3, offline), the counts, the alarm list's order, the readings' time ranges and
// the chart's option with the thresholds drawn in. Pure (data.test.ts).

export type Shown = "normal" | "l1" | "l2" | "l3" | "offline";
export const SHOWN_ORDER: Shown[] = ["l3", "l2", "l1", "offline", "normal"];
export const COLOURS: Record<Shown, string> = {
  normal: "#2e9e5b", l1: "#e6b800", l2: "#f07c00", l3: "#d62828", offline: "#8a96a3",
};
export const LEVEL_COLOURS = ["", COLOURS.l1, COLOURS.l2, COLOURS.l3];

export interface MapDevice {
  device_id: string;
  kind: string;
  lon: number;
  lat: number;
  status: string; // normal | alarm | offline (the API's)
  level: number;
  ticket_no: string | null;
  shown: Shown;
}

export interface MapAnswer { fields: string[]; rows: unknown[][]; truncated: boolean }

/** What a device looks like: offline first (its last level is unknown now), then its alarm level. */
export function shownOf(status: string, level: number): Shown {
  if (status === "offline") return "offline";
  if (status === "alarm" && level >= 1) return (`l${Math.min(3, Math.round(level))}`) as Shown;
  return "normal";
}

/** Rows of GET /devices/map (by the answer's own field list, so added fields do not shift anything). */
export function parseMap(answer: MapAnswer | null | undefined): MapDevice[] {
  if (!answer || !Array.isArray(answer.fields) || !Array.isArray(answer.rows)) return [];
  const at = (name: string) => answer.fields.indexOf(name);
  const [id, kind, lon, lat, status, level, ticket] =
    ["device_id", "kind", "lon", "lat", "status", "level", "ticket_no"].map(at);
  const out: MapDevice[] = [];
  for (const r of answer.rows) {
    const x = Number(r[lon]), y = Number(r[lat]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const s = String(r[status] ?? "normal"), l = Number(r[level]) || 0;
    out.push({ device_id: String(r[id]), kind: String(r[kind]), lon: x, lat: y, status: s, level: l,
      ticket_no: (r[ticket] as string | null) ?? null, shown: shownOf(s, l) });
  }
  return out;
}

export type Counts = Record<Shown, number>;

export function countShown(devices: Iterable<MapDevice>): Counts {
  const c: Counts = { normal: 0, l1: 0, l2: 0, l3: 0, offline: 0 };
  for (const d of devices) c[d.shown]++;
  return c;
}

export interface Filters { kind: string; shown: Shown[] }

export function passes(d: MapDevice, f: Filters): boolean {
  return (!f.kind || d.kind === f.kind) && (f.shown.length === 0 || f.shown.includes(d.shown));
}

/** The alarm list: devices in alarm or offline, level 3 first, then 2, 1, offline; then by id. */
export function alarmList(devices: Iterable<MapDevice>): MapDevice[] {
  const rank = (d: MapDevice) => SHOWN_ORDER.indexOf(d.shown);
  return [...devices].filter((d) => d.shown !== "normal")
    .sort((a, b) => rank(a) - rank(b) || (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0));
}

/** The worst state among a cluster's devices (its colour). */
export function worst(list: Iterable<Shown>): Shown {
  let best = SHOWN_ORDER.length - 1;
  for (const s of list) best = Math.min(best, SHOWN_ORDER.indexOf(s));
  return SHOWN_ORDER[best];
}

export const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 } as const;
export type Range = keyof typeof RANGES;

export function rangeParams(range: Range, now: Date): { from: string; to: string } {
  return { from: new Date(now.getTime() - RANGES[range]).toISOString(), to: new Date(now.getTime() + 1000).toISOString() };
}

/** Where the console opens a ticket (Console.vue reads `#ticket=` at load and on hashchange). */
export function consoleLink(ticketNo: string): string {
  return `/console#ticket=${encodeURIComponent(ticketNo)}`;
}

export interface Threshold { level: number; direction: "above" | "below" | string; value: number; hysteresis?: number }
export interface Point { at: string; value: number; min?: number; max?: number; n?: number }

/** The chart: the series as a time line (averages of bins when the API downsampled, with their min–max
 * drawn as a light band), each threshold as a dashed markLine in its level's colour. `label(level, t)` gives
 * its text; `rem` scales sizes. */
export function chartOption(points: Point[], thresholds: Threshold[], opts: {
  name: string; label: (t: Threshold) => string; rem: number; binned: boolean; timeText: (ms: number) => string;
}) {
  const data = points.map((p) => [Date.parse(p.at), p.value]);
  const values = points.flatMap((p) => [p.value, p.min ?? p.value, p.max ?? p.value]).filter(Number.isFinite);
  const limits = thresholds.map((t) => t.value);
  const all = values.concat(limits);
  const lo = all.length ? Math.min(...all) : 0;
  const hi = all.length ? Math.max(...all) : 1;
  const [min, max] = niceBounds(lo, hi);
  const series: Record<string, unknown>[] = [{
    name: opts.name, type: "line", showSymbol: points.length < 60, symbolSize: 0.35 * opts.rem, data,
    lineStyle: { width: 1.5, color: "#1f5fa8" }, itemStyle: { color: "#1f5fa8" },
    markLine: {
      symbol: "none", silent: true,
      data: thresholds.map((t) => ({
        yAxis: t.value, name: opts.label(t),
        lineStyle: { color: LEVEL_COLOURS[t.level] || "#d62828", type: "dashed", width: 1.5 },
        label: { formatter: opts.label(t), position: "insideEndTop", color: LEVEL_COLOURS[t.level] || "#d62828",
          fontSize: 0.7 * opts.rem },
      })),
    },
  }];
  if (opts.binned) {
    series.push({ name: "min", type: "line", data: points.map((p) => [Date.parse(p.at), p.min ?? p.value]),
      lineStyle: { opacity: 0 }, showSymbol: false, stack: "band", silent: true, tooltip: { show: false } });
    series.push({ name: "range", type: "line",
      data: points.map((p) => [Date.parse(p.at), (p.max ?? p.value) - (p.min ?? p.value)]),
      lineStyle: { opacity: 0 }, showSymbol: false, stack: "band", silent: true, tooltip: { show: false },
      areaStyle: { color: "rgba(31, 95, 168, 0.15)" } });
  }
  return {
    animation: false,
    grid: { left: 3.2 * opts.rem, right: 1.2 * opts.rem, top: 1.2 * opts.rem, bottom: 1.8 * opts.rem },
    tooltip: { trigger: "axis", valueFormatter: (v: number) => (typeof v === "number" ? String(+v.toFixed(3)) : "—") },
    xAxis: { type: "time", axisLabel: { fontSize: 0.7 * opts.rem, formatter: (v: number) => opts.timeText(v), hideOverlap: true } },
    yAxis: { type: "value", min, max, scale: true,
      axisLabel: { fontSize: 0.7 * opts.rem } },
    series,
  };
}

/** Axis bounds that hold the values and every threshold (ECharts leaves markLines out of its extent), on a
 * round step, never below zero for a series that is not. */
export function niceBounds(lo: number, hi: number): [number, number] {
  const span = hi - lo || Math.abs(hi) || 1;
  const step = 10 ** Math.floor(Math.log10(span)) / 2;
  let min = Math.floor((lo - span * 0.05) / step) * step;
  const max = Math.ceil((hi + span * 0.05) / step) * step;
  if (lo >= 0 && min < 0) min = 0;
  return [+min.toPrecision(12), +max.toPrecision(12)];
}
