// Residents' report form. Sends JSON, or multipart (field "report" + files "photos") when photos are attached.
// The report id is made here and kept until the server accepted it, so a retry after a network error is
// the same report (the API accepts the same id and body once).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const V = window.YunguanVocabulary;
  const form = $("report-form"), errorBox = $("form-error"), submit = $("submit");
  let location = null;

  function newReportId() {
    const bytes = new Uint8Array(6);
    crypto.getRandomValues(bytes);
    const d = new Date();
    const ymd = String(d.getFullYear()).slice(2) + String(d.getMonth() + 1).padStart(2, "0") + String(d.getDate()).padStart(2, "0");
    return "R" + ymd + "-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
  }

  function showError(lines) {
    errorBox.textContent = "";
    lines.forEach(function (line) { const p = document.createElement("div"); p.textContent = line; errorBox.appendChild(p); });
    errorBox.hidden = lines.length === 0;
  }

  fetch("/api/v1/categories").then((r) => r.json()).then(function (cats) {
    const select = $("category");
    cats.filter((c) => V.isSubclass(c)).sort((a, b) => a.code.localeCompare(b.code)).forEach(function (c) {
      const o = document.createElement("option");
      o.value = c.code;
      o.textContent = c.name;
      select.appendChild(o);
    });
  });

  $("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { $("located").textContent = "此浏览器不支持定位 / no geolocation"; return; }
    $("located").textContent = "定位中… / locating…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      location = { lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84" }; // browsers report WGS-84
      $("located").textContent = "已定位 Located: " + location.lat.toFixed(5) + ", " + location.lon.toFixed(5);
    }, function (err) {
      $("located").textContent = "无法定位，请填写地址 / no location: " + err.message;
    }, { enableHighAccuracy: true, timeout: 15000 });
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const description = $("description").value.trim();
    const address = $("address").value.trim();
    const problems = [];
    if (!description) problems.push("请描述问题 / Please describe the problem");
    if (!location && !address) problems.push("请定位或填写地址 / Use your location or type an address");
    const files = $("photos").files;
    if (files.length > 6) problems.push("最多 6 张照片 / At most 6 photos");
    showError(problems);
    if (problems.length) return;

    const reportId = sessionStorage.getItem("pending-report-id") || newReportId();
    sessionStorage.setItem("pending-report-id", reportId);
    const phone = $("phone").value.trim();
    const report = {
      report_id: reportId, channel: "public", reported_at: new Date().toISOString(),
      category: $("category").value || null, description: description,
      location: location, address: address || null, reporter: phone ? { phone: phone } : null,
    };
    let body, headers = {};
    if (files.length) {
      body = new FormData();
      body.append("report", JSON.stringify(report));
      Array.from(files).forEach((f) => body.append("photos", f, f.name));
    } else {
      body = JSON.stringify(report);
      headers["Content-Type"] = "application/json";
    }
    submit.disabled = true;
    fetch("/api/v1/reports", { method: "POST", body: body, headers: headers }).then(function (r) {
      return r.json().catch(() => ({})).then(function (data) {
        if (r.status === 202) {
          sessionStorage.removeItem("pending-report-id");
          form.hidden = true;
          $("receipt").textContent = data.report_id;
          $("track-link").href = "/track?q=" + encodeURIComponent(data.report_id);
          $("done").hidden = false;
          return;
        }
        const e = data.error || {};
        const lines = [(e.message || ("HTTP " + r.status))];
        Object.keys(e.fields || {}).forEach((k) => lines.push(k + ": " + e.fields[k]));
        if (r.status === 429) lines.unshift("提交太频繁，请稍后再试 / Too many reports, try again later");
        if (r.status === 503) lines.unshift("系统繁忙，请稍后重试（已保留本次内容）/ Busy, please retry");
        if (r.status === 422 && e.code === "report_id_conflict") sessionStorage.removeItem("pending-report-id");
        showError(lines);
      });
    }).catch(function () {
      showError(["网络错误，请重试（重试不会重复提交）/ Network error; retrying will not submit twice"]);
    }).finally(function () { submit.disabled = false; });
  });
})();
