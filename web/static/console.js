// Command-centre console: district map and live ticket list.
// Every value from a report is inserted with textContent, never as HTML.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="yunguan-token"]').content;
  const headers = { Authorization: "Bearer " + token };
  const tbody = document.getElementById("tickets");
  const svg = document.getElementById("map");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUS_ZH = {
    pending: "待处理", registered: "已立案", dispatched: "已派遣", acknowledged: "已签收",
    handled: "已处置", verified: "已核查", closed: "已结案", returned: "已退回",
    rejected: "不予立案", suspended: "挂账", reopened: "返工",
  };
  const tickets = new Map(); // ticket_no -> latest ticket/event
  let project = null;
  const MAX_ROWS = 200;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function statusClass(s) { return s === "dispatched" || s === "pending" ? s : "other"; }

  function row(t) {
    const tr = el("tr");
    tr.dataset.ticket = t.ticket_no;
    tr.appendChild(el("td", t.ticket_no, "mono"));
    const st = el("td");
    st.appendChild(el("span", (STATUS_ZH[t.status] || t.status) + " " + t.status, "badge " + statusClass(t.status)));
    tr.appendChild(st);
    tr.appendChild(el("td", t.category || "未分类 unclassified"));
    const d = t.area && t.area.district;
    tr.appendChild(el("td", d ? d.name : "—"));
    tr.appendChild(el("td", t.assignee ? t.assignee.name : "—"));
    const at = t.at || t.updated_at || t.created_at;
    tr.appendChild(el("td", at ? new Date(at).toLocaleTimeString("zh-CN", { hour12: false }) : ""));
    return tr;
  }

  function upsert(t, fresh) {
    const prev = tickets.get(t.ticket_no);
    if (prev && prev.version > t.version) return; // an older event arriving late
    tickets.set(t.ticket_no, t);
    const old = tbody.querySelector('tr[data-ticket="' + CSS.escape(t.ticket_no) + '"]');
    const tr = row(t);
    if (fresh) tr.classList.add("fresh");
    if (old) old.replaceWith(tr); else tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.children.length > MAX_ROWS) tbody.removeChild(tbody.lastChild);
    drawTicket(t);
    updateStats();
  }

  function updateStats() {
    let pending = 0, dispatched = 0;
    tickets.forEach(function (t) {
      if (t.status === "pending") pending++;
      if (t.status === "dispatched") dispatched++;
    });
    document.getElementById("stat-total").textContent = tickets.size;
    document.getElementById("stat-pending").textContent = pending;
    document.getElementById("stat-dispatched").textContent = dispatched;
  }

  function ringsOf(geometry) {
    if (geometry.type === "Polygon") return geometry.coordinates;
    if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
    return [];
  }

  function drawAreas(fc) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    fc.features.forEach(function (f) {
      ringsOf(f.geometry).forEach(function (ring) {
        ring.forEach(function (p) {
          minX = Math.min(minX, p[0]); maxX = Math.max(maxX, p[0]);
          minY = Math.min(minY, p[1]); maxY = Math.max(maxY, p[1]);
        });
      });
    });
    if (!isFinite(minX)) return;
    const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    const w = (maxX - minX) * k, h = maxY - minY;
    const W = 1000, H = Math.round(1000 * h / w);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    project = function (lon, lat) { return [(lon - minX) * k / w * W, (maxY - lat) / h * H]; };
    const areas = document.createElementNS(SVG_NS, "g");
    const labels = document.createElementNS(SVG_NS, "g");
    fc.features.forEach(function (f) {
      const path = document.createElementNS(SVG_NS, "path");
      let d = "", sx = 0, sy = 0, n = 0;
      ringsOf(f.geometry).forEach(function (ring) {
        ring.forEach(function (p, i) {
          const xy = project(p[0], p[1]);
          d += (i === 0 ? "M" : "L") + xy[0].toFixed(1) + "," + xy[1].toFixed(1);
          sx += xy[0]; sy += xy[1]; n++;
        });
        d += "Z";
      });
      path.setAttribute("d", d);
      path.setAttribute("class", "area");
      const title = document.createElementNS(SVG_NS, "title");
      title.textContent = f.properties.name + " " + f.properties.code;
      path.appendChild(title);
      areas.appendChild(path);
      const label = document.createElementNS(SVG_NS, "text");
      label.setAttribute("x", (sx / n).toFixed(1));
      label.setAttribute("y", (sy / n).toFixed(1));
      label.setAttribute("class", "area-label");
      label.textContent = f.properties.name;
      labels.appendChild(label);
    });
    svg.appendChild(areas);
    svg.appendChild(labels);
    const dots = document.createElementNS(SVG_NS, "g");
    dots.id = "dots";
    svg.appendChild(dots);
    tickets.forEach(drawTicket);
  }

  function drawTicket(t) {
    const dots = document.getElementById("dots");
    if (!project || !dots || !t.location) return;
    let c = dots.querySelector('[data-ticket="' + CSS.escape(t.ticket_no) + '"]');
    if (!c) {
      c = document.createElementNS(SVG_NS, "circle");
      c.dataset.ticket = t.ticket_no;
      c.appendChild(document.createElementNS(SVG_NS, "title"));
      dots.appendChild(c);
    }
    const xy = project(t.location.lon, t.location.lat);
    c.setAttribute("cx", xy[0].toFixed(1));
    c.setAttribute("cy", xy[1].toFixed(1));
    c.setAttribute("r", "5");
    c.setAttribute("class", "ticket " + statusClass(t.status));
    c.firstChild.textContent = t.ticket_no + " · " + (t.category || "") + " · " + t.status;
  }

  function fetchJSON(url) {
    return fetch(url, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(url + " → " + r.status);
      return r.json();
    });
  }

  let lastSeen = null;
  function loadTickets(since) {
    const q = since ? "?limit=200&since=" + encodeURIComponent(since) : "?limit=200";
    return fetchJSON("/api/v1/tickets" + q).then(function (page) {
      page.items.slice().reverse().forEach(function (t) { upsert(t, false); });
    });
  }

  fetchJSON("/api/v1/areas?level=district&simplify_m=80").then(drawAreas).catch(console.error);
  loadTickets(null).catch(console.error);

  const conn = document.getElementById("conn");
  const socket = io("/console", { auth: { token: token }, transports: ["websocket", "polling"] });
  socket.on("connect", function () {
    conn.textContent = "实时 Live";
    conn.className = "conn on";
    if (lastSeen) loadTickets(lastSeen).catch(console.error); // fill the gap while disconnected
  });
  socket.on("disconnect", function () {
    conn.textContent = "已断开 Disconnected";
    conn.className = "conn off";
    lastSeen = new Date(Date.now() - 5000).toISOString();
  });
  socket.on("connect_error", function (err) {
    conn.textContent = "连接失败 " + err.message;
    conn.className = "conn off";
  });
  socket.on("ticket", function (event) { upsert(event, true); });
})();
