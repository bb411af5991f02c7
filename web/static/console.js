// Command-centre console (/console): Leaflet map, live ticket list, pending queue, detail drawer with actions,
// overdue alert. Data comes only from the JSON API and the Socket.IO namespace /console (contract §4, §7).
//
// Escaping rule: every value that comes from the server is put into the page with textContent, .title, .value
// or as a DOM node handed to Leaflet (popups and tooltips accept nodes). Nothing here assigns innerHTML or
// passes an HTML string to Leaflet, so report text, addresses and names can never become markup.
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------------------------
  // Vocabulary (zh-CN first, English second): statuses, actions, channels, deadline lights and the transition
  // table come from the server's document (vocabulary.js, dispatch/vocabulary.py); only the console's own
  // groupings (severity buckets, routing methods, area levels) are defined here.
  // ---------------------------------------------------------------------------------------------------------
  const V = window.YunguanVocabulary;
  const SEVERITY = {
    red: V.deadline("red"), yellow: V.deadline("yellow"), green: V.deadline("green"),
    pending: ["待处理", "Pending"], open: ["在办", "Open"], done: ["已结", "Closed"],
  };
  const SEV_RANK = { red: 0, yellow: 1, pending: 2, green: 3, open: 4, done: 5 };
  const SEV_STYLE = {
    red: { color: "#ffd1d1", fillColor: "#ff3b3b", radius: 10, weight: 3 },
    yellow: { color: "#2b2400", fillColor: "#f5d90a", radius: 8, weight: 1.5 },
    green: { color: "#0b2a18", fillColor: "#2fbf71", radius: 7, weight: 1.5 },
    pending: { color: "#2e1a00", fillColor: "#fa8c16", radius: 8, weight: 1.5 },
    open: { color: "#0a2038", fillColor: "#3fa7ff", radius: 7, weight: 1.5 },
    done: { color: "#1b222b", fillColor: "#6b7785", radius: 5, weight: 1 },
  };
  const ROUTING_METHOD = {
    contains: ["落在辖区内", "inside the area"], boundary: ["位于边界", "on a boundary"],
    nearest: ["就近归属", "nearest area"], manual: ["需人工定位", "manual: not routable"],
  };
  const LEVELS = {
    district: { zh: "区县", en: "District", simplify: 80 }, street: { zh: "街道", en: "Street", simplify: 30 },
    community: { zh: "社区", en: "Community", simplify: 10 }, grid: { zh: "网格", en: "Grid", simplify: 5 },
  };

  const MAX_ROWS = 300; // rows drawn in the live list (the filters narrow it down)
  const MAX_QUEUE = 120;
  const MAX_TICKETS = 20000; // tickets kept in memory; the oldest closed ones go first
  // The open statuses (clocks run or the centre must act): loaded in full (up to ACTIVE_PAGES pages each) on
  // start, because the late tickets are the old ones and would not be among the newest pages.
  const ACTIVE = V.openStatuses;
  const ACTIVE_PAGES = 10;
  const PAGE = 500; // the API's largest page
  const GAP_MARGIN_MS = 5000; // re-read this much before the last change seen when filling a gap
  const FRESH_MS = 4000;

  // ---------------------------------------------------------------------------------------------------------
  // Small DOM and formatting helpers (text only)
  // ---------------------------------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (let i = 1; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return parent;
  }
  function bi(pair, cls) { // "中文 English" with the English part muted
    const s = el("span", cls);
    add(s, pair[0] + " ", el("span", "en", pair[1]));
    return s;
  }
  function $(id) { return document.getElementById(id); }
  // Replace a container's children only when they differ: a row under the pointer stays the same node, so a
  // click is not lost to a re-render, and nothing flickers.
  function setChildren(parent, nodes) {
    const cur = parent.children;
    if (cur.length === nodes.length && nodes.every(function (n, i) { return cur[i] === n; })) return;
    parent.replaceChildren.apply(parent, nodes);
  }
  function str(v) { return v === null || v === undefined ? "" : String(v); }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (isNaN(d)) return str(iso);
    const now = new Date();
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return hm;
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm.slice(0, 5);
  }
  function fmtDuration(ms) {
    const m = Math.max(0, Math.round(ms / 60000));
    if (m < 60) return m + "m";
    const h = Math.floor(m / 60);
    if (h < 48) return h + "h" + pad(m % 60) + "m";
    return Math.floor(h / 24) + "d" + (h % 24) + "h";
  }
  function timeOf(t) { return t.at || t.updated_at || t.created_at || null; }
  function ms(iso) { const v = iso ? Date.parse(iso) : NaN; return isNaN(v) ? null : v; }

  // ---------------------------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------------------------
  const token = document.querySelector('meta[name="yunguan-token"]').content;
  const userMeta = document.querySelector('meta[name="yunguan-user"]');
  const me = userMeta ? userMeta.content : null;
  const tileMeta = document.querySelector('meta[name="yunguan-tiles"]');
  const tileAttrMeta = document.querySelector('meta[name="yunguan-tiles-attribution"]');
  const tickets = new Map(); // ticket_no -> merged ticket (API fields + latest event fields)
  const seen = new Set(); // "ticket_no#version" already applied
  const categories = new Map(); // code -> {code, name, parent, kind}
  const units = new Map(); // code -> {code, name, level, kind, parent}
  const areaNames = new Map(); // area code -> name, every level loaded
  const districts = []; // [{code, name}]
  const filters = { status: "", district: "", category: "", unit: "", deadline: "", sort: "recent" };
  let lastChange = null; // the latest `at`/`updated_at` seen, ISO: where a gap fetch starts
  let primed = false; // the first load is done: from now on, new red tickets raise the alarm
  let renderQueued = false;
  let drawerNo = null;

  // ---------------------------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------------------------
  function api(path, options) {
    const opts = options || {};
    const headers = Object.assign({ Authorization: "Bearer " + token, Accept: "application/json" }, opts.headers || {});
    return fetch(path, Object.assign({}, opts, { headers: headers, credentials: "same-origin" })).then(function (r) {
      return r.text().then(function (raw) {
        let body = null;
        try { body = raw ? JSON.parse(raw) : null; } catch (e) { body = null; }
        return { ok: r.ok, status: r.status, body: body };
      });
    });
  }
  function getJSON(path) {
    return api(path).then(function (res) {
      if (res.status === 401) sessionExpired();
      if (!res.ok) {
        const err = new Error(errorText(res));
        err.status = res.status;
        throw err;
      }
      return res.body;
    });
  }
  function errorText(res) {
    const e = res.body && res.body.error;
    return res.status + " " + (e ? str(e.code) + ": " + str(e.message) : "");
  }
  function query(params) {
    const q = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k] !== "" && params[k] !== null && params[k] !== undefined) q.set(k, params[k]); });
    return q.toString();
  }
  // Every page of /api/v1/tickets for these parameters (newest first), up to maxPages.
  function loadTickets(params, maxPages) {
    let pages = 0;
    function next(cursor) {
      const qs = query(Object.assign({ limit: PAGE }, params, { cursor: cursor || "" }));
      return getJSON("/api/v1/tickets?" + qs).then(function (page) {
        pages++;
        const items = (page && page.items) || [];
        markerBatch = [];
        try {
          for (let i = items.length - 1; i >= 0; i--) ingest(items[i], false);
        } finally {
          const batch = markerBatch;
          markerBatch = null;
          if (batch.length) cluster.addLayers(batch); // one re-clustering per page, not one per marker
        }
        if (page && page.next_cursor && pages < maxPages) return next(page.next_cursor);
        return null;
      });
    }
    return next(null);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Deadline state
  // ---------------------------------------------------------------------------------------------------------
  // `deadline_state` (green/yellow/red, null when no clock runs) comes from the lifecycle. A `deadline` (the
  // earliest running clock's) that has passed is red at once, even before the server's next deadline pass says
  // so. Only from a server that sends no `deadline_state` at all does an escalation alone make a ticket red.
  function severity(t, now) {
    if (V.isFinal(t.status)) return "done";
    const ds = t.deadline_state;
    if (ds === "red" || ds === "overdue") return "red";
    const dl = ms(t.deadline);
    if (dl !== null && dl <= now) return "red";
    if (ds === "yellow" || ds === "green") return ds;
    if (ds === undefined && t.escalation_level > 0) return "red";
    if (t.status === "pending") return "pending";
    return "open";
  }
  function deadlineLabel(t, now) {
    const dl = ms(t.deadline);
    if (dl === null || V.isFinal(t.status)) return null;
    return dl <= now ? { text: "超 " + fmtDuration(now - dl), title: "超时 overdue by " + fmtDuration(now - dl), late: true }
      : { text: "剩 " + fmtDuration(dl - now), title: "剩余 left " + fmtDuration(dl - now), late: false };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Ingest: one place where API tickets and socket events enter, deduplicated by (ticket_no, version)
  // ---------------------------------------------------------------------------------------------------------
  function ingest(item, live) {
    if (!item || typeof item.ticket_no !== "string") return;
    const no = item.ticket_no;
    const key = no + "#" + item.version;
    const prev = tickets.get(no);
    const at = timeOf(item);
    if (at && (!lastChange || ms(at) > ms(lastChange))) lastChange = at;
    if (seen.has(key) || (prev && prev.version > item.version)) {
      // Same change seen already (socket and API overlap) or an older one arriving late: only fill in fields the
      // other source carries (an event has no description, an API ticket no `event`).
      if (prev && prev.version === item.version) {
        let filled = false;
        Object.keys(item).forEach(function (k) { if (prev[k] === undefined) { prev[k] = item[k]; filled = true; } });
        if (filled) scheduleRender();
      }
      return;
    }
    seen.add(key);
    const now = Date.now();
    const merged = Object.assign({}, prev || {}, item);
    if (!live) delete merged.event;
    merged._at = at;
    merged._fresh = live ? now : 0;
    const before = prev ? prev._sev : null;
    merged._sev = severity(merged, now);
    tickets.set(no, merged);
    updateMarker(merged);
    if (primed && merged._sev === "red" && before !== "red") alarm(merged, "overdue");
    else if (live && (item.event === "escalated" || item.event === "escalate") && item.actor !== me) alarm(merged, "escalated");
    if (drawerNo === no) refreshDrawerSoon();
    if (tickets.size > MAX_TICKETS) evict();
    scheduleRender();
  }

  function evict() {
    const old = Array.from(tickets.values()).filter(function (t) { return t._sev === "done"; })
      .sort(function (a, b) { return (ms(a._at) || 0) - (ms(b._at) || 0); });
    for (let i = 0; i < old.length && tickets.size > MAX_TICKETS; i++) {
      tickets.delete(old[i].ticket_no);
      removeMarker(old[i].ticket_no);
    }
  }

  // The clock moves deadlines from green to red without any event: re-evaluate every 15 s.
  function tick() {
    const now = Date.now();
    tickets.forEach(function (t) {
      const sev = severity(t, now);
      if (sev !== t._sev) {
        const before = t._sev;
        t._sev = sev;
        updateMarker(t);
        if (primed && sev === "red" && before !== "red") alarm(t, "overdue");
      }
    });
    scheduleRender();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Filters
  // ---------------------------------------------------------------------------------------------------------
  function inCategory(code, wanted) {
    let c = code;
    for (let guard = 0; c && guard < 8; guard++) {
      if (c === wanted) return true;
      const cat = categories.get(c);
      c = cat ? cat.parent : null;
    }
    return false;
  }
  function passes(t) {
    if (filters.status === "_open" && V.isFinal(t.status)) return false;
    if (filters.status && filters.status !== "_open" && t.status !== filters.status) return false;
    if (filters.district) {
      const d = t.area && t.area.district;
      if (!d || d.code !== filters.district) return false;
    }
    if (filters.unit && !(t.assignee && t.assignee.code === filters.unit)) return false;
    if (filters.category && !inCategory(t.category, filters.category)) return false;
    if (filters.deadline === "red" && t._sev !== "red") return false;
    if (filters.deadline === "yellow" && t._sev !== "yellow") return false;
    if (filters.deadline === "late" && t._sev !== "red" && t._sev !== "yellow") return false;
    return true;
  }
  function categoryName(code) {
    if (!code) return "未分类 Unclassified";
    const c = categories.get(code);
    return c ? c.name : code;
  }
  function unitName(a) { return a ? str(a.name || (units.get(a.code) || {}).name || a.code) : "—"; }
  function isUrgent(t) { return t.priority === "urgent"; }
  // In the narrow list column: the standard suffix of a 运管服 centre's name is shortened (full name in the title).
  function unitShort(a) { return unitName(a).replace("城市运行管理服务指挥中心", "运管指挥中心").replace("城市运行管理服务中心", "运管中心"); }
  function districtName(t) { const d = t.area && t.area.district; return d ? str(d.name || areaNames.get(d.code) || d.code) : "—"; }

  function onFiltersChanged(requery) {
    ["status", "district", "category", "unit", "deadline", "sort"].forEach(function (k) { filters[k] = $("f-" + k).value; });
    refilterMarkers();
    scheduleRender();
    if (requery) {
      // Narrow server-side too (contract parameters status/unit/district), so the filtered view is complete
      // even beyond the tickets already loaded; category and deadline are client-side only.
      const p = { status: filters.status === "_open" ? "" : filters.status, unit: filters.unit, district: filters.district };
      if (p.status || p.unit || p.district) loadTickets(p, 4).catch(reportError);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Rendering: stats, live list, pending queue, alert banner (coalesced into one frame)
  // ---------------------------------------------------------------------------------------------------------
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(function () { renderQueued = false; render(); });
  }

  const rowCache = new Map(); // ticket_no -> {sig, tr}
  function render() {
    const now = Date.now();
    const all = Array.from(tickets.values());
    let open = 0, pending = 0, yellow = 0, red = 0, done = 0;
    all.forEach(function (t) {
      if (t._sev === "done") done++; else open++;
      if (t.status === "pending") pending++;
      if (t._sev === "yellow") yellow++;
      if (t._sev === "red") red++;
    });
    $("stat-open").textContent = open;
    $("stat-pending").textContent = pending;
    $("stat-yellow").textContent = yellow;
    $("stat-red").textContent = red;
    $("stat-done").textContent = done;
    $("stat-red-box").classList.toggle("hot", red > 0);

    const shown = all.filter(passes);
    if (filters.sort === "urgent") {
      shown.sort(function (a, b) {
        return (SEV_RANK[a._sev] - SEV_RANK[b._sev]) || ((ms(a.deadline) || Infinity) - (ms(b.deadline) || Infinity))
          || ((ms(b._at) || 0) - (ms(a._at) || 0));
      });
    } else {
      shown.sort(function (a, b) { return (ms(b._at) || 0) - (ms(a._at) || 0); });
    }
    const rows = [];
    const keep = new Set();
    for (let i = 0; i < shown.length && i < MAX_ROWS; i++) {
      rows.push(listRow(shown[i], now));
      keep.add(shown[i].ticket_no);
    }
    rowCache.forEach(function (_, no) { if (!keep.has(no)) rowCache.delete(no); });
    setChildren($("tickets"), rows);
    $("f-count").textContent = "显示 " + Math.min(shown.length, MAX_ROWS) + " / " + all.length + " Showing";

    renderQueue(all, now);
    renderAlert(all, now);
    const unmapped = all.filter(function (t) { return !t.location && t._sev !== "done"; }).length;
    $("unmapped").textContent = unmapped ? "无坐标 No location: " + unmapped : "";
    if (!freshTimer && all.some(function (t) { return t._fresh && now - t._fresh < FRESH_MS; })) {
      freshTimer = setTimeout(function () { freshTimer = null; scheduleRender(); }, 1000);
    }
  }
  let freshTimer = null;

  function listRow(t, now) {
    const dl = deadlineLabel(t, now);
    const fresh = t._fresh && now - t._fresh < FRESH_MS;
    const sig = [t.version, t._sev, dl ? dl.text : "", fresh, !!t.border_check, categories.size, drawerNo === t.ticket_no].join("|");
    const cached = rowCache.get(t.ticket_no);
    if (cached && cached.sig === sig) return cached.tr;
    const tr = el("tr", "sev-" + t._sev + (fresh ? " fresh" : "") + (drawerNo === t.ticket_no ? " selected" : ""));
    tr.dataset.ticket = t.ticket_no;
    tr.tabIndex = 0;
    const noCell = el("td", "mono no", t.ticket_no);
    if (isUrgent(t)) noCell.classList.add("urgent");
    if (t.report_count > 1) noCell.title = "合并报告 merged reports: " + t.report_count;
    add(tr, noCell);
    const st = el("td");
    add(st, statusBadge(t.status));
    add(tr, st);
    const dtd = el("td", "deadline" + (dl && dl.late ? " late" : ""), dl ? dl.text : (t._sev === "red" ? "督办 escalated" : "—"));
    if (dl) dtd.title = dl.title;
    add(tr, dtd);
    const cat = el("td", null, categoryName(t.category));
    cat.title = str(t.category);
    add(tr, cat);
    const dist = el("td", null, districtName(t));
    if (t.border_check) {
      const chip = el("span", "chip border", "临界 border");
      chip.title = "靠近区界，请确认属地 Routed near a district border: confirm the area";
      add(dist, " ", chip);
    }
    add(tr, dist);
    const u = el("td", "unit", unitShort(t.assignee));
    u.title = unitName(t.assignee);
    add(tr, u);
    add(tr, el("td", "time", fmtTime(t._at)));
    rowCache.set(t.ticket_no, { sig: sig, tr: tr });
    return tr;
  }

  function statusBadge(status) {
    const pair = V.status(status);
    const b = el("span", "badge st-" + (V.isStatus(status) ? status : "other"));
    add(b, pair[0] + " ", el("span", "en", pair[1]));
    return b;
  }

  function renderQueue(all, now) {
    const queue = all.filter(function (t) { return t.status === "pending" && passes(t); })
      .sort(function (a, b) { return (ms(a.created_at || a._at) || 0) - (ms(b.created_at || b._at) || 0); });
    $("queue-count").textContent = queue.length;
    const keep = new Set();
    const items = queue.slice(0, MAX_QUEUE).map(function (t) { keep.add(t.ticket_no); return queueItem(t, now); });
    queueCache.forEach(function (_, no) { if (!keep.has(no)) queueCache.delete(no); });
    if (!items.length) items.push(emptyQueue);
    setChildren($("queue"), items);
  }
  const queueCache = new Map(); // ticket_no -> {sig, li}
  const emptyQueue = el("li", "empty", "暂无待处理工单 Nothing waiting");

  function queueItem(t, now) {
    const waitedAt = ms(t.created_at || t._at);
    const sig = [t.version, t._sev, waitedAt ? Math.floor((now - waitedAt) / 60000) : "", drawerNo === t.ticket_no, categories.size, areaNames.size].join("|");
    const cached = queueCache.get(t.ticket_no);
    if (cached && cached.sig === sig) return cached.li;
    const li = buildQueueItem(t, now);
    queueCache.set(t.ticket_no, { sig: sig, li: li });
    return li;
  }

  function buildQueueItem(t, now) {
    const li = el("li", "q-item sev-" + t._sev + (drawerNo === t.ticket_no ? " selected" : ""));
    li.dataset.ticket = t.ticket_no;
    li.tabIndex = 0;
    const head = el("div", "q-head");
    const waited = ms(t.created_at || t._at);
    add(head, el("span", "mono no", t.ticket_no), el("span", "q-cat", categoryName(t.category)), el("span", "q-dist", districtName(t)),
      el("span", "q-wait", waited ? "等待 " + fmtDuration(now - waited) + " waiting" : ""));
    add(li, head);
    const line = el("div", "q-line");
    if (!t.category) add(line, el("span", "chip", "未分类 no category"));
    if (!t.location) add(line, el("span", "chip", "无坐标 no coordinates"));
    if (!t.assignee) add(line, el("span", "chip", "无责任单位 no unit"));
    add(line, el("span", "q-text", t.address || t.description || ""));
    add(li, line);
    if (t.routing) add(li, routingLine(t.routing, "q-routing"));
    return li;
  }

  function routingLine(r, cls) {
    const div = el("div", cls);
    const m = ROUTING_METHOD[r.method] || [str(r.method), str(r.method)];
    add(div, el("span", "label", "定位 Routing: "), bi(m));
    if (r.distance_m !== null && r.distance_m !== undefined) add(div, " · " + Math.round(r.distance_m) + " m");
    if (r.border_m !== null && r.border_m !== undefined) add(div, " · 距区界 to district border: " + Math.round(r.border_m) + " m");
    const hits = Array.isArray(r.hits) ? r.hits : [];
    add(div, " · 命中 hits: " + (hits.length ? hits.map(function (c) { return areaNames.get(c) || c; }).join("、") : "无 none"));
    const cands = candidatesOf(r);
    if (cands.length) add(div, " · 候选 candidates: " + cands.join("；"));
    return div;
  }
  function candidatesOf(r) {
    const list = [].concat(Array.isArray(r.candidates) ? r.candidates : [], Array.isArray(r.geocode_candidates) ? r.geocode_candidates : []);
    return list.map(function (c) {
      if (c === null || typeof c !== "object") return str(c);
      const name = c.name || (c.unit && c.unit.name) || (c.area && c.area.name) || c.address || c.code || "";
      const extra = [];
      if (c.unit && c.unit.name && c.unit.name !== name) extra.push(c.unit.name);
      if (c.distance_m !== undefined && c.distance_m !== null) extra.push(Math.round(c.distance_m) + " m");
      if (c.score !== undefined && c.score !== null) extra.push("score " + c.score);
      return str(name) + (extra.length ? " (" + extra.join(", ") + ")" : "");
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Overdue alert: banner, beep (WebAudio, after the first user gesture), mute toggle
  // ---------------------------------------------------------------------------------------------------------
  let audioCtx = null;
  let muted = localStorage.getItem("yunguan.console.muted") === "1";
  let lastBeep = 0;
  let unacknowledged = 0;
  let lastAlarm = null;

  let justUnlocked = false; // the gesture that created the AudioContext is still going on (its click follows)
  function unlockAudio() {
    if (!audioCtx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      audioCtx = new AC();
      justUnlocked = true;
      setTimeout(function () { justUnlocked = false; }, 1000);
    }
    if (audioCtx.state === "suspended") audioCtx.resume().then(updateSoundButton, function () {});
    updateSoundButton();
  }
  // Only the texts change, never the button's nodes: replacing them between pointerdown and click loses the click.
  function updateSoundButton() {
    const b = $("sound");
    const state = !audioCtx ? ["locked", "启用声音", "Enable sound"] : muted ? ["muted", "静音", "Muted"] : ["on", "声音 开", "Sound on"];
    b.className = "sound " + state[0];
    $("sound-zh").textContent = state[1];
    $("sound-en").textContent = state[2];
    b.setAttribute("aria-pressed", String(!!audioCtx && !muted));
  }
  function beep(force) {
    if (!audioCtx || audioCtx.state !== "running" || (muted && !force)) return;
    const now = Date.now();
    if (!force && now - lastBeep < 3000) return;
    lastBeep = now;
    const t0 = audioCtx.currentTime + 0.02;
    [0, 0.28, 0.56].forEach(function (dt, i) {
      const osc = audioCtx.createOscillator();
      const gain = audioCtx.createGain();
      osc.type = "square";
      osc.frequency.value = i === 1 ? 660 : 988;
      gain.gain.setValueAtTime(0.0001, t0 + dt);
      gain.gain.exponentialRampToValueAtTime(0.18, t0 + dt + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.22);
      osc.connect(gain);
      gain.connect(audioCtx.destination);
      osc.start(t0 + dt);
      osc.stop(t0 + dt + 0.24);
    });
  }
  function alarm(t, why) {
    unacknowledged++;
    lastAlarm = { no: t.ticket_no, why: why };
    beep(false);
    scheduleRender();
  }
  function renderAlert(all, now) {
    const late = all.filter(function (t) { return t._sev === "red"; })
      .sort(function (a, b) { return (ms(a.deadline) || Infinity) - (ms(b.deadline) || Infinity); });
    const box = $("alert");
    box.hidden = late.length === 0 && !unacknowledged;
    box.classList.toggle("flash", unacknowledged > 0);
    document.body.classList.toggle("has-alert", !box.hidden);
    $("alert-count").textContent = late.length;
    const ALERT_ITEMS = 3;
    const items = late.slice(0, ALERT_ITEMS).map(function (t) {
      const dl0 = deadlineLabel(t, now);
      const sig = t.version + "|" + (dl0 ? dl0.text : "");
      const cached = alertCache.get(t.ticket_no);
      if (cached && cached.sig === sig) return cached.b;
      const b = el("button", "alert-item");
      b.type = "button";
      b.dataset.ticket = t.ticket_no;
      const dl = deadlineLabel(t, now);
      add(b, el("span", "mono", t.ticket_no), el("b", "late", dl ? " " + dl.text + " " : " "), categoryName(t.category));
      b.title = districtName(t) + " · " + unitName(t.assignee);
      alertCache.set(t.ticket_no, { sig: sig, b: b });
      return b;
    });
    if (alertCache.size > 50) alertCache.clear();
    if (late.length > ALERT_ITEMS) items.push(el("span", "more", "+" + (late.length - ALERT_ITEMS) + " 件 more"));
    if (lastAlarm && lastAlarm.why === "escalated") items.unshift(el("span", "why", "督办 Escalated: " + lastAlarm.no));
    setChildren($("alert-items"), items);
  }
  const alertCache = new Map();

  // ---------------------------------------------------------------------------------------------------------
  // Map: Leaflet, area polygons, clustered ticket markers
  // ---------------------------------------------------------------------------------------------------------
  const map = L.map("map", {
    zoomControl: true, attributionControl: false, zoomSnap: 0.25, minZoom: 5, maxZoom: 18, worldCopyJump: false,
  }).setView([43.88, 125.32], 9);
  const tileUrl = tileMeta ? tileMeta.content.trim() : "";
  if (tileUrl) {
    const attribution = tileAttrMeta ? tileAttrMeta.content.trim() : "";
    // Leaflet renders attributions as HTML: the configured text is escaped first.
    const safeAttribution = attribution.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    L.control.attribution({ prefix: false }).addTo(map);
    L.tileLayer(tileUrl, { maxZoom: 18, attribution: safeAttribution }).addTo(map);
    document.body.classList.add("has-tiles");
  }
  map.createPane("arealabels");
  new ResizeObserver(function () { map.invalidateSize(); }).observe($("map"));

  const areaLayers = {}; // level -> {layer, labels, loaded, empty}
  const LABEL_ZOOM = { district: 0, street: 12, community: 14, grid: 99 }; // finer names only when zoomed in
  const fineRenderer = L.canvas({ padding: 0.2 });

  function ringCentroid(ring) { // area-weighted centroid of a [lon, lat] ring, and its |area|
    let a = 0, x = 0, y = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += f; x += (ring[j][0] + ring[i][0]) * f; y += (ring[j][1] + ring[i][1]) * f;
    }
    if (Math.abs(a) < 1e-12) return null;
    return { lon: x / (3 * a), lat: y / (3 * a), area: Math.abs(a / 2) };
  }
  function labelPoint(geometry) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    let best = null;
    polys.forEach(function (p) { const c = p[0] && ringCentroid(p[0]); if (c && (!best || c.area > best.area)) best = c; });
    return best ? L.latLng(best.lat, best.lon) : null;
  }

  function drawAreas(level, fc) {
    const features = (fc && Array.isArray(fc.features)) ? fc.features : [];
    const coarse = level === "district";
    const layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
      interactive: false,
      renderer: coarse ? undefined : fineRenderer,
      style: function () {
        return coarse ? { color: "#5b7ca6", weight: 1.6, fillColor: "#1b2a40", fillOpacity: tileUrl ? 0.15 : 0.9 }
          : { color: level === "street" ? "#4f6f94" : "#3b5676", weight: level === "grid" ? 0.5 : 0.8, fill: false, dashArray: level === "street" ? null : "3 3" };
      },
    });
    const labels = L.layerGroup();
    features.forEach(function (f) {
      const p = f.properties || {};
      if (p.code) areaNames.set(p.code, str(p.name || p.code));
      if (coarse) districts.push({ code: p.code, name: str(p.name || p.code) });
      if (level === "grid" || !f.geometry) return; // too many grid cells to label
      const at = labelPoint(f.geometry);
      if (!at) return;
      const node = el("span", null, p.name || p.code); // a DOM node: Leaflet inserts it as is, never as HTML
      labels.addLayer(L.tooltip({ permanent: true, direction: "center", className: "area-label level-" + level, interactive: false, pane: "arealabels" })
        .setLatLng(at).setContent(node));
    });
    areaLayers[level] = { layer: layer, labels: labels, loaded: true, empty: features.length === 0 };
    return areaLayers[level];
  }

  function loadLevel(level) {
    const meta = LEVELS[level];
    return getJSON("/api/v1/areas?" + query({ level: level, simplify_m: meta.simplify })).then(function (fc) {
      return drawAreas(level, fc);
    });
  }

  function setLevel(button, on) {
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", String(on));
  }
  function toggleLevel(button) {
    const level = button.dataset.level;
    const meta = LEVELS[level];
    const note = $("map-note");
    const existing = areaLayers[level];
    if (existing && map.hasLayer(existing.layer)) {
      map.removeLayer(existing.layer);
      map.removeLayer(existing.labels);
      setLevel(button, false);
      return;
    }
    const show = function (entry) {
      if (entry.empty) {
        note.textContent = "暂无" + meta.zh + "边界 No " + meta.en.toLowerCase() + " boundaries loaded";
        button.classList.add("empty");
        setLevel(button, false);
        return;
      }
      note.textContent = "";
      entry.layer.addTo(map);
      if (map.getZoom() >= LABEL_ZOOM[level]) entry.labels.addTo(map);
      setLevel(button, true);
      districtsToBack();
    };
    if (existing) { show(existing); return; }
    note.textContent = "加载中 Loading " + meta.en.toLowerCase() + "…";
    loadLevel(level).then(show).catch(function (err) {
      note.textContent = meta.zh + "边界加载失败 Could not load " + meta.en.toLowerCase() + " boundaries (" + err.message + ")";
      setLevel(button, false);
    });
  }
  function districtsToBack() {
    Object.keys(areaLayers).forEach(function (lv) { if (lv === "district" && map.hasLayer(areaLayers[lv].layer)) areaLayers[lv].layer.bringToBack(); });
  }

  // Ticket markers, clustered. A cluster's ring shows the mix of its tickets' states (red share first) and a
  // pulsing red badge counts the late ones, so one late ticket among 600 is visible without painting all 600 red.
  const markers = new Map(); // ticket_no -> L.CircleMarker
  const SEV_ORDER = ["red", "yellow", "pending", "green", "open", "done"];
  const cluster = L.markerClusterGroup({
    chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45, disableClusteringAtZoom: 16,
    spiderfyOnMaxZoom: true, zoomToBoundsOnClick: true,
    iconCreateFunction: function (c) {
      const children = c.getAllChildMarkers();
      const counts = {};
      children.forEach(function (m) { const s = m.options.yunguanSev; counts[s] = (counts[s] || 0) + 1; });
      const n = children.length;
      const size = n < 10 ? 36 : n < 100 ? 44 : 54;
      const ring = el("div", "cl-ring");
      let from = 0;
      const stops = [];
      SEV_ORDER.forEach(function (s) {
        if (!counts[s]) return;
        const to = from + (counts[s] / n) * 100;
        stops.push(SEV_STYLE[s].fillColor + " " + from.toFixed(2) + "% " + to.toFixed(2) + "%");
        from = to;
      });
      // CSSOM, not a style attribute: allowed by the CSP's style-src 'self'.
      ring.style.background = "conic-gradient(" + stops.join(", ") + ")";
      add(ring, el("span", "cl-count", n));
      if (counts.red) add(ring, el("span", "cl-late", counts.red));
      return L.divIcon({ html: ring, className: "tk-cluster" + (counts.red ? " has-late" : ""), iconSize: L.point(size, size) });
    },
  });
  map.addLayer(cluster);

  function makeMarker(t) {
    const style = SEV_STYLE[t._sev] || SEV_STYLE.open;
    const m = L.circleMarker([t.location.lat, t.location.lon], {
      radius: style.radius, color: style.color, weight: style.weight, fillColor: style.fillColor, fillOpacity: t._sev === "done" ? 0.55 : 0.95,
      className: "tk-marker sev-" + t._sev, yunguanSev: t._sev, yunguanNo: t.ticket_no,
    });
    m.bindPopup(function () { return popupNode(tickets.get(t.ticket_no) || t); }, { maxWidth: 340, minWidth: 240, className: "tk-popup" });
    return m;
  }
  function updateMarker(t) {
    const existing = markers.get(t.ticket_no);
    const hasLoc = t.location && isFinite(t.location.lat) && isFinite(t.location.lon);
    if (existing) {
      const ll = existing.getLatLng();
      if (hasLoc && existing.options.yunguanSev === t._sev && ll.lat === t.location.lat && ll.lng === t.location.lon) {
        if (existing.isPopupOpen()) existing.setPopupContent(popupNode(t));
        return;
      }
      removeMarker(t.ticket_no);
    }
    if (!hasLoc) return;
    const m = makeMarker(t);
    markers.set(t.ticket_no, m);
    if (!passes(t)) return;
    if (markerBatch) markerBatch.push(m); else cluster.addLayer(m);
  }
  let markerBatch = null; // while a page of tickets is ingested: markers to add in one go
  function removeMarker(no) {
    const m = markers.get(no);
    if (!m) return;
    cluster.removeLayer(m);
    markers.delete(no);
  }
  function refilterMarkers() {
    cluster.clearLayers();
    const keep = [];
    markers.forEach(function (m, no) { const t = tickets.get(no); if (t && passes(t)) keep.push(m); });
    cluster.addLayers(keep);
  }

  function popupNode(t) {
    const box = el("div", "popup");
    const head = el("div", "p-head");
    add(head, el("strong", "mono", t.ticket_no), statusBadge(t.status));
    add(box, head);
    const sev = SEVERITY[t._sev];
    const dl = deadlineLabel(t, Date.now());
    add(box, el("div", "p-sev sev-" + t._sev, sev[0] + " " + sev[1] + (dl ? " · " + dl.title : "")));
    add(box, el("div", null, categoryName(t.category) + " · " + districtName(t)));
    add(box, el("div", "muted", "责任单位 Unit: " + unitName(t.assignee)));
    if (t.address) add(box, el("div", "p-text", t.address));
    if (t.description) add(box, el("div", "p-text", t.description));
    const b = el("button", "p-open", "详情 Details");
    b.type = "button";
    b.addEventListener("click", function () { openDrawer(t.ticket_no); });
    add(box, b);
    return box;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Detail drawer and actions
  // ---------------------------------------------------------------------------------------------------------
  let drawerTimer = null;
  let drawerSeq = 0;
  let drawerBusy = false;

  function openDrawer(no) {
    drawerNo = no;
    $("drawer").hidden = false;
    $("d-title").textContent = no;
    $("d-body").replaceChildren(el("p", "muted", "加载中 Loading…"));
    scheduleRender();
    return fetchDrawer(null);
  }
  function closeDrawer() {
    drawerNo = null;
    $("drawer").hidden = true;
    scheduleRender();
  }
  function refreshDrawerSoon() {
    if (drawerBusy) return; // the action's own response refreshes it
    clearTimeout(drawerTimer);
    drawerTimer = setTimeout(function () { if (drawerNo) fetchDrawer(null); }, 300);
  }
  function fetchDrawer(message) {
    const no = drawerNo;
    const seq = ++drawerSeq;
    return api("/api/v1/tickets/" + encodeURIComponent(no)).then(function (res) {
      if (seq !== drawerSeq || drawerNo !== no) return;
      if (!res.ok) {
        if (res.status === 401) sessionExpired();
        $("d-body").replaceChildren(el("p", "d-error", "无法加载工单 Could not load the ticket: " + errorText(res)));
        return;
      }
      const t = res.body;
      if (t && t.ticket_no === no && typeof t.version === "number") ingest(t, false);
      renderDrawer(t, message);
    }).catch(function (err) {
      if (seq === drawerSeq) $("d-body").replaceChildren(el("p", "d-error", "网络错误 Network error: " + err.message));
    });
  }

  function field(dl, label, value, cls) {
    add(dl, bi(label, "dt"), el("span", "dd" + (cls ? " " + cls : ""), value === null || value === undefined || value === "" ? "—" : value));
  }
  function section(title) {
    const s = el("section", "d-section");
    add(s, bi(title, "d-h"));
    return s;
  }

  let lastResult = null; // {no, msg, at}: shown again when a live event re-renders the drawer right after an action
  function renderDrawer(t, message) {
    const now = Date.now();
    const body0 = $("d-body");
    const sameTicket = body0.dataset.no === t.ticket_no;
    const prevUnit = $("d-unit"), prevNote = $("d-note");
    const prevCat = $("d-category");
    const keepInputs = sameTicket && prevUnit && prevNote && (!message || message.kind === "error")
      ? { unit: prevUnit.value, note: prevNote.value, category: prevCat ? prevCat.value : null } : null;
    if (message) lastResult = { no: t.ticket_no, msg: message, at: now };
    else if (lastResult && lastResult.no === t.ticket_no && now - lastResult.at < 10000) message = lastResult.msg;
    const sev = severity(t, now);
    const body = $("d-body");
    const parts = [];

    const top = el("div", "d-top");
    const sevPair = SEVERITY[sev];
    const dlab = deadlineLabel(t, now);
    add(top, statusBadge(t.status), el("span", "d-sev sev-" + sev, sevPair[0] + " " + sevPair[1] + (dlab ? " · " + dlab.text : "")));
    if (t.location) {
      const loc = el("button", "ghost small", "在地图上定位 Show on map");
      loc.type = "button";
      loc.addEventListener("click", function () { showOnMap(t.ticket_no); });
      add(top, loc);
    }
    parts.push(top);

    parts.push(actionPanel(t, message));

    const info = section(["概况", "Summary"]);
    const dl = el("div", "dl");
    field(dl, ["类别", "Category"], categoryName(t.category) + (t.category ? " (" + t.category + ")" : ""));
    const area = t.area || {};
    const levels = ["district", "street", "community", "grid"].map(function (k) { return area[k] && (area[k].name || area[k].code); }).filter(Boolean);
    field(dl, ["区域", "Area"], levels.join(" / "));
    field(dl, ["地址", "Address"], t.address);
    field(dl, ["责任单位", "Unit"], t.assignee ? unitName(t.assignee) : null);
    const assists = Array.isArray(t.assists) ? t.assists : [];
    if (assists.length) {
      field(dl, ["协办单位", "Assisting"], assists.map(function (a) { return unitName(typeof a === "object" && a ? a : { code: str(a) }); }).join("、"));
    }
    if (t.priority && t.priority !== "normal") field(dl, ["优先级", "Priority"], t.priority === "urgent" ? "加急 urgent" : t.priority, "late");
    if (t.report_count > 1) field(dl, ["合并报告", "Merged"], String(t.report_count));
    field(dl, ["处置时限", "Deadline"], t.deadline ? fmtTime(t.deadline) + (dlab ? " (" + dlab.title + ")" : "") : null, dlab && dlab.late ? "late" : "");
    field(dl, ["督办级别", "Escalation"], t.escalation_level ? String(t.escalation_level) : "0");
    field(dl, ["创建", "Created"], fmtTime(t.created_at));
    field(dl, ["更新", "Updated"], fmtTime(t.updated_at) + " · v" + t.version);
    add(info, dl);
    parts.push(info);

    const desc = section(["问题描述", "Description"]);
    add(desc, el("p", "d-text", t.description || "—"));
    parts.push(desc);

    if (t.routing) {
      const r = section(["定位说明", "Routing"]);
      add(r, routingLine(t.routing, "d-routing"));
      if (t.routing.rule) add(r, el("div", "muted", "规则 Rule: " + t.routing.rule));
      if (t.border_check) {
        add(r, el("div", "chip border", "靠近区界，待确认属地：确认或改派 Near a district border: confirm the area or reassign"));
      }
      parts.push(r);
    }

    const hist = section(["流转记录", "History"]);
    const ol = el("ol", "timeline");
    (Array.isArray(t.history) ? t.history : []).forEach(function (h) {
      const li = el("li");
      const a = V.action(h.action, "done");
      const line = el("div", "h-line");
      add(line, el("span", "h-time", fmtTime(h.at)), bi(a, "h-action"));
      if (h.from || h.to) add(line, el("span", "h-move", (h.from ? V.status(h.from)[0] : "") + " → " + (h.to ? V.status(h.to)[0] : "")));
      add(li, line);
      add(li, el("div", "muted", str(h.actor) + (h.party || h.role ? " · " + str(h.party || h.role) : "")));
      if (h.note) add(li, el("div", "h-note", h.note));
      const photos = attachmentRow(h.data && h.data.attachments);
      if (photos) add(li, photos);
      add(ol, li);
    });
    if (!ol.children.length) add(ol, el("li", "muted", "无记录 No history"));
    add(hist, ol);
    parts.push(hist);

    const reps = section(["来源报告", "Reports"]);
    const rl = el("ul", "reports");
    (Array.isArray(t.reports) ? t.reports : []).forEach(function (r) {
      const li = el("li");
      const ch = V.channel(r.channel);
      add(li, bi(ch, "r-ch"), el("span", "mono r-id", r.report_id), el("span", "r-time", fmtTime(r.reported_at)));
      const who = r.reporter || {};
      const whoText = [who.name, who.phone, who.id].filter(Boolean).map(str).join(" · ");
      if (whoText) add(li, el("div", "muted", "报告人 Reporter: " + whoText));
      const row = attachmentRow(r.attachments);
      if (row) add(li, row);
      add(rl, li);
    });
    if (!rl.children.length) add(rl, el("li", "muted", "无 None"));
    add(reps, rl);
    parts.push(reps);

    body.replaceChildren.apply(body, parts);
    body.dataset.no = t.ticket_no;
    if (keepInputs) {
      $("d-unit").value = keepInputs.unit;
      $("d-note").value = keepInputs.note;
      if (keepInputs.category !== null && $("d-category")) $("d-category").value = keepInputs.category;
    }
  }

  // Photos as thumbnails linking to the full file, only from this server (/media/<sha256>, staff only).
  function attachmentRow(list) {
    const att = Array.isArray(list) ? list : [];
    if (!att.length) return null;
    const row = el("div", "r-att");
    add(row, el("span", "muted", "附件 Attachments: "));
    att.forEach(function (a, i) {
      const href = safeHref(a && a.url);
      const type = str(a && a.media_type);
      const label = "#" + (i + 1) + " " + type;
      if (!href) { add(row, el("span", "muted", label + " ")); return; }
      const link = el("a");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.title = label;
      if (type.indexOf("image/") === 0) {
        const img = el("img", "thumb");
        img.src = href;
        img.alt = label;
        img.loading = "lazy";
        add(link, img);
      } else {
        link.textContent = label;
      }
      add(row, link, " ");
    });
    return row;
  }

  // Links only to this server's own files: a report's URL never becomes a javascript: or foreign link.
  function safeHref(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      const u = new URL(url, location.href);
      return u.origin === location.origin && (u.protocol === "http:" || u.protocol === "https:") ? u.href : null;
    } catch (e) { return null; }
  }

  function unitSelect(t) {
    const s = el("select", "d-unit");
    s.id = "d-unit";
    const none = el("option", null, "选择单位 Choose a unit");
    none.value = "";
    add(s, none);
    Array.from(units.values()).forEach(function (u) {
      const o = el("option", null, str(u.name) + " (" + str(u.code) + ")");
      o.value = u.code;
      add(s, o);
    });
    if (t.assignee && t.assignee.code) s.value = t.assignee.code;
    return s;
  }

  // 立案 needs a 小类 (six-digit code): grouped under their 大类 for the picker.
  function categorySelect(t) {
    const s = el("select", "d-category");
    s.id = "d-category";
    const none = el("option", null, "选择小类 Choose a category");
    none.value = "";
    add(s, none);
    const groups = new Map();
    categories.forEach(function (c) {
      if (!V.isSubclass(c)) return;
      const parent = categories.get(c.parent);
      const key = parent ? parent.code : "";
      if (!groups.has(key)) {
        const g = el("optgroup");
        g.label = parent ? str(parent.name) + " " + parent.code : "其他 Other";
        groups.set(key, g);
      }
      const o = el("option", null, str(c.name) + " " + c.code);
      o.value = c.code;
      add(groups.get(key), o);
    });
    Array.from(groups.keys()).sort().forEach(function (k) { add(s, groups.get(k)); });
    if (V.isSubclass(categories.get(t.category))) s.value = t.category;
    return s;
  }

  // The buttons of the command centre, in a fixed order (muscle memory on a wall screen). Which are enabled
  // comes from the ticket's `actions` (what this account may do now, from the API); without it, from the
  // served transition table's rows for the 值班长 (supervisor). `needs` are checked here first; the server
  // checks them again. Labels are the vocabulary's, but for the console's own two-step 立案并派遣.
  const BUTTONS = [
    { action: "register_dispatch", label: ["立案并派遣", "Register & dispatch"], cls: "primary", needs: ["category", "unit"] },
    { action: "preregister", needs: [] },
    { action: "register", needs: ["category"] },
    { action: "dispatch", cls: "primary", needs: ["unit"] },
    { action: "reassign", needs: ["unit", "note"] },
    { action: "add_assist", needs: ["unit"] },
    { action: "escalate", cls: "warn", needs: [] },
    { action: "reject", cls: "danger", needs: ["note"] },
    { action: "close", cls: "primary", needs: [] },
    { action: "comment", needs: ["note"] },
    { action: "confirm_area", cls: "primary", needs: [] },
  ].map(function (b) { return Object.assign({ label: b.label || V.action(b.action) }, b); });

  function allowedActions(t) {
    if (Array.isArray(t.actions)) return t.actions.map(String);
    return V.actionsFor(t.status, "supervisor");
  }

  function actionPanel(t, message) {
    const panel = el("section", "d-section actions");
    add(panel, bi(["操作", "Actions"], "d-h"));
    const allowed = allowedActions(t);
    const may = function (a) {
      return a === "register_dispatch" ? allowed.indexOf("register") >= 0 && t.status === "pending" : allowed.indexOf(a) >= 0;
    };
    const unit = unitSelect(t);
    const note = el("textarea", "d-note");
    note.id = "d-note";
    note.rows = 2;
    note.maxLength = 2000;
    note.placeholder = "理由 / 备注 Reason or note (required to reject, reassign, comment)";
    const inputs = el("div", "d-inputs");
    if (may("register") || may("preregister")) {
      const cl = el("label", "d-label");
      add(cl, bi(["小类", "Category"]), categorySelect(t));
      add(inputs, cl);
    }
    const ul = el("label", "d-label");
    add(ul, bi(["目标单位", "Unit"]), unit);
    const nl = el("label", "d-label");
    add(nl, bi(["理由 / 备注", "Reason / note"]), note);
    add(inputs, ul, nl);
    add(panel, inputs);

    const buttons = el("div", "d-buttons");
    const out = el("div", "d-result");
    out.setAttribute("role", "status");
    if (message) showResult(out, message);

    BUTTONS.forEach(function (spec) {
      const ok = may(spec.action);
      // Actions that do not fit this status at all are left out; the five everyday ones always show.
      const everyday = ["dispatch", "reassign", "add_assist", "escalate", "reject"].indexOf(spec.action) >= 0;
      if (!ok && !everyday) return;
      const b = el("button", "act " + (ok ? spec.cls || "" : ""));
      b.type = "button";
      b.dataset.action = spec.action;
      add(b, spec.label[0] + " ", el("span", "en", spec.label[1]));
      b.disabled = !ok;
      if (!ok) b.title = "当前不可用 Not available now (" + t.status + ")";
      b.addEventListener("click", function () {
        const catEl = $("d-category");
        const opts = { to_unit: unit.value, note: note.value.trim(), category: catEl ? catEl.value : "" };
        const problem = missing(spec, opts, t);
        if (problem) { showResult(out, { kind: "error", text: problem.text }); if (problem.focus) problem.focus.focus(); return; }
        runAction(t, spec.action, opts, buttons, out);
      });
      add(buttons, b);
    });
    add(panel, buttons, out);
    return panel;
  }

  function missing(spec, opts, t) {
    if (spec.needs.indexOf("category") >= 0 && !opts.category && !t.category) {
      return { text: "请选择小类 Choose a category first", focus: $("d-category") };
    }
    if (spec.needs.indexOf("unit") >= 0 && !opts.to_unit) return { text: "请选择单位 Choose a unit first", focus: $("d-unit") };
    if (spec.needs.indexOf("note") >= 0 && !opts.note) return { text: "请填写理由 A reason is required", focus: $("d-note") };
    if (spec.action === "reassign" && t.assignee && opts.to_unit === t.assignee.code) {
      return { text: "工单已在该单位 The ticket is already with this unit", focus: $("d-unit") };
    }
    if (spec.action === "add_assist" && t.assignee && opts.to_unit === t.assignee.code) {
      return { text: "协办单位不能是主办单位 The assisting unit must differ from the lead unit", focus: $("d-unit") };
    }
    return null;
  }

  function showResult(out, msg) {
    out.replaceChildren();
    out.className = "d-result " + msg.kind;
    add(out, el("div", "r-main", msg.text));
    (msg.details || []).forEach(function (d) { add(out, el("div", "r-detail", d)); });
  }

  const ERROR_HINT = {
    409: "工单已被他人更新，已重新加载，请确认后重试 The ticket changed meanwhile: reloaded, check and retry",
    403: "无权限 Not allowed for your account or outside your scope",
    422: "无法执行 Not possible in the ticket's current state, or a field is missing",
    401: "登录已过期，请刷新页面 Session expired: reload the page",
    404: "工单不存在 No such ticket",
  };

  function postAction(no, body) {
    return api("/api/v1/tickets/" + encodeURIComponent(no) + "/actions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  }
  const BODY_FIELDS = { to_unit: ["dispatch", "reassign", "add_assist"], category: ["register", "preregister"] };
  function actionBody(action, version, opts) {
    const b = { action: action, version: version };
    if (opts.note) b.note = opts.note;
    Object.keys(BODY_FIELDS).forEach(function (k) { if (opts[k] && BODY_FIELDS[k].indexOf(action) >= 0) b[k] = opts[k]; });
    return b;
  }
  function actionName(a) { return V.actionText(a); }
  function failure(res) {
    if (res.status === 401) sessionExpired();
    const e = (res.body && res.body.error) || {};
    const details = [];
    if (e.code || e.message) details.push(str(e.code) + (e.message ? ": " + str(e.message) : ""));
    if (e.fields && typeof e.fields === "object") {
      Object.keys(e.fields).forEach(function (k) { details.push(k + ": " + str(e.fields[k])); });
    }
    const allowed = e.allowed || (e.fields && Array.isArray(e.fields.allowed) ? e.fields.allowed : null);
    if (Array.isArray(allowed)) details.push("可执行 Allowed: " + (allowed.length ? allowed.map(actionName).join("、") : "无 none"));
    if (e.current_version !== undefined) details.push("当前版本 Current version: " + str(e.current_version));
    return { kind: "error", text: res.status + " · " + (ERROR_HINT[res.status] || "操作失败 The action failed"), details: details };
  }

  function runAction(t, action, opts, buttons, out) {
    const no = t.ticket_no;
    const steps = action === "register_dispatch" ? ["register", "dispatch"] : [action];
    Array.from(buttons.children).forEach(function (b) { b.disabled = true; });
    showResult(out, { kind: "busy", text: "提交中 Sending…" });
    drawerBusy = true;
    let version = t.version;
    const done = [];
    function step(i) {
      if (i >= steps.length) return Promise.resolve({ kind: "ok", text: "已完成 Done: " + done.join(" → ") });
      const a = steps[i];
      return postAction(no, actionBody(a, version, opts)).then(function (res) {
        if (!res.ok) {
          const f = failure(res);
          if (done.length) f.details.unshift("已完成 Done: " + done.join(" → "));
          return f;
        }
        done.push(actionName(a));
        if (res.body && typeof res.body.version === "number") {
          version = res.body.version;
          if (res.body.ticket_no === no) ingest(res.body, false);
        } else {
          version += 1;
        }
        return step(i + 1);
      });
    }
    step(0).catch(function (err) {
      return { kind: "error", text: "网络错误 Network error: " + err.message };
    }).then(function (msg) {
      drawerBusy = false;
      if (drawerNo === no) return fetchDrawer(msg);
      return null;
    });
  }

  function showOnMap(no) {
    const m = markers.get(no);
    if (!m) return;
    closeDrawer(); // the map needs its whole width; the popup's 详情 Details button comes back here
    if (!cluster.hasLayer(m)) cluster.addLayer(m);
    cluster.zoomToShowLayer(m, function () {
      // The drawer covers the right of the map: bring the marker to the middle of the part still visible.
      const drawer = $("drawer");
      const covered = drawer.hidden ? 0 : drawer.offsetWidth;
      const size = map.getSize();
      const target = L.point((size.x - covered) / 2, size.y / 2 + 60);
      map.panBy(map.latLngToContainerPoint(m.getLatLng()).subtract(target), { animate: false });
      m.openPopup();
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Socket.IO: live events, and the gap filled through the API after every reconnect
  // ---------------------------------------------------------------------------------------------------------
  const conn = $("conn");
  let expired = false;
  function setConn(text, on) {
    if (expired) return;
    conn.textContent = text;
    conn.className = "conn " + (on ? "on" : "off");
  }
  // The page's token is signed per server key and re-checked on every use: after a restart with a new key, a
  // disabled account or 12 hours, every call fails. A wall screen must say so rather than silently go stale.
  function sessionExpired() {
    if (expired) return;
    setConn("登录已失效 Session expired", false);
    expired = true;
    const a = el("a", "conn off relogin", "登录已失效，重新登录 Session expired: log in again");
    a.href = "/login?next=/console";
    conn.replaceWith(a);
  }
  let initial = null; // the first load's promise
  let connects = 0;

  function fillGap() {
    // `since` is inclusive and the dedup key is (ticket_no, version): re-reading a little too much is harmless.
    const since = lastChange ? new Date(ms(lastChange) - GAP_MARGIN_MS).toISOString() : null;
    const p = since ? { since: since } : {};
    return loadTickets(p, 10).then(function () { setConn("实时 Live", true); });
  }

  function startSocket() {
    const socket = io("/console", { auth: { token: token }, transports: ["websocket", "polling"] });
    socket.on("connect", function () {
      connects++;
      setConn(connects > 1 ? "同步中 Resyncing…" : "实时 Live", connects === 1);
      // Events committed between the first page load and this connect, or while disconnected, come from the API.
      Promise.resolve(initial).then(fillGap).catch(function (err) {
        setConn("同步失败 Resync failed", false);
        reportError(err);
      });
    });
    socket.on("disconnect", function (reason) {
      setConn("已断开 Disconnected", false);
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 3000);
    });
    socket.on("connect_error", function (err) {
      if (/token/i.test(err.message)) { sessionExpired(); return; } // refused: the token is no longer valid
      setConn("连接失败 Connection failed: " + err.message, false);
    });
    socket.on("ticket", function (event) { ingest(event, true); });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------------------------
  function reportError(err) {
    const note = $("map-note");
    note.textContent = "加载失败 Load failed: " + (err && err.message ? err.message : String(err));
  }

  function fillSelect(id, options) {
    const s = $(id);
    options.forEach(function (o) {
      const opt = el("option", null, o.label);
      opt.value = o.value;
      add(s, opt);
    });
  }

  function clickedTicket(e) {
    const hit = e.target.closest("[data-ticket]");
    return hit ? hit.dataset.ticket : null;
  }
  function onTicketActivate(e) {
    if (e.type === "keydown" && e.key !== "Enter" && e.key !== " ") return;
    const no = clickedTicket(e);
    if (no) { e.preventDefault(); openDrawer(no); }
  }

  function clock() {
    const d = new Date();
    $("clock").textContent = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function init() {
    fillSelect("f-status", [{ value: "_open", label: "未结 All open" }].concat(V.statusCodes.map(function (k) {
      return { value: k, label: V.statusText(k) };
    })));
    ["f-status", "f-district", "f-unit"].forEach(function (id) { $(id).addEventListener("change", function () { onFiltersChanged(true); }); });
    ["f-category", "f-deadline", "f-sort"].forEach(function (id) { $(id).addEventListener("change", function () { onFiltersChanged(false); }); });
    $("filters").addEventListener("reset", function () { setTimeout(function () { onFiltersChanged(false); }, 0); });
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); });

    ["tickets", "queue", "alert-items"].forEach(function (id) {
      $(id).addEventListener("click", onTicketActivate);
      $(id).addEventListener("keydown", onTicketActivate);
    });
    $("d-close").addEventListener("click", closeDrawer);
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && drawerNo) closeDrawer(); });

    $("alert-ack").addEventListener("click", function () { unacknowledged = 0; lastAlarm = null; scheduleRender(); });
    $("alert-only").addEventListener("click", function () {
      $("f-deadline").value = "red";
      $("f-sort").value = "urgent";
      onFiltersChanged(false);
    });
    document.addEventListener("pointerdown", unlockAudio, true);
    document.addEventListener("keydown", unlockAudio, true);
    $("sound").addEventListener("click", function () {
      const first = justUnlocked || !audioCtx; // the first gesture turns sound on, later ones toggle it
      unlockAudio();
      justUnlocked = false;
      muted = first ? false : !muted;
      localStorage.setItem("yunguan.console.muted", muted ? "1" : "0");
      updateSoundButton();
      if (!muted) setTimeout(function () { beep(true); }, 50); // a test tone: the operator hears that it works
    });
    updateSoundButton();

    document.querySelectorAll(".map-tools .level").forEach(function (b) {
      b.addEventListener("click", function () { toggleLevel(b); });
    });
    map.on("zoomend", function () {
      Object.keys(areaLayers).forEach(function (lv) {
        const e = areaLayers[lv];
        if (lv === "district" || !map.hasLayer(e.layer)) return;
        const want = map.getZoom() >= LABEL_ZOOM[lv];
        if (want && !map.hasLayer(e.labels)) e.labels.addTo(map);
        if (!want && map.hasLayer(e.labels)) map.removeLayer(e.labels);
      });
    });

    const districtsLoaded = loadLevel("district").then(function (entry) {
      entry.layer.addTo(map);
      entry.labels.addTo(map);
      entry.layer.bringToBack();
      if (!entry.empty) map.fitBounds(entry.layer.getBounds(), { padding: [16, 16] });
      else $("map-note").textContent = "暂无区县边界 No district boundaries loaded";
      districts.sort(function (a, b) { return a.code < b.code ? -1 : 1; });
      fillSelect("f-district", districts.map(function (d) { return { value: d.code, label: d.name + " " + d.code }; }));
    }).catch(reportError);

    const catsLoaded = getJSON("/api/v1/categories").then(function (list) {
      (list || []).forEach(function (c) { categories.set(c.code, c); });
      const depth = function (c) { let n = 0, p = c.parent; while (p && n < 6) { n++; p = (categories.get(p) || {}).parent; } return n; };
      fillSelect("f-category", (list || []).map(function (c) {
        return { value: c.code, label: "\u3000".repeat(depth(c)) + str(c.name) + " " + str(c.code) };
      }));
    }).catch(reportError);

    const unitsLoaded = getJSON("/api/v1/units").then(function (list) {
      (list || []).forEach(function (u) { units.set(u.code, u); });
      fillSelect("f-unit", (list || []).map(function (u) { return { value: u.code, label: str(u.name) }; }));
    }).catch(reportError);

    // The newest tickets (closed ones too), and every ticket that is still open: the queue and the late ones
    // must be complete even when they are old.
    initial = Promise.all([loadTickets({}, 2)].concat(ACTIVE.map(function (s) { return loadTickets({ status: s }, ACTIVE_PAGES); }))).then(function () {
      primed = true;
    }).catch(function (err) { primed = true; reportError(err); });

    Promise.all([districtsLoaded, catsLoaded, unitsLoaded]).then(function () { rowCache.clear(); scheduleRender(); });
    startSocket();
    clock();
    setInterval(clock, 1000);
    setInterval(tick, 15000);
    intakeHealth();
    setInterval(intakeHealth, 15000);
  }

  // Intake health: the same verdict as `yunguan status` and /readyz (worker heartbeats, broker, database), so
  // a stalled intake is on the duty officer's screen within a minute, with the reason.
  function intakeHealth() {
    fetch("/readyz", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      var box = $("intake-health");
      if (res.ok) { box.hidden = true; return; }
      var checks = (res.body && res.body.checks) || {};
      var reasons = Object.keys(checks).filter(function (k) { return checks[k] !== "ok"; }).map(function (k) {
        return (HEALTH_NAMES[k] || k) + "：" + checks[k];
      });
      $("intake-health-text").textContent = reasons.join("；") || "未就绪";
      box.hidden = false;
    }).catch(function () {
      $("intake-health-text").textContent = "无法连接服务器";
      $("intake-health").hidden = false;
    });
  }
  var HEALTH_NAMES = { database: "数据库", broker: "消息队列", intake: "受理通道" };

  init();
})();
