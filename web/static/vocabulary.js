// The platform's vocabulary for every page: labels of statuses, actions, roles, channels and deadline lights,
// the open statuses and the transition table, read from the JSON document the server embeds in the page
// (<script type="application/json" id="vocabulary">, built by dispatch/vocabulary.py, see decision 0016).
// Pages keep no copies of these: a status renamed or a transition added on the server shows up here as is.
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("vocabulary").textContent);

  function index(list) { // code -> entry; no prototype, so a code like "constructor" finds nothing
    const m = Object.create(null);
    list.forEach(function (x) { m[x.code] = x; });
    return m;
  }
  const statuses = index(doc.statuses), actions = index(doc.actions), channels = index(doc.channels);
  const roles = index(doc.roles), parties = index(doc.parties), deadlines = index(doc.deadline_states);
  const open = new Set(doc.open_statuses), final = new Set(doc.final_statuses);

  // [zh, en] of a code; a code the document does not know (an older page, a newer server) shows as itself.
  // variant "done": a history line ("Registered" rather than "Register"); "public": what residents are told,
  // the residents' own wording where there is one, else as "done".
  function pair(table, code, variant) {
    const x = code === null || code === undefined ? undefined : table[code];
    if (!x) return [String(code), String(code)];
    if (variant === "public" && x.public) return [x.public.zh, x.public.en];
    if ((variant === "done" || variant === "public") && x.done) return [x.zh, x.done];
    return [x.zh, x.en];
  }
  function joined(p) { return p[0] + " " + p[1]; }

  // What the table lets `party` do in `status`, before the server's guards (which still decide: 422).
  function actionsFor(status, party) {
    const out = [];
    doc.transitions.forEach(function (t) {
      if (t.from === status && t.parties.indexOf(party) >= 0 && out.indexOf(t.action) < 0) out.push(t.action);
    });
    return out;
  }

  window.YunguanVocabulary = Object.freeze({
    document: doc,
    status: function (code, variant) { return pair(statuses, code, variant); },
    statusText: function (code, variant) { return joined(pair(statuses, code, variant)); },
    action: function (code, variant) { return pair(actions, code, variant); },
    actionText: function (code, variant) { return joined(pair(actions, code, variant)); },
    channel: function (code) { return pair(channels, code); },
    role: function (code) { return pair(roles, code); },
    party: function (code) { return pair(parties, code); },
    deadline: function (code) { return pair(deadlines, code); },
    deadlineText: function (code) { return joined(pair(deadlines, code)); },
    isStatus: function (code) { return typeof code === "string" && code in statuses; },
    statusCodes: doc.statuses.map(function (s) { return s.code; }),
    openStatuses: doc.open_statuses.slice(),
    unitQueueStatuses: doc.unit_queue_statuses.slice(),
    isOpen: function (status) { return open.has(status); },
    isFinal: function (status) { return final.has(status); },
    // A category from GET /api/v1/categories is a 小类 (the level a ticket is registered with) by its `level`.
    isSubclass: function (category) { return !!category && category.level === "subclass"; },
    actionsFor: actionsFor,
  });
})();
