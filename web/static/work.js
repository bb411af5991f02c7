// Shared by the department workbench and the grid worker's page: API calls with the page's bearer token,
// DOM helpers (text only, never HTML from data), and the ticket detail with its action forms. Status and
// action labels are the server's vocabulary (vocabulary.js); only each form's inputs are described here.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="yunguan-token"]').content;
  const V = window.YunguanVocabulary;
  // The forms a unit or a grid worker may be offered (the ticket's `actions` from the API say which apply).
  const ACTIONS = {
    acknowledge: {},
    handle: { note: "处置情况 What was done", noteRequired: true, photos: true },
    "return": { note: "退回理由 Reason", noteRequired: true, danger: true },
    request_extension: { note: "理由 Reason", noteRequired: true, minutes: true },
    verify: { note: "核查情况 Finding", photos: true },
    fail_verify: { note: "问题 What is still wrong", noteRequired: true, danger: true, photos: true },
    resume: { note: "说明 Note" },
    comment: { note: "备注 Note", noteRequired: true },
  };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function api(path, options) {
    options = options || {};
    const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
    if (options.json !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
    return fetch(path, { method: options.method || "GET", headers: headers, body: options.body }).then(function (r) {
      return r.json().catch(() => ({})).then((data) => ({ status: r.status, data: data }));
    });
  }

  function when(iso) { return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "—"; }

  function errorText(res) {
    const e = (res.data && res.data.error) || {};
    const parts = [e.message || ("HTTP " + res.status)];
    Object.keys(e.fields || {}).forEach((k) => parts.push(k + ": " + e.fields[k]));
    if (e.allowed && e.allowed.length) parts.push("可执行 allowed: " + e.allowed.join(", "));
    if (res.status === 409) parts.unshift("工单已被他人更新，已刷新 / Changed meanwhile, reloaded.");
    return parts.join(" · ");
  }

  // The detail of one ticket with a form per allowed action; `done` is called after a successful action.
  function renderDetail(root, t, done, categories) {
    root.textContent = "";
    const head = el("div", null, "detail-head");
    head.appendChild(el("h2", t.ticket_no, "mono"));
    head.appendChild(el("span", V.statusText(t.status), "badge s-" + t.status));
    if (t.deadline_state) head.appendChild(el("span", V.deadlineText(t.deadline_state), "light " + t.deadline_state));
    root.appendChild(head);
    const facts = el("dl", null, "facts");
    const cat = (categories && categories[t.category]) || t.category || "未分类 unclassified";
    [["类别 Category", cat], ["地址 Address", t.address || "—"], ["期限 Deadline", when(t.deadline)],
     ["督办级别 Escalation", t.escalation_level || 0], ["合并上报 Reports", t.report_count || 1],
     ["协办 Assisting", (t.assists || []).join(", ") || "—"]].forEach(function (kv) {
      facts.appendChild(el("dt", kv[0])); facts.appendChild(el("dd", kv[1]));
    });
    root.appendChild(facts);
    root.appendChild(el("p", t.description || "", "description"));
    const photos = el("div", null, "photos");
    (t.reports || []).forEach(function (r) {
      (r.attachments || []).forEach(function (a) {
        if (!/^\/media\/[0-9a-f]{64}$/.test(a.url || "")) return;
        const img = el("img"); img.src = a.url; img.alt = "现场照片 photo"; photos.appendChild(img);
      });
    });
    root.appendChild(photos);
    const forms = el("div", null, "actions");
    (t.actions || []).filter((a) => Object.prototype.hasOwnProperty.call(ACTIONS, a)).forEach(function (action) {
      const spec = ACTIONS[action];
      const form = el("form", null, "action-form" + (spec.danger ? " danger" : ""));
      form.dataset.action = action;
      let note = null, minutes = null;
      if (spec.note) { note = el("textarea"); note.rows = 2; note.maxLength = 2000; note.placeholder = spec.note; note.name = "note"; form.appendChild(note); }
      let photos = null;
      if (spec.photos) { photos = el("input"); photos.type = "file"; photos.multiple = true; photos.accept = "image/jpeg,image/png,image/webp"; photos.setAttribute("capture", "environment"); photos.title = "现场照片 photos"; form.appendChild(photos); }
      if (spec.minutes) { minutes = el("input"); minutes.type = "number"; minutes.min = "30"; minutes.step = "30"; minutes.value = "240"; minutes.name = "minutes"; minutes.title = "分钟 minutes"; form.appendChild(minutes); }
      const button = el("button", V.actionText(action)); button.type = "submit"; form.appendChild(button);
      const msg = el("p", null, "error"); msg.hidden = true; form.appendChild(msg);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        const body = { action: action, version: t.version };
        if (note) { if (spec.noteRequired && !note.value.trim()) { msg.textContent = "请填写 " + spec.note; msg.hidden = false; return; } if (note.value.trim()) body.note = note.value.trim(); }
        if (minutes) body.minutes = Number(minutes.value);
        button.disabled = true;
        let upload = Promise.resolve(null);
        if (photos && photos.files.length) {  // photos first (POST /api/v1/media), then the action naming them
          const data = new FormData();
          Array.from(photos.files).forEach((f) => data.append("photos", f, f.name));
          upload = api("/api/v1/media", { method: "POST", body: data });
        }
        upload.then(function (up) {
          if (up && up.status !== 201) return up;
          if (up) body.attachments = up.data.attachments;
          return api("/api/v1/tickets/" + encodeURIComponent(t.ticket_no) + "/actions", { method: "POST", json: body });
        }).then(function (res) {
          button.disabled = false;
          if (res.status === 200) { done(res.data); return; }
          msg.textContent = errorText(res); msg.hidden = false;
          if (res.status === 409) done(null);
        });
      });
      forms.appendChild(form);
    });
    root.appendChild(forms);
    const hist = el("ol", null, "timeline");
    (t.history || []).forEach(function (h) {
      const li = el("li");
      li.appendChild(el("time", when(h.at)));
      const what = V.actionText(h.action, "done");
      li.appendChild(document.createTextNode(" " + what + " · " + h.actor + (h.note ? " — " + h.note : "")));
      hist.appendChild(li);
    });
    root.appendChild(hist);
  }

  window.Yunguan = { api: api, el: el, when: when, V: V, renderDetail: renderDetail, token: token };
})();
