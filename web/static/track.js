// Status look-up for residents: by report number (public channel) or ticket number. No personal data is
// returned by the API for this view; everything is inserted as text.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const STATUS = {
    pending: "待处理 Pending", registered: "已立案 Registered", dispatched: "已派遣 Dispatched",
    acknowledged: "已签收 Acknowledged", handled: "已处置 Handled", verified: "已核查 Verified",
    closed: "已结案 Closed", returned: "重新派遣中 Being re-dispatched", rejected: "不予立案 Not registered",
    suspended: "延期办理 Extended", reopened: "返工 Reopened",
  };
  const ACTION = {
    create: "已受理 Received", register: "立案 Registered", dispatch: "派遣 Dispatched", acknowledge: "签收 Acknowledged",
    handle: "处置 Handled", verify: "核查通过 Verified", fail_verify: "核查未通过 Verification failed", close: "结案 Closed",
    "return": "退回 Returned", reassign: "改派 Reassigned", escalate: "督办 Escalated", reject: "不予立案 Not registered",
    request_extension: "申请延期 Extension requested", approve_extension: "批准延期 Extension approved",
    add_assist: "协同处置 Joint handling", merge: "合并 Merged", preregister: "已受理 Accepted",
    confirm_area: "确认属地 Area confirmed", split: "拆分 Split", resume: "恢复办理 Resumed",
  };
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
    $("r-status").textContent = STATUS[t.status] || t.status;
    const list = $("r-history");
    list.textContent = "";
    (t.history || []).forEach(function (h) {
      const li = document.createElement("li");
      const when = document.createElement("time");
      when.textContent = new Date(h.at).toLocaleString("zh-CN", { hour12: false });
      li.appendChild(when);
      li.appendChild(document.createTextNode(" " + (ACTION[h.action] || h.action)));
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
