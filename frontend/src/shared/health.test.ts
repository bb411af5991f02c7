import { describe, expect, it } from "vitest";
import { SERVICE_PROBLEMS, wordProblems, type HealthProblem } from "./health";

const silent: HealthProblem = { code: "worker_silent", params: { worker: "h:1:abc", seconds: 42 }, text: "lifeline consumer h:1:abc silent for 42 s" };
const odd: HealthProblem = { code: "something_new", params: {}, text: "a sentence the page has no words for" };

function translator(messages: Record<string, string>) {
  const t = (key: string, params: Record<string, unknown> = {}) =>
    messages[key].replace(/\{(\w+)\}/g, (_, name) => String(params[name]));
  const te = (key: string) => key in messages;
  return { t, te };
}

describe("the background services' problems", () => {
  it("are worded from their codes, and a code the page does not know keeps the server's sentence", () => {
    const flat = Object.fromEntries(Object.entries(SERVICE_PROBLEMS["zh-CN"].lifeline).map(([k, v]) => [`p.${k}`, v]));
    const { t, te } = translator(flat);
    expect(wordProblems([silent, odd], "p", t, te)).toBe("监测进程 h:1:abc 已 42 秒无响应（已退出或被阻塞）；a sentence the page has no words for");
  });

  it("have the same codes in both languages for every service", () => {
    for (const service of ["lifeline", "notify"] as const) {
      expect(Object.keys(SERVICE_PROBLEMS.en[service]).sort()).toEqual(Object.keys(SERVICE_PROBLEMS["zh-CN"][service]).sort());
    }
  });
});
