// Status look-up for residents: by report number (public channel) or ticket number. No personal data is
// returned by the API for this view; everything is inserted as text. Labels are the vocabulary's words for
// residents (vocabulary.js: the "public" variant where it differs from the staff's).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const V = window.YunguanVocabulary;
  const TICKET_NO = /^[A-Z]{1,8}\d{8}-\d{3,}$/;

  function fail(message) { $("track-error").textContent = message; $("track-error").hidden = false; $("result").hidden = true; }

  // Look-ups are limited per address (429 with Retry-After): say so instead of showing an empty result.
  function trouble(r) {
    if (r.status === 429) return "查询太频繁，请稍后再试 / Too many look-ups, try again in a minute";
    return "查询失败 (HTTP " + r.status + ") / Look-up failed";
  }

  function show(t) {
    $("track-error").hidden = true;
    $("r-ticket").textContent = t.ticket_no;
    $("r-status").textContent = V.statusText(t.status, "public");
    const list = $("r-history");
    list.textContent = "";
    (t.history || []).forEach(function (h) {
      const li = document.createElement("li");
      const when = document.createElement("time");
      when.textContent = new Date(h.at).toLocaleString("zh-CN", { hour12: false });
      li.appendChild(when);
      li.appendChild(document.createTextNode(" " + V.actionText(h.action, "public")));
      list.appendChild(li);
    });
    $("result").hidden = false;
  }

  function byTicket(no) {
    return fetch("/api/v1/tickets/" + encodeURIComponent(no)).then(function (r) {
      if (r.status === 404) return fail("没有找到该工单 / No such ticket");
      if (!r.ok) return fail(trouble(r));
      return r.json().then(show);
    });
  }

  function lookUp(q) {
    q = q.trim();
    if (!q) return;
    if (TICKET_NO.test(q)) return byTicket(q);
    fetch("/api/v1/reports/public/" + encodeURIComponent(q)).then(function (r) {
      if (r.status === 404) return fail("尚未查到，刚提交的反映需要几秒钟 / Not found yet — a new report takes a few seconds");
      if (!r.ok) return fail(trouble(r));
      return r.json().then(function (s) {
        if (s.ticket_no) return byTicket(s.ticket_no);
        fail("已收到，正在处理 / Received, being processed");
      });
    }).catch(() => fail("网络错误 / Network error"));
  }

  $("track-form").addEventListener("submit", function (ev) { ev.preventDefault(); lookUp($("q").value); });
  if ($("q").value) lookUp($("q").value);
})();
