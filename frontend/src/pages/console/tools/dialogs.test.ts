// The dialogs in a DOM (happy-dom) against a stubbed fetch: what they post, the cross-district hold, a stale
// version's reload, drafts across live updates, the call form's retry with the same report id. The real
// server is exercised by tests/test_page_console_tools.py.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { defineComponent, h, nextTick, reactive } from "vue";
import { flushPromises, mount } from "@vue/test-utils";
import { makeI18n } from "@/shared/i18n";
import { makePlatform, providePlatform } from "@/shared/platform";
import type { Boot } from "@/shared/boot";
import ActionDialog from "./ActionDialog.vue";
import CallForm from "./CallForm.vue";
import messages from "./messages";
import { forgetCategories } from "./cache";
import { clearCall } from "./drafts";

const boot: Boot = {
  page: "console", user: { username: "op", role: "operator", unit: null }, token: "tok", csrf: null,
  settings: { timezone: "Asia/Shanghai", tile_url: "", tile_attribution: "", lang: "zh-CN" },
  vocabulary: {
    schema: "vocabulary/1", roles: [], parties: [], channels: [{ code: "hotline", zh: "12345热线", en: "Hotline" }],
    statuses: [{ code: "pending", zh: "待受理", en: "Pending" }, { code: "dispatched", zh: "已派遣", en: "Dispatched" }],
    open_statuses: ["pending", "dispatched"], final_statuses: [], with_unit_statuses: [], unit_queue_statuses: [],
    actions: [{ code: "reassign", zh: "改派", en: "Reassign" }, { code: "register", zh: "立案", en: "Register" },
      { code: "comment", zh: "备注", en: "Comment" }, { code: "close", zh: "结案", en: "Close" },
      { code: "dispatch", zh: "派遣", en: "Dispatch" }],
    deadline_states: [], category_code: { level_digits: {}, subclass_digits: 8 }, transitions: [],
  },
};

type Call = { method: string; url: string; body: unknown };
let calls: Call[] = [];
let answer: (c: Call) => { status: number; body: unknown } | "offline";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

beforeEach(() => {
  calls = [];
  forgetCategories();
  clearCall();
  vi.stubGlobal("fetch", vi.fn(async (url: string, init?: RequestInit) => {
    const c = { method: init?.method || "GET", url: String(url), body: init?.body ? JSON.parse(String(init.body)) : null };
    calls.push(c);
    if (c.url.startsWith("/api/v1/categories")) return json(200, [
      { code: "0101", name: "环境卫生", parent: null, level: "class" },
      { code: "01010101", name: "暴露垃圾", parent: "0101", level: "subclass" }]);
    if (c.url.includes("/units")) return json(200, [
      { code: "NG", name: "南关区城管局", level: "district", district: { code: "220102", name: "南关区" }, reason: "duty", rule: null, cross_district: false },
      { code: "CY", name: "朝阳区城管局", level: "district", district: { code: "220104", name: "朝阳区" }, reason: "other", rule: null, cross_district: true }]);
    const a = answer(c);
    if (a === "offline") throw new TypeError("Failed to fetch");
    return json(a.status, a.body);
  }));
  document.body.innerHTML = "";
});
afterEach(() => vi.unstubAllGlobals());

function host(component: unknown, props: Record<string, unknown>) {
  const state = reactive({ ...props });
  const events: Array<[string, unknown]> = [];
  const Host = defineComponent({
    setup() {
      return () => h(component as never, {
        ...state,
        "onUpdate:modelValue": (v: boolean) => { state.modelValue = v; events.push(["update:modelValue", v]); },
        onDone: (t: unknown) => events.push(["done", t]),
        onSubmitted: (r: unknown) => events.push(["submitted", r]),
      });
    },
  });
  const i18n = makeI18n("zh-CN");
  const wrapper = mount(Host, {
    attachTo: document.body,
    global: { plugins: [i18n, { install: (app) => providePlatform(app, makePlatform(boot, i18n)) }] },
  });
  return { wrapper, state, events };
}

