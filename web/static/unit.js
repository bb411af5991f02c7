// Department workbench: the unit's queue ordered by deadline, live over Socket.IO (room unit:<code>).
(function () {
  "use strict";
  const Y = window.Yunguan;
  const queue = document.getElementById("queue");
  const detail = document.getElementById("detail");
  const OPEN = Y.V.unitQueueStatuses; // what the unit holds, and what it handled until that is verified
  const tickets = new Map();
  let categories = {};
  let selected = null;

  function card(t) {
    const li = Y.el("li", null, "card " + (t.deadline_state || "none"));
    li.dataset.ticket = t.ticket_no;
    li.tabIndex = 0;
    li.appendChild(Y.el("span", t.ticket_no, "mono"));
    li.appendChild(Y.el("span", Y.V.statusText(t.status), "badge s-" + t.status));
    li.appendChild(Y.el("span", categories[t.category] || t.category || "", "cat"));
    li.appendChild(Y.el("span", "期限 " + Y.when(t.deadline), "deadline"));
    li.addEventListener("click", () => open(t.ticket_no));
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(t.ticket_no); });
    return li;
  }

  function draw() {
    queue.textContent = "";
    Array.from(tickets.values()).filter((t) => OPEN.includes(t.status))
      .sort((a, b) => (a.deadline || "9999").localeCompare(b.deadline || "9999"))
      .forEach((t) => queue.appendChild(card(t)));
  }

  function open(no) {
    selected = no;
    Y.api("/api/v1/tickets/" + encodeURIComponent(no)).then(function (res) {
      if (res.status !== 200 || !res.data.actions) { detail.textContent = "已不在本单位 / No longer with this unit"; return; }
      tickets.set(no, res.data);
      Y.renderDetail(detail, res.data, function (updated) {
        if (updated && updated.ticket_no) tickets.set(updated.ticket_no, updated);
        load().then(() => open(no));
      }, categories);
      draw();
    });
  }

  function load() {
    return Y.api("/api/v1/tickets?limit=200").then(function (res) {
      (res.data.items || []).forEach((t) => tickets.set(t.ticket_no, Object.assign(tickets.get(t.ticket_no) || {}, t)));
      draw();
    });
  }

  Y.api("/api/v1/categories").then(function (res) {
    (res.data || []).forEach((c) => { categories[c.code] = c.name; });
  }).then(load);

  const socket = io("/console", { auth: { token: Y.token }, transports: ["websocket", "polling"] });
  const conn = document.getElementById("conn");
  socket.on("connect", () => { conn.textContent = "实时 Live"; conn.className = "conn on"; load(); });
  socket.on("disconnect", () => { conn.textContent = "已断开 Offline"; conn.className = "conn off"; });
  socket.on("ticket", function (e) {
    const prev = tickets.get(e.ticket_no);
    if (prev && prev.version > e.version) return;
    tickets.set(e.ticket_no, Object.assign(prev || {}, e));
    draw();
    if (selected === e.ticket_no) open(e.ticket_no);
  });
})();
