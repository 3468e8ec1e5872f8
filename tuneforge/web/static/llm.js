// The LLM sub-tab: datasets, training (presets + every config field), jobs, adapters.
"use strict";

const LLM = (() => {
  const {h, api} = UI;
  const API = "/admin/finetune";
  const enc = encodeURIComponent;

  // ------------------------------------------------------------------ datasets
  const TELEGRAM_OPTIONS = [
    {name: "owner_name", label: "Your name in the export", help: "Whose messages become the assistant's replies (display name)."},
    {name: "owner_id", label: "…or your user id", placeholder: "user123456", help: "Used instead of the name when set."},
    {name: "system_prompt", label: "System prompt", type: "textarea", help: "Put first in every dialog (optional)."},
    {name: "min_dialog_messages", label: "Min messages per dialog", type: "number", placeholder: "2"},
    {name: "max_dialog_length", label: "Max messages per dialog", type: "number", placeholder: "20", help: "Longer dialogs are cut into chunks."},
    {name: "max_message_length", label: "Max message length", type: "number", placeholder: "2000", help: "Characters."},
    {name: "session_gap_seconds", label: "Session gap (s)", type: "number", placeholder: "21600", help: "Silence that starts a new dialog."},
    {name: "validation_split", label: "Validation share", type: "number", placeholder: "0.1", help: "0 to 0.5 of the dialogs are held out."},
    {name: "include_groups", label: "Include group chats", type: "checkbox"},
    {name: "include_channels", label: "Include channels", type: "checkbox"},
    {name: "include_forwarded", label: "Include forwarded messages", type: "checkbox"},
    {name: "stickers_as_emoji", label: "Stickers as their emoji", type: "checkbox"},
    {name: "transcribe_voice", label: "Transcribe voice messages (Whisper)", type: "checkbox"},
  ];
  // Privacy (issue 28): on by default in the browser, as docs/privacy.md advises.
  const PRIVACY_OPTIONS = [
    {name: "scrub", label: "Hide phone numbers, e-mails, card numbers and IBANs", type: "checkbox", value: true,
      help: "They are replaced with <PHONE>, <EMAIL>, <CARD>, <IBAN> before training."},
    {name: "scrub_names", label: "Hide the names of other people too", type: "checkbox", value: true, help: "Replaced with <NAME>."},
  ];
  const IMPORT_OPTIONS = [
    {name: "format", label: "Format", type: "select", value: "auto", options: ["auto", "messages", "sharegpt", "alpaca", "prompt_completion",
      "text", "vertex", "instruction_output", "question_answer", "text_label", "csv", "parquet"]},
    {name: "validation_split", label: "Validation share", type: "number", placeholder: "0.1"},
    {name: "skip_invalid", label: "Skip invalid records (and report them)", type: "checkbox"},
  ];

  function options(kind, form) {
    const specs = kind === "telegram" ? [...TELEGRAM_OPTIONS, ...PRIVACY_OPTIONS] : IMPORT_OPTIONS;
    const v = UI.values(form), out = {};
    for (const s of specs) {
      const raw = v[s.name];
      if (s.type === "checkbox") { if (raw) out[s.name] = true; continue; }
      if (raw === "" || raw === undefined) continue;
      out[s.name] = s.type === "number" ? Number(raw) : raw;
    }
    if (kind === "telegram") {
      const excluded = [...form.querySelectorAll("input[data-contact]:checked")].map((c) => c.dataset.contact);
      const typed = (form.querySelector("[name=exclude_more]") || {}).value || "";
      excluded.push(...typed.split(",").map((x) => x.trim()).filter(Boolean));
      if (excluded.length) out.exclude_contacts = excluded;
    }
    return out;
  }

  // The people a Telegram result.json lists (its personal chats), read in the browser so the
  // user can pick whom to leave out before anything is uploaded. A zip: type the names.
  async function contactsOf(file) {
    if (!file || !/\.json$/i.test(file.name)) return [];
    try {
      const data = JSON.parse(await file.text());
      const chats = (data.chats && data.chats.list) || [];
      return chats.filter((c) => c.type === "personal_chat" && c.name).map((c) => ({name: c.name, messages: (c.messages || []).length}))
        .sort((a, b) => b.messages - a.messages).slice(0, 100);
    } catch (e) { return []; }
  }

  // What an import did: owner, chats, contacts, messages dropped by reason, what was hidden.
  function importReport(report) {
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    const reasons = (m) => Object.entries(m || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "—";
    const scrubbed = report.scrubbed ? Object.entries(report.scrubbed).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k}: ${v}`).join(", ") || "0" : t("not asked");
    return h("div", {class: "card-lite", id: "import-report"}, h("h3", {}, "Import report"), h("dl", {class: "report"},
      row("owner", report.owner || "—"),
      row("chats used", `${report.chats_used} / ${report.chats_read}`),
      row("chats skipped", reasons(report.chats_skipped)),
      row("messages kept", `${report.messages_kept} / ${report.messages_read}`),
      row("messages dropped", reasons(report.messages_dropped)),
      row("dialogs", report.dialogs),
      row("contacts", (report.contacts || []).map((c) => `${c.name} (${c.messages})`).join(", ") || "—"),
      row("hidden (scrubbed)", scrubbed),
      report.messages_already_in_dataset ? row("already in the dataset", report.messages_already_in_dataset) : null));
  }

  function uploadCard(onCreated) {
    const file = h("input", {type: "file", id: "dataset-file", name: "file"});
    const kind = UI.field({name: "kind", label: "What is it?", type: "select", value: "telegram",
      options: [{value: "telegram", label: "Telegram export (result.json or .zip)"}, {value: "import", label: "Dataset file (JSONL, JSON, CSV, Parquet)"}]});
    const name = UI.field({name: "name", label: "Dataset name", placeholder: "chats", help: "Letters, digits, '.', '_', '-'."});
    const opts = h("div", {class: "fields"});
    const privacy = h("div", {id: "privacy-options"});
    const contactBox = h("div", {class: "contacts", id: "exclude-contacts"});
    const appendTo = UI.field({name: "append_to", label: "Add to an existing dataset", type: "select", options: [{value: "", label: "no: a new dataset"}],
      help: "Only the messages the dataset does not hold yet are added (a monthly re-export)."});
    const renderOpts = () => {
      const telegram = kind.querySelector("select").value === "telegram";
      opts.replaceChildren(...(telegram ? TELEGRAM_OPTIONS : IMPORT_OPTIONS).map(UI.field));
      privacy.hidden = !telegram;
    };
    privacy.append(h("h3", {}, "Privacy"), ...PRIVACY_OPTIONS.map(UI.field),
      h("div", {class: "field", dataset: {field: "exclude_contacts"}}, h("label", {}, "Leave out the chats with"), contactBox,
        h("input", {type: "text", name: "exclude_more", placeholder: "more names, comma-separated"}),
        h("div", {class: "help"}, "Their personal chats and their messages in groups are not used."), h("div", {class: "error", hidden: true})),
      appendTo);
    api("GET", `${API}/datasets`).then(({datasets}) => appendTo.querySelector("select").append(
      ...datasets.filter((d) => d.source === "telegram").map((d) => h("option", {value: d.name}, d.name)))).catch(() => {});
    file.addEventListener("change", async () => {
      const people = await contactsOf(file.files[0]);
      contactBox.replaceChildren(...(people.length ? people.map((c) => h("label", {class: "inline"},
        h("input", {type: "checkbox", dataset: {contact: c.name}}), ` ${c.name} `, h("span", {class: "hint"}, `(${c.messages})`)))
        : [h("span", {class: "hint"}, "choose a result.json to pick from its contacts")]));
    });
    contactBox.append(h("span", {class: "hint"}, "choose a result.json to pick from its contacts"));
    kind.querySelector("select").addEventListener("change", renderOpts);
    renderOpts();
    const status = h("div", {});
    const drop = h("div", {class: "dropzone", dataset: {field: "file"}}, h("div", {}, "Drop a file here or choose one"), file);
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); file.files = e.dataTransfer.files; });
    const form = h("form", {id: "upload-form"}, h("div", {class: "form-error", hidden: true}), drop, kind, name,
      h("details", {class: "options", open: true}, h("summary", {}, "Processing options"), opts), privacy,
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit", id: "process-button"}, "Upload and process")), status);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      if (!file.files.length) { UI.showErrors(form, {message: "Choose a file first", violations: []}); return; }
      const k = form.querySelector("[name=kind]").value;
      const button = form.querySelector("#process-button");
      button.disabled = true;
      try {
        status.replaceChildren(h("div", {class: "hint"}, "uploading…"), UI.progressBar(0));
        const up = await UI.upload(`${API}/datasets/upload`, file.files[0], (f) => { const b = status.querySelector(".progress > div"); if (b) b.style.width = `${f * 100}%`; });
        const r = await api("POST", `${API}/datasets/process`, {upload_id: up.upload.id, kind: k,
          name: form.querySelector("[name=name]").value || (k === "telegram" ? form.querySelector("[name=append_to]").value : ""),
          options: options(k, form), append_to: k === "telegram" ? form.querySelector("[name=append_to]").value : ""});
        if (r.job) Jobs.track("llm", r.job, status, (job) => {
          button.disabled = false; onCreated();
          if (Jobs.short(job.state) === "SUCCEEDED") {
            UI.toast(t("dataset ready"));
            if (job.result && job.result.report) status.append(importReport(job.result.report));
          }
        });
        else { status.replaceChildren(h("div", {class: "hint"}, t("imported {n} records", {n: r.dataset.record_count}))); button.disabled = false; onCreated(); }
      } catch (e) {
        status.replaceChildren();
        button.disabled = false;
        UI.showErrors(form, e);
      }
    });
    return UI.card("Upload data", form);
  }

  function histogram(stats) {
    const buckets = stats.token_histogram || [];
    if (!buckets.length) return UI.empty("no records");
    const max = Math.max(...buckets.map((b) => b.count), 1);
    const bars = buckets.map((b) => {
      const bar = h("div", {class: `bar ${b.lower >= stats.max_seq_length ? "over" : ""}`, title: t("{lower}–{upper} tokens: {count} records", {lower: b.lower, upper: b.upper, count: b.count})});
      bar.style.height = `${Math.max(2, (b.count / max) * 100)}%`;
      return bar;
    });
    return h("div", {id: "token-histogram"}, h("div", {class: "histogram"}, bars),
      h("div", {class: "histogram-axis"}, buckets.map((b) => h("span", {}, `${b.lower}–${b.upper}`))),
      h("div", {class: "hint"}, t("tokens per record ({method}); red: over max_seq_length {max}", {method: stats.token_count_method, max: stats.max_seq_length})));
  }

  function preview(records) {
    if (!records.length) return UI.empty("no records");
    return h("div", {id: "dataset-preview"}, records.map((rec) => {
      const msgs = rec.messages || (rec.conversations || []).map((m) => ({role: {human: "user", gpt: "assistant"}[m.from] || m.from, content: m.value}));
      if (!msgs.length) return h("pre", {class: "chat mono"}, JSON.stringify(rec, null, 2));
      return h("div", {class: "chat"}, msgs.map((m) => h("div", {class: `msg ${m.role} ${m.role === "assistant" ? "trained" : ""}`},
        h("span", {class: "role"}, m.role, m.role === "assistant" ? h("span", {class: "trained-mark"}, " · trained") : null), m.content)));
    }), h("div", {class: "note"}, "Assistant turns (marked “trained”) carry the loss; system and user turns are context only."));
  }

  async function showDataset(detail, name, tokenizer = {}) {
    if (!tokenizer.base_model) detail.replaceChildren(UI.card(t("Dataset {name}", {name}), UI.empty("loading…")));
    const query = new URLSearchParams(Object.entries(tokenizer).filter(([, v]) => v)).toString();
    try {
      const [stats, prev] = await Promise.all([api("GET", `${API}/datasets/${enc(name)}/stats?${query}`), api("GET", `${API}/datasets/${enc(name)}/preview?count=3`)]);
      const recount = h("form", {class: "fields", id: "stats-form"},
        UI.field({name: "base_model", label: "Count tokens with", value: tokenizer.base_model || "", placeholder: "base model (empty = estimate)"}),
        UI.field({name: "max_seq_length", label: "Max sequence length", type: "number", value: stats.max_seq_length}),
        h("div", {class: "form-actions"}, h("button", {class: "btn small", type: "submit"}, "Recount")));
      recount.addEventListener("submit", (ev) => { ev.preventDefault(); showDataset(detail, name, UI.values(recount)); });
      const stat = (label, value) => h("div", {class: "stat"}, h("div", {class: "label"}, label), h("div", {class: "value"}, value));
      detail.replaceChildren(h("div", {class: "grid"},
        UI.card(t("Statistics · {name}", {name}), h("div", {}, h("div", {class: "stats", id: "dataset-stats"},
          stat("records", stats.record_count), stat("messages", stats.message_count), stat("tokens", stats.token_count.toLocaleString()),
          stat(`over ${stats.max_seq_length} tokens`, stats.records_over_max_seq_length), stat("size", UI.bytes(stats.size_bytes))),
          histogram(stats), recount)),
        UI.card("Preview", preview(prev.records), null, {flush: true})));
    } catch (e) { UI.fail(e); }
  }

  // Generation (issue 28 item 6): a project's docs, FAQ and code → a chat dataset, through the
  // seed API's POST /admin/finetune/dataset/generate (GenerateDataset). The sources are paths on
  // the server, or paths inside a project zip uploaded from this computer.
  const GENERATE_SOURCES = [
    {name: "docs_dir", label: "Documentation folder", placeholder: "docs", help: "Markdown files: each passage becomes questions and its answer."},
    {name: "faq_file", label: "FAQ file", placeholder: "faq.csv", help: "CSV, JSON or JSONL with a question and an answer per row."},
    {name: "code_dir", label: "Code folder", placeholder: "src", help: "Python: docstrings, routes, schemas and models become answers."},
    {name: "scenarios_dir", label: "Scenarios folder", help: "Markdown or text dialogs to learn as they are."},
    {name: "escalation_dir", label: "Escalation rules folder", help: "When to hand the conversation to a person."},
  ];
  const GENERATE_MORE = [
    {name: "repo_url", label: "Git repository", placeholder: "https://… or file://…", help: "Cloned on the server instead of the paths above."},
    {name: "repo_branch", label: "Branch", placeholder: "main"},
    {name: "faq_sqlite_file", label: "FAQ database (SQLite)", help: "A database file and a query returning (question, answer)."},
    {name: "faq_sqlite_query", label: "FAQ query", placeholder: "SELECT question, answer FROM faq"},
    {name: "questions_per_passage", label: "Questions per passage", type: "number", placeholder: "3", help: "1 to 5 phrasings of each docs passage."},
    {name: "llm_url", label: "Rephrase with an LLM", placeholder: "http://127.0.0.1:8000/v1",
      help: "An OpenAI-compatible endpoint (e.g. the vLLM already serving); unreachable = the job fails."},
    {name: "llm_model", label: "LLM model", help: "Default: the first model it lists."},
  ];
  const GENERATE_OPTIONS = [
    {name: "system_prompt", label: "System prompt", type: "textarea", help: "Put first in every dialog (optional)."},
    {name: "validation_split", label: "Validation share", type: "number", placeholder: "0.1", help: "0 to 0.5 of the dialogs are held out."},
    {name: "scrub", label: "Hide phone numbers, e-mails, card numbers and IBANs", type: "checkbox", value: true},
  ];

  function generateReport(result) {
    const report = (result && result.report) || {}, ds = (result && result.dataset) || {};
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    const bySource = Object.entries(report.records_by_source || {}).map(([k, v]) =>
      t("{source}: {n} from {files} files", {source: k, n: v, files: (report.files_by_source || {})[k] || 0})).join(", ") || "—";
    const scrubbed = Object.entries(report.scrubbed || {}).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k}: ${v}`).join(", ");
    return h("div", {class: "card-lite", id: "generate-report"}, h("h3", {}, "Generation report"), h("dl", {class: "report"},
      row("dataset", ds.name ? h("a", {href: `#/llm/training?dataset=${enc(ds.name)}`}, ds.name) : "—"),
      row("records", t("{n} + {v} validation", {n: ds.record_count || report.records || 0, v: ds.validation_record_count || 0})),
      row("by source", bySource),
      row("duplicates dropped", report.duplicates || 0),
      report.passages ? row("doc passages", report.passages) : null,
      scrubbed ? row("hidden (scrubbed)", scrubbed) : null,
      (report.file_errors || []).length ? row("skipped files", report.file_errors.join("; ")) : null));
  }

  function generateCard(onCreated) {
    // the fields' names carry a prefix: the upload form beside it has a system prompt too
    const field = (spec) => {
      const el = UI.field({...spec, name: `gen_${spec.name}`});
      el.dataset.field = spec.name;  // the server's field violations land on the field
      return el;
    };
    const where = field({name: "where", label: "Where are the sources?", type: "select", value: "server",
      options: [{value: "server", label: "Paths on the server"}, {value: "zip", label: "A project zip from this computer"}]});
    const zip = h("input", {type: "file", id: "generate-zip", name: "project", accept: ".zip,application/zip"});
    const zipBox = h("div", {class: "field", dataset: {field: "project_upload_id"}, hidden: true},
      h("label", {for: "generate-zip"}, "Project zip"), zip,
      h("div", {class: "help"}, "The paths below are then folders and files inside the zip."), h("div", {class: "error", hidden: true}));
    where.querySelector("select").addEventListener("change", (e) => { zipBox.hidden = e.target.value !== "zip"; });
    const status = h("div", {});
    const form = h("form", {id: "generate-form"}, h("div", {class: "form-error", hidden: true}),
      field({name: "dataset_name", label: "Dataset name", placeholder: "product", help: "Letters, digits, '.', '_', '-'."}),
      where, zipBox, h("div", {class: "fields"}, ...GENERATE_SOURCES.map(field)),
      h("details", {class: "options"}, h("summary", {}, "More sources and options"),
        h("div", {class: "fields"}, ...GENERATE_MORE.map(field), ...GENERATE_OPTIONS.map(field))),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit", id: "generate-button"}, "Generate")), status);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      const body = {};
      for (const [k, v] of Object.entries(UI.values(form))) {
        const key = k.replace(/^gen_/, "");
        if (key === "where" || v === "") continue;
        body[key] = ["validation_split", "questions_per_passage"].includes(key) ? Number(v) : v;
      }
      const sources = [...GENERATE_SOURCES.map((s) => s.name), "repo_url", "faq_sqlite_file"];
      if (!sources.some((k) => body[k])) {
        UI.showErrors(form, {message: t("Give at least one source: docs, FAQ, code, scenarios, escalation rules, a FAQ database or a repository."), violations: []});
        return;
      }
      const fromZip = form.querySelector("[name=gen_where]").value === "zip";
      if (fromZip && !zip.files.length) {
        UI.showErrors(form, {message: t("Choose the project zip first"), violations: [{field: "project_upload_id", description: t("required")}]});
        return;
      }
      const button = form.querySelector("#generate-button");
      button.disabled = true;
      try {
        if (fromZip) {
          status.replaceChildren(h("div", {class: "hint"}, "uploading…"), UI.progressBar(0));
          const up = await UI.upload(`${API}/datasets/upload`, zip.files[0], (f) => { const b = status.querySelector(".progress > div"); if (b) b.style.width = `${f * 100}%`; });
          body.project_upload_id = up.upload.id;
        }
        const r = await api("POST", `${API}/dataset/generate`, body);
        Jobs.track("llm", r.job, status, (job) => {
          button.disabled = false; onCreated();
          if (Jobs.short(job.state) === "SUCCEEDED") { UI.toast(t("dataset ready")); status.append(generateReport(job.result)); }
          else if (job.error_message) status.append(h("div", {class: "form-error"}, `${job.error_reason || ""} ${job.error_message}`.trim()));
        });
      } catch (e) {
        status.replaceChildren();
        button.disabled = false;
        UI.showErrors(form, e);
      }
    });
    return UI.card("Generate from docs, FAQ and code", form, null, {id: "generate-card"});
  }

  async function datasets(root) {
    const table = h("div", {});
    const detail = h("div", {id: "dataset-detail"});
    async function refresh() {
      const {datasets} = await api("GET", `${API}/datasets`);
      if (!datasets.length) { table.replaceChildren(UI.empty("No datasets yet: upload a Telegram export or a dataset file.")); return; }
      table.replaceChildren(h("table", {id: "datasets-table"},
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Source"), h("th", {class: "num"}, "Train"), h("th", {class: "num"}, "Validation"),
          h("th", {class: "num"}, "Size"), h("th", {}, "Created"), h("th", {}))),
        h("tbody", {}, datasets.map((d) => h("tr", {dataset: {name: d.name}},
          h("td", {}, h("a", {href: "#", onclick: (e) => { e.preventDefault(); showDataset(detail, d.name); }}, d.name)),
          h("td", {}, h("span", {class: "badge"}, d.source), " ", h("span", {class: "hint"}, d.format)),
          h("td", {class: "num"}, d.record_count), h("td", {class: "num"}, d.validation_record_count),
          h("td", {class: "num"}, UI.bytes(d.size_bytes)), h("td", {}, UI.when(d.create_time)),
          h("td", {}, h("div", {class: "row-actions"},
            h("button", {class: "btn small", onclick: () => showDataset(detail, d.name)}, "Stats"),
            h("a", {class: "btn small", href: `${API}/datasets/${enc(d.name)}/download`}, "Download"),
            h("a", {class: "btn small", href: `#/llm/training?dataset=${enc(d.name)}`}, "Train"),
            h("button", {class: "btn small danger", onclick: async () => {
              if (!confirm(t("Delete dataset {name}?", {name: d.name}))) return;
              try { await api("DELETE", `${API}/datasets/${enc(d.name)}`); UI.toast(t("deleted {name}", {name: d.name})); detail.replaceChildren(); refresh(); } catch (e) { UI.fail(e); }
            }}, "Delete"))))))));
    }
    root.replaceChildren(h("h1", {}, "Datasets"), h("p", {class: "lead"}, "Telegram exports and datasets in any common format become chat datasets for LoRA training."),
      h("div", {class: "grid side"}, h("div", {class: "grid"}, uploadCard(refresh), generateCard(refresh)), h("div", {class: "grid"}, UI.card("Datasets", table, h("button", {class: "btn small", onclick: refresh}, "Refresh"), {flush: true}), detail)));
    await refresh();
  }

  // ------------------------------------------------------------------ models (issue 28)
  // The base models the server holds (models_dir, the hub cache): a picker, no terminal.
  async function baseModels() {
    try { return await api("GET", `${API}/base-models`); } catch (e) { return {models: [], hint: UI.readable(e), models_dir: ""}; }
  }

  // A base-model input with the server's local models to pick from (a datalist: a hub id or a
  // path can still be typed) and the server's hint of what to do when the model is not there.
  function modelPicker(info, opts = {}) {
    const listId = `${opts.name || "base_model"}-choices`;
    const models = info.models.filter((m) => !opts.kind || m.kind === opts.kind || m.kind === "other");
    const f = UI.field({name: opts.name || "base_model", label: opts.label || "Base model", value: opts.value || (models[0] || {}).name || "",
      placeholder: opts.placeholder || "a model from the list, or a hub id in the server's cache"});
    const input = f.querySelector("input");
    input.setAttribute("list", listId);
    f.insertBefore(h("datalist", {id: listId}, models.map((m) => h("option", {value: m.name},
      `${m.name} · ${m.architecture || "?"} · ${UI.bytes(m.size_bytes)}`))), f.querySelector(".error"));
    f.insertBefore(h("div", {class: "help", dataset: {hint: "models"}}, models.length ? info.hint : `${t("No models found on the server.")} ${info.hint}`), f.querySelector(".error"));
    return f;
  }

  async function models(root) {
    const info = await baseModels();
    const table = info.models.length ? h("table", {id: "base-models-table"},
      h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Architecture"), h("th", {}, "Kind"), h("th", {class: "num"}, "Size"), h("th", {}, "Where"), h("th", {}))),
      h("tbody", {}, info.models.map((m) => h("tr", {dataset: {model: m.name}},
        h("td", {}, h("strong", {}, m.name), h("div", {class: "hint mono"}, m.path)), h("td", {}, m.architecture || "—"),
        h("td", {}, m.kind === "llm" ? t("text (LLM)") : m.kind === "tts" ? t("voice (TTS)") : t("other")), h("td", {class: "num"}, UI.bytes(m.size_bytes)),
        h("td", {}, m.source === "models_dir" ? t("models folder") : t("download cache")),
        h("td", {}, m.kind === "tts" ? h("a", {class: "btn small", href: `#/tts/pipeline?base_model=${enc(m.name)}`}, "Use for a voice")
          : h("a", {class: "btn small primary", dataset: {action: "use-model"}, href: `#/llm/training?base_model=${enc(m.name)}`}, "Train on it"))))))
      : UI.empty("No models found on the server.");
    root.replaceChildren(h("h1", {}, "Models"), h("p", {class: "lead"}, "The base models this server can train from without downloading anything."),
      UI.card("Base models on the server", h("div", {}, table, h("p", {class: "hint", id: "models-hint"}, info.hint)), null, {flush: true}));
  }

  // ------------------------------------------------------------------ training
  // Parameters in the order a person tunes them; keys the server adds later come last.
  const ORDER = ["lora_rank", "lora_alpha", "lora_dropout", "target_modules", "learning_rate", "epochs", "batch_size",
    "gradient_accumulation_steps", "max_seq_length", "warmup_ratio", "weight_decay", "precision", "quantization",
    "gradient_checkpointing", "packing", "save_steps", "eval_steps", "validation_split", "early_stopping_patience", "seed"];
  const ordered = (keys) => [...ORDER.filter((k) => keys.includes(k)), ...keys.filter((k) => !ORDER.includes(k)).sort()];

  // A config value as the form shows it: lists comma-separated (lists of objects, like GRPO's
  // rewards, as JSON), the rest as text.
  const asText = (v) => (Array.isArray(v) ? (v.some((x) => x && typeof x === "object") ? JSON.stringify(v) : v.join(","))
    : v === undefined || v === null ? "" : String(v));

  function configField(f, value) {
    const spec = {name: f.name, label: f.name, help: f.help, value: asText(value)};
    if (f.kind === "bool") return UI.field({...spec, type: "checkbox", value: value === true});
    if (f.kind === "enum") return UI.field({...spec, type: "select", options: f.choices});
    if (f.kind === "int" || f.kind === "float") return UI.field({...spec, type: "number"});
    if (f.kind === "json") return UI.field({...spec, type: "textarea", placeholder: '[{"kind": "format"}, {"kind": "chrf", "weight": 2}]'});
    return UI.field({...spec, placeholder: f.kind === "list" ? "comma-separated" : ""});
  }

  async function training(root, query) {
    const info = await api("GET", `${API}/config`);
    const {datasets} = await api("GET", `${API}/datasets`);
    const modelsInfo = await baseModels();
    let preset = query.get("preset") || info.default_preset;
    const edited = new Set();  // fields the user changed: a preset keeps them until Reset
    let fitted = {};  // the preset scaled to the dataset (epochs, accumulation)
    const stepsBox = h("div", {class: "steps", id: "step-count", role: "status"});
    const presetBox = h("div", {class: "presets", id: "presets"});
    const params = h("div", {class: "fields", id: "config-fields"});
    const valuesFor = (name) => ({...info.config, ...((info.presets.find((p) => p.name === name) || {}).values || {})});
    const BASIC = ["epochs", "learning_rate", "lora_rank", "max_seq_length", "batch_size", "gradient_accumulation_steps"];
    const basic = h("div", {class: "fields", id: "basic-fields"});
    function renderParams() {
      const now = UI.values(params.closest("form") || params);
      const vals = {...valuesFor(preset), ...fitted};
      for (const key of edited) if (key in now) vals[key] = now[key];
      const byName = Object.fromEntries(info.fields.map((f) => [f.name, f]));
      const make = (key) => {
        const el = configField(byName[key], vals[key]);
        el.addEventListener("input", () => edited.add(key));
        el.addEventListener("change", () => { edited.add(key); if (["epochs", "batch_size", "gradient_accumulation_steps"].includes(key)) refit(); });
        return el;
      };
      basic.replaceChildren(...BASIC.filter((k) => byName[k]).map(make));
      params.replaceChildren(...ordered(Object.keys(byName)).filter((k) => !BASIC.includes(k)).map(make));
    }
    function renderPresets() {
      presetBox.replaceChildren(...info.presets.map((p) => h("button", {type: "button", class: `preset ${p.name === preset ? "selected" : ""}`, dataset: {preset: p.name},
        "aria-pressed": p.name === preset ? "true" : "false",
        onclick: () => { preset = p.name; renderPresets(); refit(true); }}, h("h3", {}, p.name), h("p", {}, p.description))));
    }
    // The preset scaled to the chosen dataset, and the optimizer steps it will run.
    async function refit(rerender) {
      const v = UI.values(form);
      if (!v.dataset) { stepsBox.textContent = ""; if (rerender) renderParams(); return; }
      stepsBox.textContent = t("counting steps…");
      const edits = {};
      for (const key of edited) if (key in v) edits[key] = v[key];
      try {
        // the estimate (instant); "Check fit" asks the trainer for its own count and the time
        const r = await api("POST", `${API}/train/fit-preset`, {dataset: v.dataset, preset, config: edits});
        fitted = r.values;
        stepsBox.textContent = t("{steps} optimizer steps: {examples} examples × {epochs} epochs, {per} examples a step", {
          steps: r.steps, examples: r.examples, epochs: r.epochs, per: r.batch_size * r.gradient_accumulation_steps});
        stepsBox.dataset.steps = r.steps;
      } catch (e) { fitted = {}; stepsBox.textContent = UI.readable(e); }
      if (rerender || Object.keys(fitted).length) renderParams();
    }
    const form = h("form", {id: "train-form"}, h("div", {class: "form-error", hidden: true}),
      h("div", {class: "fields"},
        UI.field({name: "dataset", label: "Dataset", type: "select", value: query.get("dataset") || (datasets[0] || {}).name,
          options: datasets.length ? datasets.map((d) => d.name) : [{value: "", label: "no datasets yet"}]}),
        modelPicker(modelsInfo, {kind: "llm", value: query.get("base_model") || ""}),
        UI.field({name: "adapter_name", label: "Adapter name", placeholder: "chats-v1", help: "Name of the LoRA adapter to produce."})),
      h("h2", {}, "Preset"), h("p", {class: "hint"}, "A preset fills the parameters below, scaled to your dataset; your own changes stay until you reset them."), presetBox,
      stepsBox, basic,
      h("div", {class: "form-actions"}, h("button", {class: "btn small", type: "button", id: "reset-params", onclick: () => { edited.clear(); refit(true); }}, "Reset to the preset")),
      h("details", {class: "options", id: "advanced-params"}, h("summary", {}, "Advanced parameters"), params),
      h("div", {class: "form-actions"},
        h("button", {class: "btn primary", type: "submit", id: "start-training"}, "Start training"),
        h("button", {class: "btn", type: "button", id: "plan-training", onclick: checkPlan}, "Check fit"),
        h("button", {class: "btn", type: "button", id: "save-defaults", onclick: saveDefaults}, "Save parameters as defaults"),
        h("span", {class: "hint"}, "Jobs queue while another training holds the GPU.")),
      h("label", {class: "inline hint"}, h("input", {type: "checkbox", id: "plan-warmup"}),
        " Check fit also times a short warm-up on a CPU server (a GPU server always does)"),
      h("div", {id: "plan", class: "plan", hidden: true}));

    // The trainer's pre-flight check: peak memory, whether it fits, what to change, the time.
    function planView(p) {
      const m = p.memory, tm = p.time || {};
      const parts = [["weights", m.weights_bytes], ["trainable state", m.trainable_state_bytes], ["activations", m.activations_bytes],
        ["logits", m.logits_bytes], ["runtime", m.runtime_bytes]].map(([n, b]) => `${n} ${UI.bytes(b)}`).join(" + ");
      return [
        h("h3", {class: p.fits ? "fits" : "does-not-fit"}, p.fits ? "Fits" : "Does not fit"),
        h("p", {}, t("Peak memory about {total} ({parts}) of {available} available on {device} ({kind}); sequence length {len} ({source}).", {total: UI.bytes(m.total_bytes), parts, available: UI.bytes(p.available_bytes), device: p.device_name, kind: p.device_kind, len: p.seq_len, source: p.seq_len_source})),
        p.advice.length ? h("ul", {class: "advice"}, p.advice.map((a) => h("li", {}, a))) : null,
        h("p", {class: "time"}, tm.measured
          ? t("About {total}: start-up {load} + {steps} steps × {per} s (timed on {device}; {note}).", {total: UI.seconds(tm.estimated_seconds),
            load: UI.seconds(tm.load_seconds), steps: tm.total_steps, per: UI.num(tm.seconds_per_step, 3), device: tm.device, note: tm.note})
          : `${t("Time")}: ${tm.note || t("not measured")}`)].filter(Boolean);
    }
    async function checkPlan() {
      UI.clearErrors(form);
      const v = UI.values(form), box = root.querySelector("#plan");
      box.hidden = false;
      box.replaceChildren(h("p", {class: "hint"}, "checking…"));
      try {
        const r = await api("POST", `${API}/train/plan`, {dataset: v.dataset, base_model: v.base_model, preset, config: changedConfig(),
          warmup: root.querySelector("#plan-warmup").checked});
        box.replaceChildren(...planView(r.plan));
      } catch (e) { box.hidden = true; UI.showErrors(form, e); }
    }

    function changedConfig() {
      const v = UI.values(form), base = valuesFor(preset), out = {};
      for (const f of info.fields) {
        if (!(f.name in v)) continue;
        if (asText(v[f.name]) !== asText(base[f.name])) out[f.name] = v[f.name];
      }
      return out;
    }
    async function saveDefaults() {
      UI.clearErrors(form);
      const v = UI.values(form), values = {};
      for (const f of info.fields) if (f.name in v) values[f.name] = v[f.name];
      try { await api("PUT", `${API}/config`, {values}); UI.toast("defaults saved"); } catch (e) { UI.showErrors(form, e); }
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      const v = UI.values(form);
      try {
        const r = await api("POST", `${API}/train/start`, {dataset: v.dataset, base_model: v.base_model, adapter_name: v.adapter_name, preset, config: changedConfig()});
        UI.toast(t("training job {id}: {state}", {id: r.job.id, state: t(Jobs.short(r.job.state).toLowerCase())}));
        location.hash = `#/llm/jobs/${r.job.id}`;
      } catch (e) { UI.showErrors(form, e); }
    });
    root.replaceChildren(h("h1", {}, "Training"), h("p", {class: "lead"}, "LoRA / QLoRA fine-tuning of your base model on a dataset; the loss is computed on the assistant turns."),
      h("div", {class: "grid"}, UI.card("New training job", form), h("div", {class: "grid", id: "queue"})));
    renderPresets(); renderParams();
    form.querySelector("[name=dataset]").addEventListener("change", () => refit(true));
    await refit(true);
    await queue(root.querySelector("#queue"));
  }

  async function queue(el) {
    const status = await api("GET", `${API}/train/status`);
    el.replaceChildren(UI.card("Queue and recent jobs", jobTable(status.jobs, "llm"), null, {flush: true}));
  }

  function jobTable(jobs, scope) {
    if (!jobs.length) return UI.empty("No jobs yet.");
    return h("table", {class: "jobs-table"}, h("thead", {}, h("tr", {}, h("th", {}, "Job"), h("th", {}, "Kind"), h("th", {}, "State"),
      h("th", {}, "What"), h("th", {class: "num"}, "Progress"), h("th", {}, "Created"))),
    h("tbody", {}, jobs.map((j) => {
      const p = j.params || {};
      return h("tr", {dataset: {job: j.id}}, h("td", {}, h("a", {href: `#/${scope}/jobs/${j.id}`}, j.id)), h("td", {}, j.kind),
        h("td", {}, UI.state(j.state), j.queue_position ? h("span", {class: "hint"}, ` #${j.queue_position}`) : null),
        h("td", {class: "hint"}, p.adapter_name || p.dataset_name || p.model_name || ""),
        h("td", {class: "num"}, `${Number((j.progress || {}).percent || 0).toFixed(0)}%`), h("td", {}, UI.when(j.create_time)));
    })));
  }

  async function jobs(root) {
    const {jobs: list} = await api("GET", `${API}/jobs?limit=100`);
    root.replaceChildren(h("h1", {}, "Jobs"), h("p", {class: "lead"}, "Training and dataset-processing jobs, newest first."),
      UI.card("Jobs", jobTable(list, "llm"), null, {flush: true}));
  }

  // ------------------------------------------------------------------ evaluation (issue 28)
  // Base vs adapter side by side: losses, style metrics, and each held-out sample's prompt,
  // the owner's real reply, the base's and the adapter's.
  async function evaluationPanel(out, name, onChange) {
    out.replaceChildren(UI.card(t("Evaluation · {name}", {name}), UI.empty("loading…")));
    let report = null;
    try { report = await api("GET", `${API}/adapters/${enc(name)}/evaluation`); } catch (e) { if (e.status !== 404) { UI.fail(e); return; } }
    const run = h("button", {class: "btn small primary", id: "run-evaluation", onclick: async () => {
      try {
        const r = await api("POST", `${API}/adapters/${enc(name)}/evaluate`, {});
        const box = h("div", {});
        out.querySelector(".body").prepend(box);
        Jobs.track("llm", r.job, box, (job) => { if (Jobs.short(job.state) === "SUCCEEDED") { evaluationPanel(out, name, onChange); onChange && onChange(); } });
      } catch (e) { UI.fail(e); }
    }}, report ? "Evaluate again" : "Evaluate now");
    if (!report) { out.replaceChildren(UI.card(t("Evaluation · {name}", {name}), UI.empty("No evaluation yet: run one to compare the adapter with the base model."), run)); return; }
    const b = report.base || {}, a = report.adapter || {};
    const METRICS = [["eval_loss", "eval loss (lower is better)", -1], ["style_score", "closeness to the owner's style", 1], ["chrf", "chrF against the owner's replies", 1],
      ["length_ratio", "reply length vs the owner's", 0], ["emoji_rate", "emoji per 100 characters", 0], ["script_match", "replies in the owner's script", 1]];
    const mark = (dir, base, adapter) => (!dir || base === adapter ? "" : (adapter - base) * dir > 0 ? "better" : "worse");
    const verdict = report.lower_loss && report.closer_to_owner ? t("The adapter is better than the base model on both loss and style.")
      : report.lower_loss ? t("The adapter has a lower loss, but its style is not closer to the owner.")
      : report.closer_to_owner ? t("The adapter's style is closer to the owner, but its loss is not lower.") : t("The adapter is not better than the base model.");
    out.replaceChildren(UI.card(t("Evaluation · {name}", {name}), h("div", {id: "evaluation"},
      h("p", {class: report.lower_loss && report.closer_to_owner ? "better" : "worse"}, verdict),
      h("table", {id: "evaluation-metrics"}, h("thead", {}, h("tr", {}, h("th", {}, "Metric"), h("th", {class: "num"}, "Base"), h("th", {class: "num"}, "Adapter"))),
        h("tbody", {}, METRICS.map(([k, label, dir]) => h("tr", {}, h("td", {}, label), h("td", {class: "num"}, UI.num(b[k], 3)),
          h("td", {class: `num ${mark(dir, b[k] || 0, a[k] || 0)}`}, UI.num(a[k], 3)))))),
      h("h3", {}, "Samples side by side"),
      h("table", {class: "sbs", id: "evaluation-samples"}, h("thead", {}, h("tr", {}, h("th", {}, "Prompt"), h("th", {}, "The owner's real reply"), h("th", {}, "Base"), h("th", {}, "Adapter"))),
        h("tbody", {}, (report.samples || []).map((sm) => h("tr", {},
          h("td", {}, (sm.messages || []).filter((m) => m.role !== "system").slice(-2).map((m) => h("div", {class: `msg ${m.role}`}, m.content))),
          h("td", {class: "trained"}, sm.reference), h("td", {}, sm.base), h("td", {}, sm.adapter))))),
      h("p", {class: "hint"}, t("{n} held-out dialogs, {tokens} new tokens at most, greedy: {greedy}", {n: (report.settings || {}).samples || 0,
        tokens: (report.settings || {}).max_new_tokens || 0, greedy: (report.settings || {}).greedy ? t("yes") : t("no")}))), run));
  }

  // ------------------------------------------------------------------ chat (issue 28)
  // Two columns, base and adapter, over a multi-turn conversation; each side keeps its own
  // history (its own replies), the user's turns are shared.
  function chatPanel(out, name) {
    const history = {base: [], adapter: []};
    const cols = {base: h("div", {class: "column", id: "chat-base"}, h("h3", {}, "Base model")),
      adapter: h("div", {class: "column", id: "chat-adapter"}, h("h3", {}, t("Adapter {name}", {name})))};
    const form = h("form", {id: "chat-form"}, h("div", {class: "form-error", hidden: true}),
      h("details", {class: "options"}, h("summary", {}, "Settings"), h("div", {class: "fields"},
        UI.field({name: "system", label: "System prompt", type: "textarea", placeholder: "optional"}),
        UI.field({name: "temperature", label: "Temperature", type: "number", value: "0", help: "0 = always the most likely reply."}),
        UI.field({name: "top_p", label: "Top-p", type: "number", value: "1"}),
        UI.field({name: "max_new_tokens", label: "Max new tokens", type: "number", value: "128"}))),
      UI.field({name: "message", label: "Your message", type: "textarea", rows: 2}),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit", id: "chat-send"}, "Send"),
        h("button", {class: "btn", type: "button", onclick: () => chatPanel(out, name)}, "New conversation"),
        h("span", {class: "hint", id: "chat-state", role: "status"}, t("Runs as a job of the trainer; it waits while a training holds the GPU."))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      const v = UI.values(form);
      if (!v.message.trim()) return;
      const send = form.querySelector("#chat-send"), state = form.querySelector("#chat-state");
      send.disabled = true;
      state.textContent = t("waiting for the GPU…");
      const pending = {};
      for (const side of ["base", "adapter"]) {
        history[side].push({role: "user", content: v.message});
        cols[side].append(h("div", {class: "turn user"}, v.message));
        pending[side] = h("div", {class: "turn assistant pending", dataset: {side}});
        cols[side].append(pending[side]);
      }
      const system = v.system.trim() ? [{role: "system", content: v.system.trim()}] : [];
      form.querySelector("[name=message]").value = "";
      const texts = {base: "", adapter: ""};
      let via = "";
      try {
        // the two sides have their own histories: the adapter's conversation is the one sent;
        // the base answers it as well (compare), which is what a side-by-side needs.
        await UI.stream(`${API}/adapters/${enc(name)}/chat`, {messages: [...system, ...history.adapter], compare: true,
          temperature: Number(v.temperature || 0), top_p: Number(v.top_p || 0), max_new_tokens: Number(v.max_new_tokens || 0)}, (type, data) => {
          if (type === "path") via = data.via === "vllm" ? t("through vLLM (served as {name})", {name: data.served_name})
            : t("through the trainer's chat job (the adapter is not served by vLLM here)");
          if (type === "path" && data.via === "vllm") state.textContent = via;
          if (type === "job") state.textContent = t("generating… (job {id})", {id: data.id});
          if (type === "piece" && pending[data.side]) { texts[data.side] += data.text; pending[data.side].textContent = texts[data.side]; }
          if (type === "reply" && pending[data.side]) { texts[data.side] = data.text; pending[data.side].textContent = data.text; pending[data.side].classList.remove("pending"); }
          if (type === "stream_error") UI.showErrors(form, {message: data.message, violations: []});
        });
        for (const side of ["base", "adapter"]) { pending[side].classList.remove("pending"); history[side].push({role: "assistant", content: texts[side]}); }
        state.textContent = via;
      } catch (e) { for (const side of ["base", "adapter"]) { pending[side].remove(); history[side].pop(); } UI.showErrors(form, e); state.textContent = ""; }
      send.disabled = false;
    });
    out.replaceChildren(UI.card(t("Chat · {name}", {name}), h("div", {}, h("div", {class: "chat2"}, cols.base, cols.adapter), form)));
    form.querySelector("textarea[name=message]").focus();
  }

  // ------------------------------------------------------------------ export (issue 28)
  function exportsPanel(out, name) {
    const list = h("div", {id: "exports-list"});
    async function refresh() {
      const {models} = await api("GET", `${API}/exports?adapter=${enc(name)}`);
      list.replaceChildren(models.length ? h("table", {}, h("tbody", {}, models.map((m) => h("tr", {},
        h("td", {}, h("strong", {}, String(m.format || "").replace("EXPORT_FORMAT_", "").toLowerCase()), " ", h("span", {class: "hint"}, m.quant || "")), h("td", {class: "num"}, UI.bytes(m.size_bytes)),
        h("td", {}, UI.when(m.create_time)),
        h("td", {}, h("a", {class: "btn small", dataset: {action: "download-export"}, href: `${API}/exports/${enc(m.id)}/download`}, "Download"))))))
        : UI.empty("No exports yet."));
    }
    const status = h("div", {});
    const form = h("form", {id: "export-form"}, h("div", {class: "form-error", hidden: true}), h("div", {class: "fields"},
      UI.field({name: "format", label: "Format", type: "select", value: "gguf", options: [{value: "gguf", label: "GGUF (llama.cpp, Ollama)"},
        {value: "gguf-lora", label: "GGUF LoRA"}, {value: "awq", label: "AWQ 4-bit (vLLM)"}, {value: "merged", label: "merged model"}]}),
      UI.field({name: "quant", label: "Quantization", placeholder: "f16, q8_0, q4_k_m"})),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit", id: "start-export"}, "Export")), status);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      try {
        const r = await api("POST", `${API}/adapters/${enc(name)}/export`, UI.values(form));
        Jobs.track("llm", r.job, status, () => refresh());
      } catch (e) { UI.showErrors(form, e); }
    });
    out.replaceChildren(UI.card(t("Export · {name}", {name}), h("div", {}, form, list)));
    refresh().catch(UI.fail);
  }

  // ------------------------------------------------------------------ adapters
  function evalSummary(a) {
    const m = a.metrics || {};
    const parts = [];
    if (m.loss !== undefined) parts.push(`${t("loss")} ${UI.num(m.loss, 3)}`);
    if (m.eval_loss !== undefined) parts.push(`${t("eval loss")} ${UI.num(m.eval_loss, 3)}`);
    if (m.train_loss !== undefined && m.loss === undefined) parts.push(`${t("loss")} ${UI.num(m.train_loss, 3)}`);
    if (a.evaluation) parts.push(t("style {adapter} vs base {base}", {adapter: UI.num(a.evaluation.adapter_style_score, 2), base: UI.num(a.evaluation.base_style_score, 2)})
      + (a.evaluation.closer_to_owner ? "" : ` (${t("not closer")})`));
    return parts.length ? parts.join(" · ") : h("span", {class: "gap"}, "no evaluation yet");
  }

  async function adapters(root) {
    const body = h("div", {});
    const activeCard = h("div", {});
    async function act(method, path, message) {
      try { await api(method, path); UI.toast(message); await refresh(); } catch (e) { UI.fail(e); }
    }
    const chatOut = h("div", {id: "chat-output"});
    const evalOut = h("div", {id: "evaluation-output"});
    const exportOut = h("div", {id: "export-output"});
    const chat = (name) => chatPanel(chatOut, name);
    const evaluation = (name) => evaluationPanel(evalOut, name, refresh);
    const exportPanel = (name) => exportsPanel(exportOut, name);
    async function activate(name) {
      try {
        const r = await UI.confirmed("POST", `${API}/adapters/${enc(name)}/activate`);
        if (r) { UI.toast(t("{name} is active", {name})); await refresh(); }
      } catch (e) { UI.fail(e); }
    }
    async function refresh() {
      const {adapters: list, active} = await api("GET", `${API}/adapters`);
      activeCard.replaceChildren(UI.card("Serving", h("div", {class: "kv", id: "activation"},
        h("div", {}, "active adapter"), h("div", {}, active.adapter_name ? h("strong", {}, `${active.adapter_name} v${active.adapter_version}`) : h("span", {class: "gap"}, "none (base model)")),
        h("div", {}, "served as"), h("div", {class: "mono"}, active.served_name || "—"),
        h("div", {}, "vLLM"), h("div", {}, h("span", {class: `badge ${{APPLIED: "ok", PENDING: "warn", FAILED: "bad"}[active.vllm_state] || ""}`}, (active.vllm_state || "—").toLowerCase().replace("_", " ")), " ", h("span", {class: "hint"}, `${active.vllm_mode || ""} mode ${active.vllm_message || ""}`)),
        h("div", {}, "previous"), h("div", {}, active.previous_adapter_name || "—")),
        [h("button", {class: "btn small", id: "rollback", onclick: () => act("POST", `${API}/adapters/rollback`, "rolled back")}, "Roll back"),
         h("button", {class: "btn small", id: "deactivate", onclick: () => act("POST", `${API}/adapters/deactivate`, "deactivated")}, "Deactivate")]));
      if (!list.length) { body.replaceChildren(UI.empty("No adapters yet: finished trainings register theirs here.")); return; }
      body.replaceChildren(h("table", {id: "adapters-table"},
        h("thead", {}, h("tr", {}, h("th", {}, "Adapter"), h("th", {}, "Base model"), h("th", {}, "Dataset"), h("th", {}, "Created"),
          h("th", {class: "num"}, "Size"), h("th", {}, "State"), h("th", {}, "Evaluation"), h("th", {}))),
        h("tbody", {}, list.map((a) => h("tr", {dataset: {adapter: a.name}},
          h("td", {}, h("strong", {}, a.name), h("span", {class: "hint"}, ` v${a.version} · r${a.rank}`)),
          h("td", {class: "mono"}, a.base_model.split("/").slice(-2).join("/")), h("td", {}, a.dataset || "—"), h("td", {}, UI.when(a.create_time)),
          h("td", {class: "num"}, UI.bytes(a.size_bytes)),
          h("td", {}, a.active ? h("span", {class: "badge ok", dataset: {active: "true"}}, active.vllm_state === "APPLIED" ? "active · served" : "active") : h("span", {class: "badge"}, "inactive")),
          h("td", {}, evalSummary(a)),
          h("td", {}, h("div", {class: "row-actions"},
            a.active ? h("button", {class: "btn small", onclick: () => act("POST", `${API}/adapters/deactivate`, "deactivated")}, "Deactivate")
                     : h("button", {class: "btn small primary", dataset: {action: "activate"}, onclick: () => activate(a.name)}, "Activate"),
            h("button", {class: "btn small", dataset: {action: "evaluation"}, onclick: () => evaluation(a.name)}, "Evaluation"),
            h("button", {class: "btn small", dataset: {action: "chat"}, title: "talk to it, the base model side by side", onclick: () => chat(a.name)}, "Chat"),
            h("button", {class: "btn small", dataset: {action: "export"}, onclick: () => exportPanel(a.name)}, "Export"),
            h("a", {class: "btn small", href: `${API}/adapters/${enc(a.name)}/download`}, "Download"),
            h("button", {class: "btn small danger", onclick: () => confirm(t("Delete adapter {name}?", {name: a.name})) && act("DELETE", `${API}/adapters/${enc(a.name)}`, `deleted ${a.name}`)}, "Delete"))))))));
    }
    root.replaceChildren(h("h1", {}, "Adapters"), h("p", {class: "lead"}, "Trained LoRA adapters. Activating one writes the marker vLLM loads and tells vLLM."),
      h("div", {class: "grid"}, activeCard, UI.card("Adapters", body, h("button", {class: "btn small", onclick: refresh}, "Refresh"), {flush: true})), evalOut, chatOut, exportOut);
    await refresh();
  }

  return {models, datasets, training, jobs, adapters, jobTable, baseModels, modelPicker};
})();
