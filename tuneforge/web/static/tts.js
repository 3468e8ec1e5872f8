// The TTS sub-tab: voice samples, transcription and preparation, training, voice models
// with their checkpoints and preview synthesis.
"use strict";

const TTS = (() => {
  const {h, api} = UI;
  const API = "/admin/tts-finetune";
  const enc = encodeURIComponent;

  async function samples(root) {
    const body = h("div", {});
    const summary = h("span", {class: "hint", id: "samples-summary"});
    const files = h("input", {type: "file", id: "sample-files", multiple: true, accept: "audio/*,.wav,.mp3,.ogg,.opus,.flac"});
    const status = h("div", {class: "hint"});
    const form = h("form", {id: "sample-upload-form"}, h("div", {class: "form-error", hidden: true}),
      h("div", {class: "dropzone", dataset: {field: "file"}}, h("div", {}, "Voice recordings: wav, mp3, ogg, opus, flac (1–30 s each works best)"), files),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit", id: "upload-samples"}, "Upload"), status));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      let done = 0;
      for (const f of files.files) {
        status.textContent = t("uploading {name}…", {name: f.name});
        try { await UI.upload(`${API}/samples/upload`, f); done += 1; } catch (e) { UI.showErrors(form, e); }
      }
      status.textContent = done ? t("uploaded: {n}", {n: done}) : "";
      files.value = "";
      refresh();
    });
    async function refresh() {
      const {samples: list, total_seconds} = await api("GET", `${API}/samples`);
      summary.textContent = t("samples: {n} · {seconds} s of audio", {n: list.length, seconds: I18N.number(total_seconds, 1)});
      if (!list.length) { body.replaceChildren(UI.empty("No voice samples yet.")); return; }
      body.replaceChildren(h("table", {id: "samples-table"},
        h("thead", {}, h("tr", {}, h("th", {}, "Sample"), h("th", {}, "Play"), h("th", {class: "num"}, "Duration"), h("th", {}, "Format"),
          h("th", {}, "Transcript"), h("th", {}))),
        h("tbody", {}, list.map((s) => {
          const text = h("textarea", {rows: 2, name: "transcript", placeholder: "what is said in the clip"}, s.transcript);
          return h("tr", {dataset: {sample: s.name}},
            h("td", {}, h("strong", {}, s.name), h("div", {class: "hint"}, UI.bytes(s.size_bytes))),
            h("td", {}, h("audio", {controls: true, preload: "none", src: `${API}/samples/${enc(s.name)}/audio`})),
            h("td", {class: "num"}, `${Number(s.duration_seconds).toFixed(1)} s`),
            h("td", {}, h("span", {class: "badge"}, s.format), h("div", {class: "hint"}, `${s.sample_rate} Hz · ${s.channels} ch`)),
            h("td", {}, text, s.transcript_source ? h("div", {class: "hint"}, t("source: {source}", {source: s.transcript_source})) : null),
            h("td", {}, h("div", {class: "row-actions"},
              h("button", {class: "btn small", onclick: async () => {
                try { await api("PUT", `${API}/samples/${enc(s.name)}/transcript`, {transcript: text.value}); UI.toast("transcript saved"); refresh(); } catch (e) { UI.fail(e); }
              }}, "Save"),
              h("button", {class: "btn small danger", onclick: async () => {
                if (!confirm(t("Delete {name}?", {name: s.name}))) return;
                try { await api("DELETE", `${API}/samples/${enc(s.name)}`); refresh(); } catch (e) { UI.fail(e); }
              }}, "Delete"))));
        }))));
    }
    root.replaceChildren(h("h1", {}, "Voice samples"), h("p", {class: "lead"}, "Recordings of the voice to learn, each with the text spoken in it."),
      h("div", {class: "grid"}, UI.card("Upload samples", form), UI.card("Samples", body, summary, {flush: true})));
    await refresh();
  }

  function jobForm(id, title, fields, action, submitLabel) {
    const status = h("div", {});
    const form = h("form", {id}, h("div", {class: "form-error", hidden: true}), h("div", {class: "fields"}, fields.map((f) => (f instanceof Node ? f : UI.field(f)))),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit"}, submitLabel)), status);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      try { const r = await action(UI.values(form)); Jobs.track("tts", r.job, status); } catch (e) { UI.showErrors(form, e); }
    });
    return UI.card(title, form);
  }

  const clean = (v) => Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== false));
  const numbers = (v, keys) => { for (const k of keys) if (v[k] !== undefined) v[k] = Number(v[k]); return v; };

  async function pipeline(root, query) {
    const [{samples: list}, config, {jobs}, models] = await Promise.all([api("GET", `${API}/samples`), api("GET", `${API}/config`),
      api("GET", `${API}/jobs?limit=30`), LLM.baseModels()]);
    const names = list.map((s) => s.name);
    // One base model for preparing and training (issue 28): picked from the server's models;
    // a bare name means a folder under models_dir, as for the LLM.
    const chosen = (query && query.get("base_model")) || config.base_model;
    const picker = (name) => LLM.modelPicker(models, {kind: "tts", name, value: chosen, label: "Base model",
      placeholder: "Qwen3-TTS: a model from the list or a hub id in the server's cache"});
    root.replaceChildren(h("h1", {}, "Prepare and train"), h("p", {class: "lead"}, "Transcribe the samples, turn them into audio codes, then fine-tune Qwen3-TTS on them."),
      h("div", {class: "grid two"},
        jobForm("transcribe-form", "1 · Transcribe (Whisper)", [
          {name: "whisper_model", label: "Whisper model", placeholder: "small", help: "tiny … large-v3 from the local cache, or a local directory."},
          {name: "language", label: "Language", placeholder: "auto", help: "ru, en, … or empty for auto."},
          {name: "vad", label: "Voice activity filter", type: "checkbox"},
          {name: "overwrite", label: "Redo samples that have a transcript", type: "checkbox"},
        ], (v) => api("POST", `${API}/transcribe`, clean(v)), "Transcribe"),
        jobForm("prepare-form", "2 · Prepare the dataset", [
          {name: "ref_sample", label: "Reference clip", type: "select", options: ["", ...names], help: "Sets the voice for the whole set (default: the first sample)."},
          picker("base_model"),
        ], (v) => api("POST", `${API}/prepare`, clean(v)), "Prepare"),
        jobForm("tts-train-form", "3 · Train", [
          {name: "model_name", label: "Voice model name", placeholder: "my-voice"},
          picker("train_base_model"),
          {name: "speaker_name", label: "Speaker name", value: config.speaker_name},
          {name: "num_epochs", label: "Epochs", type: "number", value: config.num_epochs},
          {name: "learning_rate", label: "Learning rate", type: "number", value: config.learning_rate},
          {name: "batch_size", label: "Batch size", type: "number", value: config.batch_size},
          {name: "gradient_accumulation_steps", label: "Gradient accumulation", type: "number", value: config.gradient_accumulation_steps},
          {name: "seed", label: "Seed", type: "number", value: config.seed},
        ], (v) => {
          const {model_name, train_base_model, ...rest} = clean(v);
          const config = numbers(rest, ["num_epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "seed"]);
          if (train_base_model) config.base_model = train_base_model;
          return api("POST", `${API}/train/start`, {model_name, config});
        }, "Start training"),
        UI.card("Recent TTS jobs", LLM.jobTable(jobs, "tts"), null, {flush: true})));
  }

  async function models(root) {
    const [{models: list}, active] = await Promise.all([api("GET", `${API}/models`), api("GET", `${API}/models/active`)]);
    const player = h("div", {id: "synthesis-result"});
    const again = () => models(root).catch(UI.fail);
    const activate = async (name) => {
      try { await api("POST", `${API}/models/${enc(name)}/activate`, {}); UI.toast(t("{name} is the served voice", {name})); again(); } catch (e) { UI.fail(e); }
    };
    const rollback = async () => { try { await api("POST", `${API}/models/rollback`); UI.toast(t("rolled back")); again(); } catch (e) { UI.fail(e); } };
    const serving = UI.card("Served voice", h("div", {class: "kv", id: "voice-activation"},
      h("div", {}, "active voice model"), h("div", {}, active.model_name ? h("strong", {}, `${active.model_name} · ${active.checkpoint}`) : h("span", {class: "gap"}, "none yet")),
      h("div", {}, "since"), h("div", {}, UI.when(active.activate_time)),
      h("div", {}, "before"), h("div", {}, (active.history || []).slice(0, 3).map((x) => `${x.model_name} · ${x.checkpoint}`).join(", ") || "—")),
      (active.history || []).length ? h("button", {class: "btn small", id: "voice-rollback", onclick: rollback}, "Roll back") : null);
    const table = list.length ? h("table", {id: "models-table"},
      h("thead", {}, h("tr", {}, h("th", {}, "Voice model"), h("th", {}, "Speaker"), h("th", {}, "Checkpoints"), h("th", {class: "num"}, "Size"), h("th", {}, "Created"), h("th", {}))),
      h("tbody", {}, list.map((m) => h("tr", {dataset: {model: m.name}}, h("td", {}, h("strong", {}, m.name), h("div", {class: "hint mono"}, m.base_model)), h("td", {}, m.speaker_name),
        h("td", {}, m.checkpoints.map((c) => h("span", {class: "badge"}, c))), h("td", {class: "num"}, UI.bytes(m.size_bytes)), h("td", {}, UI.when(m.create_time)),
        h("td", {}, m.name === active.model_name ? h("span", {class: "badge ok", dataset: {active: "true"}}, "served")
          : h("button", {class: "btn small primary", dataset: {action: "activate-voice"}, onclick: () => activate(m.name)}, "Activate"))))))
      : UI.empty("No voice models yet: train one on the Prepare and train page.");
    const modelField = UI.field({name: "model_name", label: "Voice model", type: "select", options: list.length ? list.map((m) => m.name) : [{value: "", label: "no models yet"}]});
    const checkpointField = UI.field({name: "checkpoint", label: "Checkpoint", type: "select", options: []});
    const fillCheckpoints = () => {
      const m = list.find((x) => x.name === modelField.querySelector("select").value);
      checkpointField.querySelector("select").replaceChildren(h("option", {value: ""}, "latest"), ...((m && m.checkpoints) || []).map((c) => h("option", {value: c}, c)));
    };
    modelField.querySelector("select").addEventListener("change", fillCheckpoints);
    fillCheckpoints();
    const form = h("form", {id: "synthesize-form"}, h("div", {class: "form-error", hidden: true}), h("div", {class: "fields"}, modelField, checkpointField,
      UI.field({name: "language", label: "Language", placeholder: "auto"}), UI.field({name: "speaker", label: "Speaker", placeholder: "the model's speaker"})),
      UI.field({name: "text", label: "Text", type: "textarea", rows: 3, value: t("Hello! This is a test of my new voice.")}),
      h("div", {class: "form-actions"}, h("button", {class: "btn primary", type: "submit"}, "Synthesize")), player);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      UI.clearErrors(form);
      try {
        const r = await api("POST", `${API}/preview`, clean(UI.values(form)));
        Jobs.track("tts", r.job, player, (job) => {
          if (Jobs.short(job.state) === "SUCCEEDED") player.append(h("audio", {controls: true, autoplay: true, src: `${API}/preview/${enc(job.id)}`}));
        });
      } catch (e) { UI.showErrors(form, e); }
    });
    root.replaceChildren(h("h1", {}, "Voice models"), h("p", {class: "lead"}, "Fine-tuned Qwen3-TTS checkpoints, one per epoch; listen to any of them."),
      h("div", {class: "grid"}, serving, UI.card("Models and checkpoints", table, null, {flush: true}), UI.card("Preview synthesis", form)));
  }

  return {samples, pipeline, models};
})();
