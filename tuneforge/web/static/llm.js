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
  const IMPORT_OPTIONS = [
    {name: "format", label: "Format", type: "select", value: "auto", options: ["auto", "messages", "sharegpt", "alpaca", "prompt_completion",
      "text", "vertex", "instruction_output", "question_answer", "text_label", "csv", "parquet"]},
    {name: "validation_split", label: "Validation share", type: "number", placeholder: "0.1"},
    {name: "skip_invalid", label: "Skip invalid records (and report them)", type: "checkbox"},
  ];

  function options(kind, form) {
    const specs = kind === "telegram" ? TELEGRAM_OPTIONS : IMPORT_OPTIONS;
    const v = UI.values(form), out = {};
    for (const s of specs) {
      const raw = v[s.name];
      if (s.type === "checkbox") { if (raw) out[s.name] = true; continue; }
      if (raw === "" || raw === undefined) continue;
      out[s.name] = s.type === "number" ? Number(raw) : raw;
    }
    return out;
  }

  function uploadCard(onCreated) {
    const file = h("input", {type: "file", id: "dataset-file", name: "file"});
    const kind = UI.field({name: "kind", label: "What is it?", type: "select", value: "telegram",
      options: [{value: "telegram", label: "Telegram export (result.json or .zip)"}, {value: "import", label: "Dataset file (JSONL, JSON, CSV, Parquet)"}]});
    const name = UI.field({name: "name", label: "Dataset name", placeholder: "chats", help: "Letters, digits, '.', '_', '-'."});
    const opts = h("div", {class: "fields"});
    const renderOpts = () => opts.replaceChildren(...(kind.querySelector("select").value === "telegram" ? TELEGRAM_OPTIONS : IMPORT_OPTIONS).map(UI.field));
    kind.querySelector("select").addEventListener("change", renderOpts);
    renderOpts();
    const status = h("div", {});
    const drop = h("div", {class: "dropzone", dataset: {field: "file"}}, h("div", {}, "Drop a file here or choose one"), file);
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); file.files = e.dataTransfer.files; });
    const form = h("form", {id: "upload-form"}, h("div", {class: "form-error", hidden: true}), drop, kind, name,
      h("details", {class: "options", open: true}, h("summary", {}, "Processing options"), opts),
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
        const r = await api("POST", `${API}/datasets/process`, {upload_id: up.upload.id, name: form.querySelector("[name=name]").value, kind: k, options: options(k, form)});
        if (r.job) Jobs.track("llm", r.job, status, (job) => { button.disabled = false; onCreated(); if (Jobs.short(job.state) === "SUCCEEDED") UI.toast("dataset ready"); });
        else { status.replaceChildren(h("div", {class: "hint"}, `imported ${r.dataset.record_count} records`)); button.disabled = false; onCreated(); }
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
      const bar = h("div", {class: `bar ${b.lower >= stats.max_seq_length ? "over" : ""}`, title: `${b.lower}–${b.upper} tokens: ${b.count} records`});
      bar.style.height = `${Math.max(2, (b.count / max) * 100)}%`;
      return bar;
    });
    return h("div", {id: "token-histogram"}, h("div", {class: "histogram"}, bars),
      h("div", {class: "histogram-axis"}, buckets.map((b) => h("span", {}, `${b.lower}–${b.upper}`))),
      h("div", {class: "hint"}, `tokens per record (${stats.token_count_method}); red: over max_seq_length ${stats.max_seq_length}`));
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
    if (!tokenizer.base_model) detail.replaceChildren(UI.card(`Dataset ${name}`, UI.empty("loading…")));
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
        UI.card(`Statistics · ${name}`, h("div", {}, h("div", {class: "stats", id: "dataset-stats"},
          stat("records", stats.record_count), stat("messages", stats.message_count), stat("tokens", stats.token_count.toLocaleString()),
          stat(`over ${stats.max_seq_length} tokens`, stats.records_over_max_seq_length), stat("size", UI.bytes(stats.size_bytes))),
          histogram(stats), recount)),
        UI.card("Preview", preview(prev.records), null, {flush: true})));
    } catch (e) { UI.fail(e); }
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
              if (!confirm(`Delete dataset ${d.name}?`)) return;
              try { await api("DELETE", `${API}/datasets/${enc(d.name)}`); UI.toast(`deleted ${d.name}`); detail.replaceChildren(); refresh(); } catch (e) { UI.fail(e); }
            }}, "Delete"))))))));
    }
    root.replaceChildren(h("h1", {}, "Datasets"), h("p", {class: "lead"}, "Telegram exports and datasets in any common format become chat datasets for LoRA training."),
      h("div", {class: "grid side"}, uploadCard(refresh), h("div", {class: "grid"}, UI.card("Datasets", table, h("button", {class: "btn small", onclick: refresh}, "Refresh"), {flush: true}), detail)));
    await refresh();
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
    let preset = info.default_preset;
    const presetBox = h("div", {class: "presets", id: "presets"});
    const params = h("div", {class: "fields", id: "config-fields"});
    const valuesFor = (name) => ({...info.config, ...((info.presets.find((p) => p.name === name) || {}).values || {})});
    function renderParams() {
      const vals = valuesFor(preset);
      const byName = Object.fromEntries(info.fields.map((f) => [f.name, f]));
      params.replaceChildren(...ordered(Object.keys(byName)).map((key) => configField(byName[key], vals[key])));
    }
    function renderPresets() {
      presetBox.replaceChildren(...info.presets.map((p) => h("div", {class: `preset ${p.name === preset ? "selected" : ""}`, dataset: {preset: p.name},
        onclick: () => { preset = p.name; renderPresets(); renderParams(); }}, h("h3", {}, p.name), h("p", {}, p.description))));
    }
    renderPresets(); renderParams();
    const form = h("form", {id: "train-form"}, h("div", {class: "form-error", hidden: true}),
      h("div", {class: "fields"},
        UI.field({name: "dataset", label: "Dataset", type: "select", value: query.get("dataset") || (datasets[0] || {}).name,
          options: datasets.length ? datasets.map((d) => d.name) : [{value: "", label: "no datasets yet"}]}),
        UI.field({name: "base_model", label: "Base model", placeholder: "Qwen/Qwen2.5-7B-Instruct or /models/qwen", help: "A local directory or a hub id already in the local cache."}),
        UI.field({name: "adapter_name", label: "Adapter name", placeholder: "chats-v1", help: "Name of the LoRA adapter to produce."})),
      h("h2", {}, "Preset"), h("p", {class: "hint"}, "A preset fills the parameters below; change any of them before starting."), presetBox,
      h("details", {class: "options", open: true}, h("summary", {}, "Parameters"), params),
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
      const m = p.memory, t = p.time || {};
      const parts = [["weights", m.weights_bytes], ["trainable state", m.trainable_state_bytes], ["activations", m.activations_bytes],
        ["logits", m.logits_bytes], ["runtime", m.runtime_bytes]].map(([n, b]) => `${n} ${UI.bytes(b)}`).join(" + ");
      return [
        h("h3", {class: p.fits ? "fits" : "does-not-fit"}, p.fits ? "Fits" : "Does not fit"),
        h("p", {}, `Peak memory about ${UI.bytes(m.total_bytes)} (${parts}) of ${UI.bytes(p.available_bytes)} available on ${p.device_name} (${p.device_kind}); `
          + `sequence length ${p.seq_len} (${p.seq_len_source}).`),
        p.advice.length ? h("ul", {class: "advice"}, p.advice.map((a) => h("li", {}, a))) : null,
        h("p", {class: "time"}, t.measured
          ? `About ${UI.seconds(t.estimated_seconds)}: start-up ${UI.seconds(t.load_seconds)} + ${t.total_steps} steps × ${UI.num(t.seconds_per_step, 3)} s (timed on ${t.device}; ${t.note}).`
          : `Time: ${t.note || "not measured"}`)].filter(Boolean);
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
        UI.toast(`training job ${r.job.id} ${Jobs.short(r.job.state).toLowerCase()}`);
        location.hash = `#/llm/jobs/${r.job.id}`;
      } catch (e) { UI.showErrors(form, e); }
    });
    root.replaceChildren(h("h1", {}, "Training"), h("p", {class: "lead"}, "LoRA / QLoRA fine-tuning of your base model on a dataset; the loss is computed on the assistant turns."),
      h("div", {class: "grid"}, UI.card("New training job", form), h("div", {class: "grid", id: "queue"})));
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

  // ------------------------------------------------------------------ adapters
  function evalSummary(a) {
    const m = a.metrics || {};
    const parts = [];
    if (m.loss !== undefined) parts.push(`loss ${UI.num(m.loss, 3)}`);
    if (m.eval_loss !== undefined) parts.push(`eval ${UI.num(m.eval_loss, 3)}`);
    if (m.train_loss !== undefined && m.loss === undefined) parts.push(`loss ${UI.num(m.train_loss, 3)}`);
    if (a.evaluation) parts.push(`style ${UI.num(a.evaluation.adapter_style_score, 2)} vs base ${UI.num(a.evaluation.base_style_score, 2)}${a.evaluation.closer_to_owner ? "" : " (not closer)"}`);
    return parts.length ? parts.join(" · ") : h("span", {class: "gap"}, "no evaluation yet");
  }

  async function adapters(root) {
    const body = h("div", {});
    const activeCard = h("div", {});
    async function act(method, path, message) {
      try { await api(method, path); UI.toast(message); await refresh(); } catch (e) { UI.fail(e); }
    }
    const chatOut = h("div", {id: "chat-output"});
    async function chat(name) {
      const text = prompt(`Message to ${name} (the base model answers too, side by side)`);
      if (!text) return;
      const sides = {base: h("pre", {class: "chat mono"}), adapter: h("pre", {class: "chat mono"})};
      chatOut.replaceChildren(UI.card(`Chat with ${name}: “${text}”`, h("div", {class: "grid"},
        h("div", {}, h("strong", {}, "base"), sides.base), h("div", {}, h("strong", {}, name), sides.adapter))));
      try {
        await UI.stream(`${API}/adapters/${enc(name)}/chat`, {messages: [{role: "user", content: text}], compare: true}, (type, data) => {
          if (type === "piece" && sides[data.side]) sides[data.side].append(data.text);
          if (type === "stream_error") UI.toast(data.message);
        });
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
                     : h("button", {class: "btn small primary", dataset: {action: "activate"}, onclick: () => act("POST", `${API}/adapters/${enc(a.name)}/activate`, `${a.name} is active`)}, "Activate"),
            h("a", {class: "btn small", href: `${API}/adapters/${enc(a.name)}/download`}, "Download"),
            h("button", {class: "btn small", dataset: {action: "chat"}, title: "talk to it, the base model side by side", onclick: () => chat(a.name)}, "Chat"),
            h("button", {class: "btn small danger", onclick: () => confirm(`Delete adapter ${a.name}?`) && act("DELETE", `${API}/adapters/${enc(a.name)}`, `deleted ${a.name}`)}, "Delete"))))))));
    }
    root.replaceChildren(h("h1", {}, "Adapters"), h("p", {class: "lead"}, "Trained LoRA adapters. Activating one writes the marker vLLM loads and tells vLLM."),
      h("div", {class: "grid"}, activeCard, UI.card("Adapters", body, h("button", {class: "btn small", onclick: refresh}, "Refresh"), {flush: true})), chatOut);
    await refresh();
  }

  return {datasets, training, jobs, adapters, jobTable};
})();
