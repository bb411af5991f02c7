// A phone page's outbox at work: every submit is stored first (IndexedDB) and then sent; what waits is sent
// again when the connection returns (the `online` event), when the page opens, on a timer with back-off
// (outbox.ts) and when Background Sync wakes the page. The page shows `items` (待发送 / refused) and `online`.
import { onBeforeUnmount, onMounted, ref } from "vue";
import type { Api } from "../api";
import { ApiError, explain } from "../api";
import { IdbStore, MemoryStore, Outbox, type OutboxItem, type OutboxPhoto, type OutboxStore } from "./outbox";
import { SentList, summaryOf, type SentReport } from "./sent";

export const SYNC_TAG = "yunguan-outbox";

type Translate = (key: string, named?: Record<string, unknown>) => string;

/** What a phone page says when the server refused a report or a step: a photo it could not use is the
 * sender's to replace; everything else as the error catalogue explains it. */
export function refusalText(err: unknown, t: Translate, te: (key: string) => boolean): string {
  return err instanceof ApiError && err.code === "bad_photo" ? t("phone.badPhoto") : explain(err, t, te);
}
/** How long a send may show no progress before the form stops waiting for it (it goes on in the background). */
export const STALL_MS = 25000;

export type SubmitOutcome =
  | { kind: "sent"; report_id: string }
  | { kind: "queued"; item: OutboxItem }
  | { kind: "refused"; error: ApiError };

/** POST /api/v1/reports: JSON, or multipart (envelope in `report`, photos in `photos`) with upload progress. */
export function reportSender(api: Api) {
  return (item: OutboxItem, onProgress?: (share: number) => void) => {
    if (!item.photos.length) return api.post<{ report_id: string }>("/reports", item.report);
    const form = new FormData();
    form.append("report", JSON.stringify(item.report));
    for (const p of item.photos) form.append("photos", p.blob, p.name);
    return api.upload<{ report_id: string }>("/reports", form, onProgress);
  };
}

function storeHere(): OutboxStore {
  return typeof indexedDB === "undefined" ? new MemoryStore() : new IdbStore();
}

/** Ask the service worker for a Background Sync (Chrome on Android); elsewhere the timers do it. */
async function askForSync(): Promise<void> {
  try {
    const reg = await navigator.serviceWorker?.ready;
    const sync = (reg as unknown as { sync?: { register(tag: string): Promise<void> } })?.sync;
    if (sync) await sync.register(SYNC_TAG);
  } catch {
    /* not offered: the online event and the timer send it */
  }
}

export function usePhoneOutbox(api: Api, channel: string, owner: string) {
  const outbox = new Outbox(storeHere(), reportSender(api), owner);
  const sentList = SentList.for(channel, owner);
  const items = ref<OutboxItem[]>([]);
  const sent = ref<SentReport[]>(sentList.list());
  const online = ref(typeof navigator === "undefined" ? true : navigator.onLine);
  const progress = ref<Record<string, number>>({});
  const sending = ref(false);
  let timer: number | undefined;
  outbox.onChange((list) => (items.value = list));

  function remember(item: OutboxItem): void {
    sent.value = sentList.add({ report_id: item.id, channel, at: Date.now(), summary: summaryOf(String(item.report.description ?? "")) });
  }

  async function schedule(): Promise<void> {
    window.clearTimeout(timer);
    const due = await outbox.nextDue();
    if (due === null) return;
    timer = window.setTimeout(() => void flush(false), Math.max(1000, due - Date.now()));
  }

  async function flush(force: boolean, only?: string, onProgress?: (share: number) => void) {
    sending.value = true;
    try {
      const result = await outbox.flush({
        force, only, onProgress: (id, share) => {
          progress.value = { ...progress.value, [id]: share };
          if (id === only) onProgress?.(share);
        },
      });
      result.sent.forEach(remember);
      return result;
    } finally {
      sending.value = false;
      await schedule();
    }
  }

  /** Store, then send at once. A refusal is handed back to the form (and dropped from the outbox: the form
   *  still holds what was typed); anything else worth retrying stays queued. A send that shows no progress
   *  for STALL_MS (a connection that hangs) is left to go on in the background: the form is free again and
   *  the report is shown as waiting. */
  async function submit(report: Record<string, unknown>, photos: OutboxPhoto[],
                        onProgress?: (share: number) => void): Promise<SubmitOutcome> {
    const id = String(report.report_id);
    const item = await outbox.add({ id, channel, report, photos });
    if (!navigator.onLine) {
      void askForSync();
      await schedule();
      return { kind: "queued", item };
    }
    let stall: number | undefined;
    let giveUp: (value: null) => void = () => undefined;
    const stalled = new Promise<null>((resolve) => (giveUp = resolve));
    const arm = () => {
      window.clearTimeout(stall);
      stall = window.setTimeout(() => giveUp(null), STALL_MS);
    };
    arm();
    const result = await Promise.race([flush(true, id, (share) => {
      arm();
      onProgress?.(share);
    }), stalled]);
    window.clearTimeout(stall);
    if (result && result.sent.some((x) => x.id === id)) return { kind: "sent", report_id: id };
    const refused = result?.refused.find((x) => x.id === id);
    if (refused) {
      await outbox.remove(id);
      return { kind: "refused", error: new ApiError(refused.status || 422, refused.code || "unknown", "", refused.fields || {}) };
    }
    void askForSync();
    return { kind: "queued", item: (await outbox.items()).find((x) => x.id === id) || item };
  }

  const onOnline = () => {
    online.value = true;
    void flush(true);
  };
  const onOffline = () => (online.value = false);
  const onMessage = (e: MessageEvent) => {
    if (e.data && e.data.type === "yunguan-outbox-flush") void flush(true);
  };

  onMounted(async () => {
    window.addEventListener("online", onOnline);
    window.addEventListener("offline", onOffline);
    navigator.serviceWorker?.addEventListener("message", onMessage);
    items.value = await outbox.items();
    if (navigator.onLine && items.value.some((x) => x.state === "waiting")) await flush(true);
    else await schedule();
  });
  onBeforeUnmount(() => {
    window.removeEventListener("online", onOnline);
    window.removeEventListener("offline", onOffline);
    navigator.serviceWorker?.removeEventListener("message", onMessage);
    window.clearTimeout(timer);
  });

  return {
    items, sent, online, progress, sending, submit,
    retry: () => flush(true),
    discard: (id: string) => outbox.remove(id),
  };
}
