import { describe, expect, it } from "vitest";
import { ApiError } from "../api";
import { backoff, MemoryStore, Outbox, retryable, type OutboxItem } from "./outbox";

/** A stand-in for POST /api/v1/reports that keeps the contract's rule: the same report_id with the same
 *  body is accepted once and answered again with the same report_id; a different body is a conflict. */
class FakeServer {
  accepted = new Map<string, string>();
  calls: string[] = [];
  failures: ApiError[] = [];
  loseAnswers = 0; // accept, then the answer is lost on the way back (a dropped connection)

  send = async (item: OutboxItem) => {
    const body = JSON.stringify(item.report) + item.photos.map((p) => `${p.name}:${p.blob.size}`).join();
    this.calls.push(item.id);
    const failure = this.failures.shift();
    if (failure) throw failure;
    const seen = this.accepted.get(item.id);
    if (seen !== undefined && seen !== body) throw new ApiError(422, "report_id_conflict", "conflict");
    this.accepted.set(item.id, body);
    if (this.loseAnswers > 0) {
      this.loseAnswers -= 1;
      throw new ApiError(0, "network", "lost");
    }
    return { report_id: item.id };
  };
}

function setup() {
  const server = new FakeServer();
  const store = new MemoryStore();
  let now = 1_000_000;
  const clock = { get: () => now, advance: (ms: number) => (now += ms) };
  const outbox = new Outbox(store, server.send, "gw01", clock.get, () => 0);
  const report = (id: string) => ({ id, channel: "grid", report: { report_id: id, channel: "grid", reported_at: "2026-11-30T01:00:00Z" },
    photos: [{ name: "a.jpg", blob: new Blob(["jpeg bytes"], { type: "image/jpeg" }) }] });
  return { server, store, clock, outbox, report };
}

const offline = () => new ApiError(0, "network", "offline");

describe("the outbox", () => {
  it("keeps a report that cannot be sent and sends it when the connection returns", async () => {
    const { server, store, outbox, report } = setup();
    server.failures.push(offline());
    await outbox.add(report("G1"));
    const first = await outbox.flush();
    expect(first.sent).toHaveLength(0);
    expect(first.waiting.map((x) => x.id)).toEqual(["G1"]);
    expect((await store.all())[0]).toMatchObject({ id: "G1", attempts: 1, state: "waiting", code: "network" });
    const again = await outbox.flush({ force: true }); // the online event
    expect(again.sent.map((x) => x.id)).toEqual(["G1"]);
    expect(await store.all()).toEqual([]);
    expect(server.accepted.has("G1")).toBe(true);
  });

  it("waits longer after each failure, up to five minutes", async () => {
    expect([1, 2, 3, 4].map((n) => backoff(n))).toEqual([5000, 10000, 20000, 40000]);
    expect(backoff(30)).toBe(300000);
    expect(backoff(1, 0.5)).toBe(5500);
    const { server, clock, outbox, report } = setup();
    server.failures.push(new ApiError(503, "broker_unavailable", "busy"), new ApiError(503, "broker_unavailable", "busy"));
    await outbox.add(report("G2"));
    await outbox.flush();
    expect(await outbox.nextDue()).toBe(clock.get() + 5000);
    clock.advance(4000);
    expect((await outbox.flush()).waiting).toHaveLength(1); // not due yet: not sent
    expect(server.calls).toEqual(["G2"]);
    clock.advance(1000);
    await outbox.flush(); // due: sent, fails again, waits twice as long
    expect(server.calls).toEqual(["G2", "G2"]);
    expect(await outbox.nextDue()).toBe(clock.get() + 10000);
    clock.advance(10000);
    expect((await outbox.flush()).sent.map((x) => x.id)).toEqual(["G2"]);
  });

  it("sends the same report_id and body again, so a lost answer never makes two reports", async () => {
    const { server, outbox, report } = setup();
    server.loseAnswers = 1;
    await outbox.add(report("G3"));
    await outbox.flush();
    expect(server.accepted.size).toBe(1); // the server has it, the phone does not know
    const result = await outbox.flush({ force: true });
    expect(result.sent.map((x) => x.id)).toEqual(["G3"]);
    expect(result.refused).toEqual([]); // not a conflict: the very same body
    expect(server.calls).toEqual(["G3", "G3"]);
    expect(server.accepted.size).toBe(1);
  });

  it("keeps a refusal with its reason and does not send it again", async () => {
    const { server, outbox, report } = setup();
    server.failures.push(new ApiError(422, "invalid_envelope", "bad", { category: "unknown" }));
    await outbox.add(report("G4"));
    const result = await outbox.flush();
    expect(result.refused).toMatchObject([{ id: "G4", state: "refused", code: "invalid_envelope", fields: { category: "unknown" } }]);
    await outbox.flush({ force: true });
    expect(server.calls).toEqual(["G4"]);
    await outbox.remove("G4");
    expect(await outbox.items()).toEqual([]);
  });

  it("sends in order, stops at a lost connection, and runs one flush at a time", async () => {
    const { server, outbox, report } = setup();
    await outbox.add(report("A"));
    await outbox.add(report("B"));
    server.failures.push(offline());
    const r = await outbox.flush();
    expect(server.calls).toEqual(["A"]); // B was not tried while offline
    expect(r.sent).toEqual([]);
    const [x, y] = await Promise.all([outbox.flush({ force: true }), outbox.flush({ force: true })]);
    expect(x).toBe(y);
    expect(server.calls).toEqual(["A", "A", "B"]);
  });

  it("tells listeners and keeps owners apart", async () => {
    const { store, server, report } = setup();
    const mine = new Outbox(store, server.send, "gw01");
    const theirs = new Outbox(store, server.send, "gw02");
    const seen: number[] = [];
    mine.onChange((items) => seen.push(items.length));
    await mine.add(report("M1"));
    await theirs.add(report("T1"));
    expect((await mine.items()).map((x) => x.id)).toEqual(["M1"]);
    expect(seen).toEqual([1]);
  });

  it("retries what may pass later and not what the server refuses", () => {
    expect(retryable(offline())).toBe(true);
    expect(retryable(new ApiError(503, "broker_unavailable", ""))).toBe(true);
    expect(retryable(new ApiError(429, "too_many_requests", ""))).toBe(true);
    expect(retryable(new ApiError(401, "unauthenticated", ""))).toBe(true);
    expect(retryable(new ApiError(422, "invalid_envelope", ""))).toBe(false);
    expect(retryable(new ApiError(413, "too_large", ""))).toBe(false);
  });
});
