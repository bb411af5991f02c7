// Grid worker's phone page: report with the device's position (WGS-84) and photos; verify handled tickets
// of the own grid cell.
(function () {
  "use strict";
  const Y = window.Yunguan;
  const $ = (id) => document.getElementById(id);
  let location = null;
  let categories = [];
  const names = {};

  document.querySelectorAll(".tabs button").forEach(function (b) {
    b.addEventListener("click", function () {
      document.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("active", x === b));
      $("tab-report").hidden = b.dataset.tab !== "report";
      $("tab-tasks").hidden = b.dataset.tab !== "tasks";
      if (b.dataset.tab === "tasks") loadTasks();
    });
  });

  function fillCategories(filter) {
    const select = $("category");
    select.textContent = "";
    categories.filter((c) => !filter || c.name.includes(filter) || c.code.startsWith(filter)).forEach(function (c) {
      const o = Y.el("option", c.name + " · " + c.code); o.value = c.code; select.appendChild(o);
    });
  }
  Y.api("/api/v1/categories").then(function (res) {
    categories = (res.data || []).filter((c) => Y.V.isSubclass(c));
    categories.forEach((c) => { names[c.code] = c.name; });
    fillCategories("");
  });
  $("cat-search").addEventListener("input", (ev) => fillCategories(ev.target.value.trim()));

  $("locate").addEventListener("click", function () {
    $("located").textContent = "定位中… / locating…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      location = { lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84" };
      $("located").textContent = "已定位 " + location.lat.toFixed(5) + ", " + location.lon.toFixed(5) +
        " (±" + Math.round(pos.coords.accuracy) + " m)";
    }, (err) => { $("located").textContent = "定位失败 / " + err.message; }, { enableHighAccuracy: true, timeout: 15000 });
  });

  $("grid-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const problems = [];
    if (!$("category").value) problems.push("请选择类别 / choose a category");
    if (!location) problems.push("请先定位 / locate first");
    $("form-error").textContent = problems.join(" · ");
    $("form-error").hidden = problems.length === 0;
    if (problems.length) return;
    const rid = sessionStorage.getItem("grid-report-id") || ("G" + Date.now().toString(36).toUpperCase() + "-" +
      Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join(""));
    sessionStorage.setItem("grid-report-id", rid);
    const report = { report_id: rid, channel: "grid", reported_at: new Date().toISOString(), category: $("category").value,
      description: $("description").value.trim() || null, location: location };
    const files = $("photos").files;
    let options;
    if (files.length) {
      const form = new FormData();
      form.append("report", JSON.stringify(report));
      Array.from(files).forEach((f) => form.append("photos", f, f.name));
      options = { method: "POST", body: form };
    } else {
      options = { method: "POST", json: report };
    }
    $("submit").disabled = true;
    Y.api("/api/v1/reports", options).then(function (res) {
      $("submit").disabled = false;
      if (res.status === 202) {
        sessionStorage.removeItem("grid-report-id");
        $("sent").textContent = "已上报 Sent: " + res.data.report_id;
        $("grid-form").reset(); location = null; $("located").textContent = "";
        return;
      }
      const e = res.data.error || {};
      $("form-error").textContent = (e.message || ("HTTP " + res.status)) + " " +
        Object.keys(e.fields || {}).map((k) => k + ": " + e.fields[k]).join(" · ");
      $("form-error").hidden = false;
    });
  });

  function loadTasks() {
    Y.api("/api/v1/tickets?status=handled&limit=100").then(function (res) {
      const list = $("tasks");
      list.textContent = "";
      const items = res.data.items || [];
      $("task-count").textContent = items.length;
      if (!items.length) list.appendChild(Y.el("li", "暂无核查任务 / Nothing to verify", "hint"));
      items.forEach(function (t) {
        const li = Y.el("li", null, "card task");
        li.dataset.ticket = t.ticket_no;
        const box = Y.el("div");
        li.appendChild(box);
        list.appendChild(li);
        Y.api("/api/v1/tickets/" + encodeURIComponent(t.ticket_no)).then(function (r) {
          Y.renderDetail(box, r.data, () => loadTasks(), names);
        });
      });
    });
  }
  loadTasks();
})();
