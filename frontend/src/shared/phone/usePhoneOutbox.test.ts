import { afterEach, describe, expect, it, vi } from "vitest";
import { defineComponent, h } from "vue";
import { mount } from "@vue/test-utils";
import { ApiError, type Api } from "../api";
import { STALL_MS, usePhoneOutbox } from "./usePhoneOutbox";

function mountWith(post: (path: string, body: unknown) => Promise<unknown>) {
  const api = { post: vi.fn(post), upload: vi.fn() } as unknown as Api;
  let box!: ReturnType<typeof usePhoneOutbox>;
  const wrapper = mount(defineComponent({ setup() {
    box = usePhoneOutbox(api, "public", `test-${Math.random()}`);
    return () => h("div");
  } }));
  return { box, api, wrapper };
}
const report = (id: string) => ({ report_id: id, channel: "public", description: "路边垃圾" });

afterEach(() => {
  vi.useRealTimers();
  localStorage.clear();
});

describe("a submit on a phone page", () => {
  it("is sent and remembered in my reports", async () => {
    const { box } = mountWith(async (_p, body) => ({ report_id: (body as { report_id: string }).report_id }));
    expect(await box.submit(report("R1"), [])).toEqual({ kind: "sent", report_id: "R1" });
    expect(box.items.value).toEqual([]);
    expect(box.sent.value.map((x) => x.report_id)).toEqual(["R1"]);
  });

  it("waits on the phone when there is no connection", async () => {
    const { box } = mountWith(async () => { throw new ApiError(0, "network", "offline"); });
    const outcome = await box.submit(report("R2"), []);
    expect(outcome.kind).toBe("queued");
    expect(box.items.value).toMatchObject([{ id: "R2", state: "waiting", code: "network" }]);
    expect(box.sent.value).toEqual([]);
  });

  it("hands a refusal back to the form and keeps nothing", async () => {
    const { box } = mountWith(async () => { throw new ApiError(422, "invalid_envelope", "bad", { description: "too long" }); });
    const outcome = await box.submit(report("R3"), []);
    expect(outcome).toMatchObject({ kind: "refused", error: { status: 422, code: "invalid_envelope", fields: { description: "too long" } } });
    expect(box.items.value).toEqual([]);
  });

  it("frees the form when a send hangs, and the send still lands later", async () => {
    vi.useFakeTimers();
    let answer: (v: unknown) => void = () => undefined;
    const { box } = mountWith(() => new Promise((resolve) => (answer = resolve)));
    const pending = box.submit(report("R4"), []);
    await vi.advanceTimersByTimeAsync(STALL_MS + 10);
    expect((await pending).kind).toBe("queued");
    expect(box.items.value.map((x) => x.id)).toEqual(["R4"]);
    answer({ report_id: "R4" });
    await vi.advanceTimersByTimeAsync(10);
    expect(box.items.value).toEqual([]);
    expect(box.sent.value.map((x) => x.report_id)).toEqual(["R4"]);
  });
});
