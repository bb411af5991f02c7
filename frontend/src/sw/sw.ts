/// <reference lib="webworker" />
// The phone pages' service worker (served by Flask at /sw.js, scope "/"): /grid, /report and /track open
// without a connection. Their shells (the HTML with its boot document) are fetched from the network first and
// kept; without a connection (or after a few seconds of none) the kept copy is served. The built files under
// /static/ have content hashes in their names, so they are served from the cache once stored. The list of files
// to store on install comes from the server (/offline-files.json, read from Vite's manifest). The API is never
// touched here: the pages' outbox (IndexedDB) keeps what could not be sent, and Background Sync only wakes the
// open pages to send it. A login page loaded means a logout or a new login: the kept /grid shell (it carries
// the grid worker's token, revoked by the logout anyway) is dropped. The shells are stored on install (the page
// that registers this worker is already open, so it is stored then) and on every load with a connection.
// No imports: this file is built on its own into static/app/sw.js (vite.config.ts).
export {};
declare const self: ServiceWorkerGlobalScope;

const CACHE = "yunguan-phone-v1";
const SHELLS = ["/grid", "/report", "/track"];
const NETWORK_WAIT_MS = 4000;
const SYNC_TAG = "yunguan-outbox";

async function precache(): Promise<void> {
  const cache = await caches.open(CACHE);
  let list: { pages: string[]; files: string[] };
  try {
    const response = await fetch("/offline-files.json", { cache: "no-store" });
    list = await response.json();
  } catch {
    return; // installed without a connection: pages are stored as they are opened
  }
  await Promise.all(list.files.map(async (url) => {
    if (await cache.match(url)) return;
    try {
      const response = await fetch(url);
      if (response.ok) await cache.put(url, response);
    } catch {
      /* stored when first used */
    }
  }));
  // The pages, as this browser may open them: /grid only with a grid worker's login (else a redirect to the
  // login form, not stored).
  await Promise.all(list.pages.map(async (page) => {
    try {
      const response = await fetch(page, { credentials: "same-origin", redirect: "manual" });
      if (response.ok && !response.redirected) await cache.put(page, response);
    } catch {
      /* stored when opened */
    }
  }));
}

/** Built files of earlier builds: dropped once the server names the current ones. */
async function prune(): Promise<void> {
  for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
  let list: { files: string[] };
  try {
    list = await (await fetch("/offline-files.json", { cache: "no-store" })).json();
  } catch {
    return;
  }
  const keep = new Set(list.files);
  const cache = await caches.open(CACHE);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/static/app/") && !keep.has(path)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(prune().then(() => self.clients.claim()));
});

function offlinePage(): Response {
  const body = "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>" +
    "<title>离线</title><p>当前没有网络，本页尚未保存在本机。请联网后再打开。</p>";
  return new Response(body, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

/** The network's page if it answers in time (and keep it), else the kept one. */
async function shell(event: FetchEvent, key: string): Promise<Response> {
  const cache = await caches.open(CACHE);
  const network = fetch(event.request).then(async (response) => {
    if (response.ok && !response.redirected && response.type === "basic") await cache.put(key, response.clone());
    return response;
  });
  event.waitUntil(network.catch(() => undefined));
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), NETWORK_WAIT_MS));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
    return (await cache.match(key)) || (await network);
  } catch {
    return (await cache.match(key)) || offlinePage();
  }
}

async function stored(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    if (SHELLS.includes(url.pathname)) event.respondWith(shell(event, url.pathname));
    else if (url.pathname === "/login") event.waitUntil(caches.open(CACHE).then((c) => c.delete("/grid")));
    return;
  }
  if (url.pathname.startsWith("/static/app/") || url.pathname.startsWith("/static/icons/") ||
      url.pathname === "/static/favicon.svg") {
    event.respondWith(stored(request));
  }
});

// Background Sync (where the browser has it): the connection is back; the open pages send their outboxes
// (the outbox needs the page's login, which this worker does not hold).
self.addEventListener("sync", (event: Event) => {
  const e = event as ExtendableEvent & { tag?: string };
  if (e.tag !== SYNC_TAG) return;
  e.waitUntil(self.clients.matchAll({ type: "window" }).then((clients) => {
    for (const c of clients) c.postMessage({ type: "yunguan-outbox-flush" });
  }));
});
