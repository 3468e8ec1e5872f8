// Jobs live: the server-sent event stream of a job (resumed by the browser with
// Last-Event-ID), the full job view (progress, ETA, loss chart, logs) and a compact tracker.
"use strict";

const Jobs = (() => {
  const {h} = UI;
  const LOG_LINES = 100;
  const base = (scope) => (scope === "tts" ? "/admin/tts-finetune" : "/admin/finetune");
  const short = (s) => String(s || "").replace("STATE_", "");
  const ended = (s) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(short(s));

  // Follow a job: handlers.{job, progress, metrics, checkpoint, log, end}. Returns a closer.
  function stream(scope, id, handlers) {
    const source = new EventSource(`${base(scope)}/jobs/${encodeURIComponent(id)}/events`);
    for (const type of ["job", "progress", "metrics", "checkpoint", "log"]) {
      source.addEventListener(type, (ev) => handlers[type] && handlers[type](JSON.parse(ev.data).data));
    }
    source.addEventListener("end", () => { source.close(); handlers.end && handlers.end(); });
    source.addEventListener("stream_error", (ev) => {
      source.close();
      UI.toast(`${t("job stream")}: ${JSON.parse(ev.data).message}`, true);
      handlers.end && handlers.end();
    });
    return () => source.close();
  }

  function progressBlock() {
    const bar = UI.progressBar(0);
    const left = h("span", {class: "phase"}, "waiting…");
    const right = h("span", {class: "counts"}, "");
    const el = h("div", {class: "progress-block"}, bar, h("div", {class: "progress-line"}, left, right));
    return {
      el,
      update(p, job) {
        const pct = Number(p.percent || 0);
        bar.firstChild.style.width = `${Math.max(0, Math.min(100, pct))}%`;
        bar.setAttribute("aria-valuenow", Math.round(pct));
        bar.dataset.percent = pct.toFixed(1);
        const parts = [p.phase ? t(p.phase) : "", p.message || ""].filter(Boolean);
        left.textContent = parts.join(" — ") || t("running");
        const counts = [];
        const unit = job && ["train", "tts_train"].includes(job.kind) ? `${t("step")} ` : "";
        if (p.total) counts.push(`${unit}${I18N.number(p.step || 0)} / ${I18N.number(p.total)}`);
        counts.push(`${I18N.number(pct, 1)}%`);
        if (p.eta && !(job && ended(job.state))) counts.push(`${t("ETA")} ${UI.duration(p.eta)}`);
        if (p.tokens_per_second) counts.push(`${I18N.number(Math.round(p.tokens_per_second))} ${t("tokens/s")}`);
        right.textContent = counts.join(" · ");
      },
      finish(job) {
        const s = short(job.state);
        bar.classList.toggle("done", s === "SUCCEEDED");
        bar.classList.toggle("failed", s === "FAILED");
        if (s === "SUCCEEDED") { bar.firstChild.style.width = "100%"; bar.dataset.percent = "100.0"; bar.setAttribute("aria-valuenow", 100); }
        left.textContent = s === "SUCCEEDED" ? t("done") : s === "FAILED" ? `${t("failed")}: ${job.error_reason} ${job.error_message}` : t(s.toLowerCase());
      },
    };
  }

  // A compact tracker for short jobs started from a form (processing, transcription, ...).
  function track(scope, job, container, onDone) {
    const block = progressBlock();
    const title = h("div", {class: "hint"}, `${t("job")} `, h("a", {href: `#/${scope}/jobs/${job.id}`}, job.id), " ", UI.state(job.state));
    container.replaceChildren(h("div", {class: "inline-job"}, title, block.el));
    let last = job;
    stream(scope, job.id, {
      job: (j) => { last = j; title.querySelector(".badge").replaceWith(UI.state(j.state)); if (j.progress) block.update(j.progress, j); if (ended(j.state)) block.finish(j); },
      progress: (p) => block.update(p, last),
      end: () => onDone && onDone(last),
    });
  }

  function logLine(line) {
    const time = line.time ? new Date(line.time).toLocaleTimeString(I18N.locale()) : "";
    return h("div", {class: `line ${line.level || ""}`}, h("span", {class: "t"}, time), document.createTextNode(line.message || ""));
  }

  async function view(root, scope, id) {
    const job = await UI.api("GET", `${base(scope)}/jobs/${encodeURIComponent(id)}`);
    const stateSlot = h("span", {}, UI.state(job.state));
    const actions = h("div", {class: "actions"});
    const block = progressBlock();
    const canvas = h("canvas", {class: "chart", id: "loss-chart"});
    const chart = new LossChart(canvas);
    const logs = h("div", {class: "logs", id: "job-logs"});
    const logCount = h("span", {class: "hint"}, "");
    const details = h("div", {class: "kv"});
    const checkpoints = h("div", {});
    let shown = 0, total = 0, current = job;

    const isTrain = ["train", "tts_train"].includes(job.kind);
    root.replaceChildren(
      h("div", {class: "job-head"}, h("h1", {}, `${t(isTrain ? "Training" : "Job")} ${job.id}`), stateSlot,
        h("span", {class: "badge brand"}, job.kind), actions),
      h("div", {class: "grid"},
        UI.card("Progress", block.el, null, {id: "progress-card"}),
        h("div", {class: "grid two"},
          UI.card("Loss", chart.el, null, {id: "loss-card"}),
          UI.card("Details", h("div", {}, details, checkpoints))),
        UI.card("Logs", logs, [logCount,
          h("a", {class: "btn small", href: `${base(scope)}/jobs/${encodeURIComponent(id)}/logs?download=1`, download: `${id}.log`}, "Download all")],
          {flush: true, id: "logs-card"})));

    function renderActions(j) {
      actions.replaceChildren();
      if (!ended(j.state)) {
        actions.append(h("button", {class: "btn danger", id: "stop-job", onclick: async () => {
          try { await UI.api("POST", `${base(scope)}/${scope === "tts" ? "train/stop" : "train/stop"}`, {job_id: j.id}); UI.toast("stop requested: the worker saves a checkpoint first"); }
          catch (e) { UI.fail(e); }
        }}, "Stop"));
      } else if (j.kind === "train" && short(j.state) !== "SUCCEEDED") {
        actions.append(h("button", {class: "btn primary", id: "resume-job", onclick: async () => {
          try { const r = await UI.api("POST", "/admin/finetune/train/resume", {job_id: j.id}); location.hash = `#/llm/jobs/${r.job.id}`; }
          catch (e) { UI.fail(e); }
        }}, "Resume from checkpoint"));
      }
    }

    function renderDetails(j) {
      const p = j.params || {}, r = j.result || {};
      const rows = [["kind", j.kind], ["created", UI.when(j.create_time)], ["started", UI.when(j.start_time)], ["ended", UI.when(j.end_time)]];
      for (const key of ["adapter_name", "dataset_name", "base_model", "preset", "model_name", "dataset"]) if (p[key]) rows.push([key.replace("_", " "), p[key]]);
      if (j.queue_position) rows.push(["queue position", j.queue_position]);
      if (j.last_checkpoint) rows.push(["last checkpoint", j.last_checkpoint]);
      const shown = Object.keys(r).filter((k) => typeof r[k] !== "object" && !k.startsWith("@") && !/(_dir|_file|checkpoint|base_model|dataset|adapter_name|path)$/.test(k));
      const first = ["train_loss", "last_loss", "eval_loss", "global_step", "epoch", "train_records", "num_tokens", "tokens_per_second", "wall_seconds"];
      for (const k of [...first.filter((x) => shown.includes(x)), ...shown.filter((x) => !first.includes(x))].slice(0, 10)) {
        const v = r[k];
        rows.push([k.replace(/_/g, " "), typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v)]);
      }
      if (j.error_reason) rows.push(["error", `${j.error_reason}: ${j.error_message}`]);
      details.replaceChildren(...rows.flatMap(([k, v]) => [h("div", {}, k), h("div", {class: "mono"}, String(v))]));
    }

    function addLog(line) {
      total += 1;
      logs.append(logLine(line));
      shown += 1;
      while (shown > LOG_LINES) { logs.firstChild.remove(); shown -= 1; }
      logCount.textContent = total > LOG_LINES ? t("last {n} of {total} lines", {n: LOG_LINES, total}) : t("{total} lines", {total});
      logs.scrollTop = logs.scrollHeight;
    }

    renderActions(job); renderDetails(job);
    if (job.progress) block.update(job.progress, job);
    if (ended(job.state)) block.finish(job);
    const close = stream(scope, id, {
      job: (j) => { current = j; stateSlot.replaceChildren(UI.state(j.state)); renderActions(j); renderDetails(j);
        if (j.progress) block.update(j.progress, j); if (ended(j.state)) block.finish(j); },
      progress: (p) => block.update(p, current),
      metrics: (m) => chart.add(m),
      log: addLog,
      checkpoint: (c) => checkpoints.append(h("div", {class: "hint"}, t("checkpoint at step {step}: ", {step: c.step}), h("span", {class: "mono"}, c.path))),
      end: () => { if (ended(current.state)) block.finish(current); },
    });
    return close;
  }

  return {stream, track, view, progressBlock, ended, short, base};
})();