const q = (sel: string) => document.body.querySelector(sel) as HTMLElement | null;
const ticket = (over = {}) => ({ ticket_no: "CC20261201-00001", version: 5, status: "dispatched", category: "01010101",
  assignee: { code: "NG", name: "南关区城管局" }, assists: [], escalation_level: 0,
  area: { district: { code: "220102", name: "南关区" }, street: null, community: null, grid: null }, ...over });

// Element Plus puts a component's data-test on the <input>/<textarea> itself.
const field = (id: string) => q(`input[data-test=${id}], textarea[data-test=${id}], [data-test=${id}] input, [data-test=${id}] textarea`) as
  HTMLInputElement | HTMLTextAreaElement;

async function typeInto(id: string, text: string) {
  const el = field(id);
  el.value = text;
  el.dispatchEvent(new Event("input"));
  await nextTick();
}

describe("ActionDialog", () => {
  it("holds a cross-district reassign until confirmed, then posts the unit and reason", async () => {
    answer = (c) => ({ status: 200, body: { ...ticket(), version: 6, assignee: { code: "CY", name: "朝阳区城管局" }, sent: c.body } });
    const { wrapper, events } = host(ActionDialog, { ticket: ticket(), action: "reassign", modelValue: true });
    await flushPromises();
    const vm = wrapper.findComponent(ActionDialog).vm as unknown as { $: { setupState: Record<string, any> } };
    const s = vm.$.setupState;
    s.draft.to_unit = "CY";
    await flushPromises();
    expect(q("[data-test=cross-warning]")?.textContent).toContain("朝阳区");
    expect(q("[data-test=cross-warning]")?.textContent).toContain("南关区");
    await typeInto("action-note", "属地错误");
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    expect(q("[data-test=action-message]")?.textContent).toContain("跨区");
    s.draft.crossConfirmed = true;
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => c.body)).toEqual([{ action: "reassign", version: 5, note: "属地错误", to_unit: "CY" }]);
    expect(posts[0].url).toBe("/api/v1/tickets/CC20261201-00001/actions");
    expect(events.find((e) => e[0] === "done")).toBeTruthy();
    expect(events).toContainEqual(["update:modelValue", false]);
  });

  it("on a stale version says so, reloads the ticket for the page and keeps what was typed", async () => {
    let stale = true;
    answer = (c) => (c.method === "POST"
      ? (stale ? { status: 409, body: { error: { code: "stale_version", message: "stale" }, current_version: 6 } }
        : { status: 200, body: { ...ticket(), version: 7 } })
      : { status: 200, body: { ...ticket({ ticket_no: "CC20261201-00002" }), version: 6 } });
    const { wrapper, state, events } = host(ActionDialog, { ticket: ticket({ ticket_no: "CC20261201-00002" }), action: "comment", modelValue: true });
    await flushPromises();
    await typeInto("action-note", "已电话联系");
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    expect(q("[data-test=action-message]")?.textContent).toContain("已被他人更新");
    const done = events.filter((e) => e[0] === "done");
    expect(done).toHaveLength(1);
    expect((done[0][1] as { version: number }).version).toBe(6);
    // A live update of the same ticket (the page's socket): the note is still there.
    state.ticket = { ...ticket({ ticket_no: "CC20261201-00002" }), version: 6 };
    await flushPromises();
    expect(field("action-note").value).toBe("已电话联系");
    expect(state.modelValue).toBe(true);
    // Sent again, on the reloaded version (even had the page not handed it back).
    state.ticket = { ...ticket({ ticket_no: "CC20261201-00002" }), version: 5 };
    stale = false;
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    const posts = calls.filter((c) => c.method === "POST").map((c) => c.body as { version: number; note: string });
    expect(posts.map((p) => [p.version, p.note])).toEqual([[5, "已电话联系"], [6, "已电话联系"]]);
    expect(state.modelValue).toBe(false);
    wrapper.unmount();
  });

  it("explains a refusal in words, with what is possible instead", async () => {
    answer = () => ({ status: 422, body: { error: { code: "transition_not_allowed", message: "no", allowed: ["reassign", "comment"] } } });
    const { events } = host(ActionDialog, { ticket: ticket({ ticket_no: "CC20261201-00004" }), action: "close", modelValue: true });
    await flushPromises();
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    const text = q("[data-test=action-message]")?.textContent || "";
    expect(text).toContain("案件当前状态下不能执行此操作");
    expect(text).toContain("当前可执行：改派、备注");
    expect(text).not.toContain("transition_not_allowed");
    expect(events.filter((e) => e[0] === "done")).toHaveLength(0);
  });

  it("posts 立案并派遣 as register then dispatch on the new version", async () => {
    let v = 2;
    answer = (c) => ({ status: 200, body: { ...ticket({ status: "pending" }), version: ++v, echo: c.body } });
    const { wrapper } = host(ActionDialog, { ticket: ticket({ ticket_no: "CC20261201-00003", status: "pending", category: null, version: 2 }),
      action: "register_dispatch", modelValue: true });
    await flushPromises();
    const s = (wrapper.findComponent(ActionDialog).vm as unknown as { $: { setupState: Record<string, any> } }).$.setupState;
    expect(s.draft.to_unit).toBe("NG"); // routing's suggestion, shown as the pending ticket's assignee
    s.draft.category = "01010101";
    await flushPromises();
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    expect(calls.filter((c) => c.method === "POST").map((c) => c.body)).toEqual([
      { action: "register", version: 2, category: "01010101" },
      { action: "dispatch", version: 3, to_unit: "NG" },
    ]);
  });
});

