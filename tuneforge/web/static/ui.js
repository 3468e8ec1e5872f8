// Shared helpers: the JSON API client (session cookie + CSRF header), a tiny DOM builder,
// formatting, forms that show server errors at their fields, and streamed uploads.
"use strict";

const UI = (() => {
  let csrf = "";

  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status; this.code = err.code || ""; this.reason = err.reason || "";
      this.violations = err.field_violations || [];
    }
  }

  async function session() {
    const r = await fetch("/auth/session", {credentials: "same-origin"});
    if (r.status === 401) { location.href = "/login"; return null; }
    const info = await r.json();
    csrf = info.csrf_token || "";
    return info;
  }

  async function api(method, path, body) {
    const opts = {method, credentials: "same-origin", headers: {}};
    if (method !== "GET") opts.headers["x-csrf-token"] = csrf;
    if (body !== undefined) { opts.headers["content-type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(path, opts);
    if (r.status === 401) { location.href = "/login"; throw new ApiError(401, {}); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  // POST a JSON body and hand each server-sent event of the answer to onEvent(type, data)
  // as it arrives (the adapter chat streams its reply this way).
  async function stream(path, body, onEvent) {
    const r = await fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"x-csrf-token": csrf, "content-type": "application/json"}, body: JSON.stringify(body)});
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i); buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(frame), data = /^data: (.*)$/m.exec(frame);
        if (ev && data) onEvent(ev[1], JSON.parse(data[1]));
      }
    }
  }

  // Send a File as the raw request body: the browser streams it from disk, the console
  // streams it on to gRPC; nothing holds it whole.
  function upload(path, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${path}?filename=${encodeURIComponent(file.name)}`);
      xhr.setRequestHeader("x-csrf-token", csrf);
      xhr.setRequestHeader("content-type", "application/octet-stream");
      xhr.upload.onprogress = (ev) => onProgress && ev.lengthComputable && onProgress(ev.loaded / ev.total);
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data); else reject(new ApiError(xhr.status, data));
      };
      xhr.onerror = () => reject(new ApiError(0, {error: {message: "network error during upload"}}));
      xhr.send(file);
    });
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "value") el.value = v;
      else if (k === "checked") el.checked = !!v;
      else if (k === "placeholder" || k === "title" || k === "aria-label") el.setAttribute(k, I18N.t(String(v)));
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(typeof child === "string" ? I18N.t(child) : String(child)));
    }
    return el;
  }

  function card(title, body, actions, opts = {}) {
    return h("section", {class: "card", id: opts.id},
      h("header", {}, h("h2", {}, title), opts.badge || null, actions ? h("div", {class: "actions"}, actions) : null),
      h("div", {class: opts.flush ? "body flush" : "body"}, body));
  }

  function toast(message, bad) {
    const el = h("div", {class: bad ? "t bad" : "t"}, message);
    document.getElementById("toast").append(el);
    setTimeout(() => el.remove(), bad ? 7000 : 3500);
  }

  // An error in plain words: what went wrong, at which field, and the server's hint.
  function readable(err) {
    if (!err) return "";
    const what = err.status === 0 ? I18N.t("The console cannot reach the server.")
      : err.status === 503 ? I18N.t("The services are not reachable: is the server running?") : "";
    const fields = (err.violations || []).map((v) => `${I18N.t("field")} ${v.field}: ${v.description}`);
    return [what, err.message || String(err), ...fields].filter(Boolean).join(" · ");
  }
  function fail(err) { toast(readable(err), true); }

  const units = ["B", "KB", "MB", "GB", "TB"];
  function bytes(n) {
    n = Number(n || 0); let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${I18N.number(n, i && n < 10 ? 1 : 0)} ${I18N.t(units[i])}`;
  }
  function when(ts) { return ts ? new Date(ts).toLocaleString(I18N.locale()) : "—"; }
  function seconds(s) {
    s = Math.max(0, Math.round(Number(s || 0)));
    const m = Math.floor(s / 60), hh = Math.floor(m / 60);
    return hh ? I18N.t("{h}h {m}m", {h: hh, m: m % 60}) : m ? I18N.t("{m}m {s}s", {m, s: s % 60}) : I18N.t("{s}s", {s});
  }
  function duration(text) { return text ? seconds(parseFloat(String(text))) : "—"; }
  function num(n, digits = 4) { return n === undefined || n === null ? "—" : I18N.number(n, digits); }

  const STATE_CLASS = {RUNNING: "info", QUEUED: "warn", SUCCEEDED: "ok", FAILED: "bad", CANCELLED: ""};
  function state(s) {
    const name = String(s || "").replace("STATE_", "");
    return h("span", {class: `badge ${STATE_CLASS[name] || ""}`, dataset: {state: name}}, name.toLowerCase() || "unknown");
  }

  // Show an ApiError's field violations at the fields of `form` (data-field="name");
  // violations on unknown fields, and the message, go to the form's error box.
  function showErrors(form, err) {
    clearErrors(form);
    const rest = [];
    for (const v of err.violations || []) {
      const key = v.field.replace(/^config\./, "");
      const field = form.querySelector(`[data-field="${CSS.escape(key)}"]`) || form.querySelector(`[data-field="${CSS.escape(v.field)}"]`);
      if (!field) { rest.push(`${v.field}: ${v.description}`); continue; }
      field.classList.add("invalid");
      const box = field.querySelector(".error");
      box.textContent = v.description; box.hidden = false;
    }
    const summary = form.querySelector(".form-error");
    if (summary) {
      summary.textContent = [readable({...err, violations: []}), ...rest].join(" · ");
      summary.hidden = false;
    }
    const first = form.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea");
    if (first) first.focus();
  }
  function clearErrors(form) {
    form.querySelectorAll(".field.invalid").forEach((f) => f.classList.remove("invalid"));
    form.querySelectorAll(".field .error").forEach((e) => { e.hidden = true; e.textContent = ""; });
    const summary = form.querySelector(".form-error");
    if (summary) summary.hidden = true;
  }

  // A labelled input with help text and a place for its error. `spec`: {name, label, type,
  // value, help, options, placeholder}.
  function field(spec) {
    const id = `f-${spec.name}`;
    let input;
    if (spec.type === "checkbox") {
      input = h("input", {type: "checkbox", id, name: spec.name, checked: spec.value === true || spec.value === "true"});
      return h("div", {class: "field", dataset: {field: spec.name}},
        h("label", {class: "inline", for: id}, input, spec.label),
        spec.help ? h("div", {class: "help"}, spec.help) : null, h("div", {class: "error", hidden: true}));
    }
    if (spec.type === "select") {
      input = h("select", {id, name: spec.name},
        (spec.options || []).map((o) => h("option", {value: o.value ?? o, selected: (o.value ?? o) === spec.value ? true : null}, o.label ?? o)));
    } else if (spec.type === "textarea") {
      input = h("textarea", {id, name: spec.name, rows: spec.rows || 2, placeholder: spec.placeholder}, spec.value ?? "");
    } else {
      input = h("input", {type: spec.type || "text", id, name: spec.name, value: spec.value ?? "", placeholder: spec.placeholder,
        step: spec.type === "number" ? "any" : null, required: spec.required});
    }
    return h("div", {class: "field", dataset: {field: spec.name}},
      h("label", {for: id}, spec.label), input,
      spec.help ? h("div", {class: "help"}, spec.help) : null, h("div", {class: "error", hidden: true}));
  }

  function values(form) {
    const out = {};
    for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      if (el.type === "file") continue;
      out[el.name] = el.type === "checkbox" ? el.checked : el.value;
    }
    return out;
  }

  function progressBar(percent, cls) {
    const bar = h("div", {});
    bar.style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
    return h("div", {class: `progress ${cls || ""}`, role: "progressbar", "aria-valuenow": Math.round(percent || 0)}, bar);
  }

  function empty(text) { return h("div", {class: "empty"}, text); }

  // Activate-like calls the server may answer 409 CONFIRMATION_REQUIRED: ask, then resend
  // with confirm. Returns the answer, or null when the user said no.
  async function confirmed(method, path, body = {}) {
    try { return await api(method, path, body); } catch (e) {
      if (e.reason !== "CONFIRMATION_REQUIRED") throw e;
      const why = {NOT_EVALUATED: "This adapter has not been evaluated yet: nothing shows it answers better than the base model.",
        NOT_BETTER_THAN_BASE: "This adapter's evaluation is not better than the base model's.",
        WORSE_THAN_LIVE: "This adapter's evaluation is worse than the adapter that is live now."}[(e.violations[0] || {}).description];
      if (!confirm(`${why ? I18N.t(why) : e.message}\n${e.message}\n\n${I18N.t("Activate anyway?")}`)) return null;
      return api(method, path, {...body, confirm: true});
    }
  }

  return {ApiError, session, api, upload, stream, h, card, toast, fail, readable, confirmed, bytes, when, seconds, duration, num, state,
          showErrors, clearErrors, field, values, progressBar, empty};
})();
