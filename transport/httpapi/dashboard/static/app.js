// solvekit dashboard: the execution page's live log (Server-Sent Events).
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
