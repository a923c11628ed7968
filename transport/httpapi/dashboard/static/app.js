// solvekit dashboard: the executions page's counts, refreshed every 10 s,
// and the execution page's live log, state, progress and objective
// (Server-Sent Events).
(function () {
  "use strict";
  var counts = document.querySelector("[data-counts]");
  if (!counts || !window.fetch) { return; }
  var url = counts.getAttribute("data-counts");
  window.setInterval(function () {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) { return; }
        counts.querySelectorAll("b[data-state]").forEach(function (b) {
          var v = c[b.getAttribute("data-state")];
          if (typeof v === "number") { b.textContent = String(v); }
        });
      })
      .catch(function () {});
  }, 10000);
})();
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !window.EventSource) { return; }
  var status = document.getElementById("log-status");
  var state = document.getElementById("state");
  var terminal = { succeeded: 1, failed: 1, stopped: 1, timed_out: 1 };
  var es = new EventSource(log.getAttribute("data-stream"));
  status.textContent = "Streaming the log…";
  es.addEventListener("log", function (ev) {
    var rec;
    try { rec = JSON.parse(ev.data); } catch (e) { return; }
    var line = document.createElement("span");
    line.className = "lvl-" + (rec.level || "INFO");
    var attrs = "";
    if (rec.attrs) {
      Object.keys(rec.attrs).forEach(function (k) { attrs += " " + k + "=" + JSON.stringify(rec.attrs[k]); });
    }
    line.textContent = (rec.time || "").replace("T", " ").replace(/\.\d+/, "") + " " + (rec.level || "") + " " + (rec.message || "") + attrs + "\n";
    var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(line);
    if (atEnd) { log.scrollTop = log.scrollHeight; }
  });
  es.addEventListener("status", function (ev) {
    var st;
    try { st = JSON.parse(ev.data); } catch (e) { return; }
    if (state && st.state) {
      state.textContent = st.state;
      state.className = "state state-" + st.state;
    }
  });
  es.addEventListener("progress", function (ev) {
    var pr;
    try { pr = JSON.parse(ev.data); } catch (e) { return; }
    var bar = document.getElementById("progress");
    var text = document.getElementById("progress-text");
    if (bar && typeof pr.progress === "number") { bar.value = pr.progress; }
    if (text && typeof pr.progress === "number") {
      text.textContent = Math.round(pr.progress * 100) + "%" + (pr.message ? " — " + pr.message : "");
    }
  });
  es.addEventListener("incumbent", function (ev) {
    var inc;
    try { inc = JSON.parse(ev.data); } catch (e) { return; }
    var obj = document.getElementById("objective");
    if (obj && typeof inc.objective === "number") { obj.textContent = String(inc.objective); }
  });
  es.addEventListener("end", function () {
    es.close();
    var s = state ? state.textContent : "";
    status.textContent = "The execution has ended" + (terminal[s] ? " (" + s + ")" : "") + ". Reload for the final figures.";
  });
  es.addEventListener("error", function () {
    if (es.readyState === EventSource.CLOSED) { status.textContent = "The log stream closed."; }
    else { status.textContent = "Reconnecting to the log…"; }
  });
})();