describe("CallForm", () => {
  it("keeps the form and the report id when offline, and sends the same id again", async () => {
    let offline = true;
    answer = (c) => {
      if (c.url.startsWith("/api/v1/reports/hotline/")) return { status: 200, body: { status: "ticketed", ticket_no: "CC20261201-00009", ticket_status: "pending" } };
      if (c.url.startsWith("/api/v1/tickets/nearby")) return { status: 200, body: { items: [] } };
      if (offline) return "offline";
      return { status: 202, body: { report_id: (c.body as { report_id: string }).report_id, channel: "hotline", status: "accepted" } };
    };
    const { events } = host(CallForm, { modelValue: true });
    await flushPromises();
    await typeInto("call-name", "王女士");
    await typeInto("call-phone", "13800000000");
    await typeInto("call-address", "人民大街100号");
    await typeInto("call-description", "路灯不亮");
    (q("[data-test=call-submit]") as HTMLButtonElement).click();
    await flushPromises();
    expect(q("[data-test=call-message]")?.textContent).toContain("网络不通");
    expect(field("call-name").value).toBe("王女士");
    offline = false;
    (q("[data-test=call-submit]") as HTMLButtonElement).click();
    await flushPromises();
    const posts = calls.filter((c) => c.method === "POST").map((c) => c.body as Record<string, unknown>);
    expect(posts).toHaveLength(2);
    expect(posts[0]).toEqual(posts[1]);
    expect(posts[0]).toMatchObject({ channel: "hotline", address: "人民大街100号", description: "路灯不亮",
      reporter: { name: "王女士", phone: "13800000000" } });
    expect(String(posts[0].report_id)).toMatch(/^H-\d{8}-[2-9A-Z]{8}$/);
    expect(events).toContainEqual(["submitted", { report_id: posts[0].report_id, channel: "hotline" }]);
    await vi.waitFor(() => expect(q("[data-test=call-ticket]")?.textContent).toContain("CC20261201-00009"));
  });

  it("explains a refused call (503) and keeps the typed text", async () => {
    answer = (c) => (c.url.startsWith("/api/v1/tickets/nearby") ? { status: 200, body: { items: [] } }
      : { status: 503, body: { error: { code: "broker_unavailable", message: "x", fields: { report_id: "H" } } } });
    host(CallForm, { modelValue: true });
    await flushPromises();
    await typeInto("call-address", "人民大街100号");
    await typeInto("call-description", "井盖丢失");
    (q("[data-test=call-submit]") as HTMLButtonElement).click();
    await flushPromises();
    expect(q("[data-test=call-message]")?.textContent).toContain("系统繁忙");
    expect(q("[data-test=call-message]")?.textContent).toContain("不会重复登记");
    expect(field("call-description").value).toBe("井盖丢失");
  });
});

