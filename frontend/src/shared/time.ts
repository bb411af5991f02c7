// One formatter for every time on every page: the city's time zone (settings.timezone, not the browser's) and
// Chinese formats ("12月1日 09:30", "15小时23分"); English when the page is switched to it. A browser set to
// UTC shows a 09:30 deadline as 09:30.
import type { Lang } from "./vocabulary";

type Parts = { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric", weekday: "short",
    });
    formatters.set(tz, f);
  }
  return f;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const ZH_WEEKDAYS = ["日", "一", "二", "三", "四", "五", "六"];
const EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The wall-clock parts of an instant in a time zone. */
export function partsIn(instant: Date, tz: string): Parts {
  const out: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(instant)) {
    if (p.type === "weekday") out.weekday = WEEKDAYS.indexOf(p.value);
    else if (p.type !== "literal" && p.type !== "dayPeriod") out[p.type] = Number(p.value);
  }
  return out as Parts;
}

function toDate(value: string | number | Date | null | undefined): Date | null {
  if (value === null || value === undefined || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n: number) => String(n).padStart(2, "0");

export class CityTime {
  constructor(readonly tz: string, readonly lang: Lang = "zh-CN", readonly now: () => Date = () => new Date()) {}

  /** "09:30" */
  time(value: string | number | Date | null | undefined): string {
    const d = toDate(value);
    if (!d) return "";
    const p = partsIn(d, this.tz);
    return `${pad(p.hour)}:${pad(p.minute)}`;
  }

  /** "12月1日" ("2025年12月1日" in another year); English "1 Dec" ("1 Dec 2025"). */
  date(value: string | number | Date | null | undefined): string {
    const d = toDate(value);
    if (!d) return "";
    const p = partsIn(d, this.tz);
    const thisYear = partsIn(this.now(), this.tz).year;
    if (this.lang === "en") return `${p.day} ${EN_MONTHS[p.month - 1]}${p.year !== thisYear ? " " + p.year : ""}`;
    return `${p.year !== thisYear ? p.year + "年" : ""}${p.month}月${p.day}日`;
  }

  /** "12月1日 09:30"; today's times keep the date too, so a wall screen photo says which day it was. */
  dateTime(value: string | number | Date | null | undefined): string {
    const d = toDate(value);
    if (!d) return "";
    return `${this.date(d)} ${this.time(d)}`;
  }

  /** "12月1日 星期二" for headers. */
  dayHeading(value: string | number | Date = this.now()): string {
    const d = toDate(value)!;
    const p = partsIn(d, this.tz);
    return this.lang === "en" ? `${WEEKDAYS[p.weekday]} ${this.date(d)}` : `${this.date(d)} 星期${ZH_WEEKDAYS[p.weekday]}`;
  }

  /** The clock of a header: "09:30:05". */
  clock(value: Date = this.now()): string {
    const p = partsIn(value, this.tz);
    return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
  }

  /** "2天3小时", "15小时23分", "45分", "不足1分"; English "2 d 3 h", "15 h 23 min", "45 min", "< 1 min". */
  duration(ms: number): string {
    const minutes = Math.floor(Math.abs(ms) / 60000);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const mins = minutes % 60;
    const en = this.lang === "en";
    if (minutes < 1) return en ? "< 1 min" : "不足1分";
    if (days > 0) return en ? `${days} d${hours ? ` ${hours} h` : ""}` : `${days}天${hours ? hours + "小时" : ""}`;
    if (hours > 0) return en ? `${hours} h${mins ? ` ${mins} min` : ""}` : `${hours}小时${mins ? mins + "分" : ""}`;
    return en ? `${mins} min` : `${mins}分`;
  }

  /** Time left to a deadline ("剩余3小时5分") or past it ("超时2小时"); null without a deadline. */
  countdown(deadline: string | null | undefined): { text: string; overdue: boolean; ms: number } | null {
    const d = toDate(deadline);
    if (!d) return null;
    const ms = d.getTime() - this.now().getTime();
    const overdue = ms < 0;
    const span = this.duration(ms);
    const text = this.lang === "en" ? (overdue ? `${span} overdue` : `${span} left`) : (overdue ? `超时${span}` : `剩余${span}`);
    return { text, overdue, ms };
  }

  /** The city's date as YYYY-MM-DD (for date inputs and API queries). */
  isoDate(value: Date = this.now()): string {
    const p = partsIn(value, this.tz);
    return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  }
}
