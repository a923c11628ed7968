// solvekit dashboard: the executions page's counts and, on its first page,
// its table, refreshed every 10 s;
// the execution page's live log, state, progress and objective
// (Server-Sent Events); and the forms' own schema check before sending.
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
  // The first page of executions is read again with the same filters and
  // its table swapped in, unless the reader is on it (focus inside) or the
  // tab is hidden; older pages stay as they were read.
  var list = document.getElementById("exec-list");
  if (!list || !list.getAttribute("data-refresh") || !window.fetch || !window.DOMParser) { return; }
  window.setInterval(function () {
    if (document.hidden || list.contains(document.activeElement)) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("exec-list");
        if (fresh && !list.contains(document.activeElement)) { list.innerHTML = fresh.innerHTML; }
      })
      .catch(function () {});
  }, Number(list.getAttribute("data-refresh")) || 10000);
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
  // A page rendered after the end has its final figures already.
  var endedBefore = state && terminal[state.textContent];
  es.addEventListener("end", function () {
    es.close();
    var s = state ? state.textContent : "";
    status.textContent = "The execution has ended" + (terminal[s] ? " (" + s + ")" : "") +
      (endedBefore ? ": its whole log is below." : ". Reload for the final figures.");
  });
  es.addEventListener("error", function () {
    if (es.readyState === EventSource.CLOSED) { status.textContent = "The log stream closed."; }
    else { status.textContent = "Reconnecting to the log…"; }
  });
})();
// Forms marked data-validate: each textarea with a data-schema is parsed
// as JSON and checked against a small part of JSON Schema (type, enum,
// const, required, properties, additionalProperties, items, minimum and
// maximum, lengths and sizes) before the form is sent. The server checks
// the full schema again: this only spares a round trip for plain
// mistakes. A textarea with data-file takes its text from that file
// input when a file is chosen.
(function () {
  "use strict";
  function kind(v) {
    if (v === null) { return "null"; }
    if (Array.isArray(v)) { return "array"; }
    if (typeof v === "number") { return Number.isInteger(v) ? "integer" : "number"; }
    return typeof v;
  }
  function typeOK(want, v) {
    if (Array.isArray(want)) { return want.some(function (w) { return typeOK(w, v); }); }
    var k = kind(v);
    return want === k || (want === "number" && k === "integer");
  }
  function esc(k) { return String(k).replace(/~/g, "~0").replace(/\//g, "~1"); }
  function check(s, v, ptr, out) {
    if (!s || typeof s !== "object") { return; }
    var at = ptr || "/";
    if (s.type !== undefined && !typeOK(s.type, v)) {
      out.push([at, "type", "must be " + [].concat(s.type).join(" or ")]);
      return;
    }
    if (Array.isArray(s.enum) && !s.enum.some(function (x) { return JSON.stringify(x) === JSON.stringify(v); })) {
      out.push([at, "enum", "must be one of " + s.enum.map(function (x) { return JSON.stringify(x); }).join(", ")]);
    }
    if (s.const !== undefined && JSON.stringify(s.const) !== JSON.stringify(v)) {
      out.push([at, "const", "must be " + JSON.stringify(s.const)]);
    }
    var k = kind(v);
    if (k === "number" || k === "integer") {
      if (typeof s.minimum === "number" && v < s.minimum) { out.push([at, "minimum", "must be >= " + s.minimum]); }
      if (typeof s.maximum === "number" && v > s.maximum) { out.push([at, "maximum", "must be <= " + s.maximum]); }
      if (typeof s.exclusiveMinimum === "number" && v <= s.exclusiveMinimum) { out.push([at, "exclusiveMinimum", "must be > " + s.exclusiveMinimum]); }
      if (typeof s.exclusiveMaximum === "number" && v >= s.exclusiveMaximum) { out.push([at, "exclusiveMaximum", "must be < " + s.exclusiveMaximum]); }
    } else if (k === "string") {
      if (typeof s.minLength === "number" && v.length < s.minLength) { out.push([at, "minLength", "must have at least " + s.minLength + " characters"]); }
      if (typeof s.maxLength === "number" && v.length > s.maxLength) { out.push([at, "maxLength", "must have at most " + s.maxLength + " characters"]); }
    } else if (k === "array") {
      if (typeof s.minItems === "number" && v.length < s.minItems) { out.push([at, "minItems", "must have at least " + s.minItems + " items"]); }
      if (typeof s.maxItems === "number" && v.length > s.maxItems) { out.push([at, "maxItems", "must have at most " + s.maxItems + " items"]); }
      if (s.items && typeof s.items === "object" && !Array.isArray(s.items)) {
        v.forEach(function (x, i) { check(s.items, x, ptr + "/" + i, out); });
      }
    } else if (k === "object") {
      (Array.isArray(s.required) ? s.required : []).forEach(function (p) {
        if (!Object.prototype.hasOwnProperty.call(v, p)) { out.push([at, "required", "missing property " + JSON.stringify(p)]); }
      });
      var props = s.properties && typeof s.properties === "object" ? s.properties : {};
      Object.keys(v).forEach(function (p) {
        if (Object.prototype.hasOwnProperty.call(props, p)) { check(props[p], v[p], ptr + "/" + esc(p), out); }
        else if (s.additionalProperties === false) { out.push([ptr + "/" + esc(p), "additionalProperties", "property not allowed"]); }
        else if (s.additionalProperties && typeof s.additionalProperties === "object") { check(s.additionalProperties, v[p], ptr + "/" + esc(p), out); }
      });
    }
  }
  // checkText checks one field's text and adds its violations to out.
  function checkText(ta, text, out) {
    var ptr = ta.getAttribute("data-pointer") || "";
    if (text.trim() === "") {
      if (!ta.hasAttribute("data-optional")) { out.push([ptr || "/", "required", "enter JSON or choose a file"]); }
      return;
    }
    var v;
    try { v = JSON.parse(text); } catch (e) { out.push([ptr || "/", "format", "not valid JSON: " + e.message]); return; }
    var schema = null;
    try { schema = JSON.parse(ta.getAttribute("data-schema")); } catch (e) { return; }
    check(schema, v, ptr, out);
  }
  function show(form, out) {
    var list = form.querySelector(".field-errors");
    if (!list) { return; }
    list.textContent = "";
    out.forEach(function (o) {
      var li = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = o[0];
      li.appendChild(code);
      li.appendChild(document.createTextNode(" " + o[1] + ": " + o[2]));
      list.appendChild(li);
    });
    list.hidden = out.length === 0;
    form.querySelectorAll("textarea[data-schema], textarea[data-pointer]").forEach(function (ta) {
      var bad = out.some(function (o) { return o[0].indexOf(ta.getAttribute("data-pointer") || "/") === 0; });
      if (bad) { ta.setAttribute("aria-invalid", "true"); } else { ta.removeAttribute("aria-invalid"); }
    });
  }
  document.querySelectorAll("form[data-validate]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var out = [];
      var pending = [];
      form.querySelectorAll("textarea[data-pointer]").forEach(function (ta) {
        var fileID = ta.getAttribute("data-file");
        var file = fileID ? document.getElementById(fileID) : null;
        if (file && file.files && file.files.length > 0 && file.files[0].text) {
          pending.push(file.files[0].text().then(function (text) { checkText(ta, text, out); }));
        } else {
          checkText(ta, ta.value, out);
        }
      });
      ev.preventDefault();
      // The prototype's submit: a field named "submit" would hide the
      // form's own method.
      var send = function () { HTMLFormElement.prototype.submit.call(form); };
      Promise.all(pending).then(function () {
        show(form, out);
        if (out.length === 0) { send(); }
      }, send);
    });
  });
})();