describe("ActionDialog: 合并 (merge_into)", () => {
  const a = ticket({ location: { lon: 125.4388, lat: 43.7126 }, description: "路边垃圾堆放", report_count: 2 });
  const near = [
    { ...ticket({ ticket_no: "CC20261201-00009", category: "02020202", description: "井盖缺失" }), distance_m: 15 },
    { ...ticket({ ticket_no: "CC20261201-00001" }), distance_m: 0 },
    { ...ticket({ ticket_no: "CC20261201-00007", description: "同一处垃圾", report_count: 1 }), distance_m: 80 },
  ];

  it("offers nearby open tickets (same 小类 first, not itself), shows both, warns on other 小类, posts `into`", async () => {
    answer = (c) => (c.url.startsWith("/api/v1/tickets/nearby") ? { status: 200, body: { items: near } }
      : c.method === "POST" ? { status: 200, body: { ...a, version: 6, status: "rejected", merged_into: (c.body as { into: string }).into } }
        : { status: 404, body: { error: { code: "not_found", message: "no" } } });
    const { events } = host(ActionDialog, { ticket: a, action: "merge_into", modelValue: true });
    await flushPromises();
    const asked = calls.find((c) => c.url.startsWith("/api/v1/tickets/nearby"))!;
    expect(asked.url).toContain("lon=125.438800");
    expect(asked.url).toContain("category=01010101");
    const offered = [...document.body.querySelectorAll("[data-test=merge-candidates] [data-no]")].map((e) => e.getAttribute("data-no"));
    expect(offered).toEqual(["CC20261201-00007", "CC20261201-00009"]);
    expect(q("[data-test=merge-from]")?.textContent).toContain("路边垃圾堆放");
    // nothing chosen: not sent, `into` named
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    expect(q("[data-test=action-message]")?.textContent).toContain("合并至案件");
    // the other 小类: both summaries and a warning
    (q("[data-no=CC20261201-00009] input") as HTMLInputElement).click();
    await flushPromises();
    expect(q("[data-test=merge-to]")?.textContent).toContain("井盖缺失");
    expect(q("[data-test=merge-category-warning]")).toBeTruthy();
    // the same 小类: no warning
    (q("[data-no=CC20261201-00007] input") as HTMLInputElement).click();
    await flushPromises();
    expect(q("[data-test=merge-to]")?.textContent).toContain("同一处垃圾");
    expect(q("[data-test=merge-category-warning]")).toBeNull();
    await typeInto("action-note", "重复上报");
    (q("[data-test=action-send]") as HTMLButtonElement).click();
    await flushPromises();
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => c.body)).toEqual([{ action: "merge_into", version: 5, note: "重复上报", into: "CC20261201-00007" }]);
    expect(events.find((e) => e[0] === "done")).toBeTruthy();
    expect(events).toContainEqual(["update:modelValue", false]);
  });

  it("looks up a typed number and says when there is no such ticket", async () => {
    answer = (c) => (c.url.startsWith("/api/v1/tickets/nearby") ? { status: 200, body: { items: [] } }
      : c.url.endsWith("/tickets/CC20261201-00042")
        ? { status: 200, body: { ...ticket({ ticket_no: "CC20261201-00042", description: "远处同类" }) } }
        : { status: 404, body: { error: { code: "not_found", message: "no" } } });
    host(ActionDialog, { ticket: { ...a, ticket_no: "CC20261201-00003" }, action: "merge_into", modelValue: true });
    await flushPromises();
    expect(q("[data-test=merge-none]")).toBeTruthy();
    await typeInto("merge-into", "CC20261201-00099");
    await new Promise((r) => setTimeout(r, 350)); // the lookup waits for typing to pause
    await flushPromises();
    expect(q("[data-test=merge-missing]")?.textContent).toContain("没有这个案件");
    await typeInto("merge-into", "CC20261201-00042");
    await new Promise((r) => setTimeout(r, 350));
    await flushPromises();
    expect(q("[data-test=merge-to]")?.textContent).toContain("远处同类");
    expect(q("[data-test=merge-missing]")).toBeNull();
  });
});
