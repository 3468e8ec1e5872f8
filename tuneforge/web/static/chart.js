// A small line chart on a canvas: training loss and eval loss against the step, and for GRPO
// the reward and each reward function's mean (metrics.extra reward, reward/<name>). No library.
// Issue 28: the values under the pointer (or the ←/→ keys) with their step, an EMA smoothing of
// the noisy series (the raw line stays faint behind it, as TensorBoard draws it), and the
// learning rate as a second line on its own axis (right) when the metrics carry it.
"use strict";

class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.series = {loss: [], eval_loss: []};
    this.lr = [];
    this.colors = {loss: "#6366f1", eval_loss: "#f97316", lr: "#0d9488"};
    this.labels = {loss: I18N.t("train loss"), eval_loss: I18N.t("eval loss")};
    this.hover = null;  // the step under the pointer, or null
    this.layout = null;  // what the last draw used, for the pointer → step mapping
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem("tuneforge.chart") || "null"); } catch (e) { /* storage off */ }
    this.smooth = saved && typeof saved.smooth === "boolean" ? saved.smooth : true;
    this.weight = saved && Number.isFinite(saved.weight) ? Math.min(0.95, Math.max(0, saved.weight)) : 0.6;

    // the card's body: the canvas, the hover readout over it, the smoothing controls below it
    this.el = document.createElement("div");
    this.el.className = "chart-box";
    this.el.style.position = "relative";
    this.tip = document.createElement("div");
    this.tip.className = "chart-tip";
    this.tip.id = `${canvas.id || "chart"}-tip`;
    this.tip.setAttribute("role", "status");
    this.tip.hidden = true;
    const controls = document.createElement("div");
    controls.className = "chart-controls";
    const toggle = document.createElement("label");
    this.toggle = document.createElement("input");
    this.toggle.type = "checkbox";
    this.toggle.checked = this.smooth;
    this.toggle.name = "chart-smooth";
    toggle.append(this.toggle, " ", I18N.t("Smoothing"));
    this.slider = document.createElement("input");
    Object.assign(this.slider, {type: "range", min: "0", max: "0.95", step: "0.05", name: "chart-smoothing"});
    this.slider.value = String(this.weight);
    this.slider.disabled = !this.smooth;
    this.slider.setAttribute("aria-label", I18N.t("Smoothing weight (EMA)"));
    this.sliderValue = document.createElement("span");
    this.sliderValue.className = "hint";
    controls.append(toggle, this.slider, this.sliderValue);
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", I18N.t("Loss chart: hover, or focus it and use the arrow keys, to read the values"));
    this.el.append(canvas, this.tip, controls);

    const changed = () => {
      this.smooth = this.toggle.checked;
      this.weight = Number(this.slider.value);
      this.slider.disabled = !this.smooth;
      try { localStorage.setItem("tuneforge.chart", JSON.stringify({smooth: this.smooth, weight: this.weight})); } catch (e) { /* storage off */ }
      this.draw();
    };
    this.toggle.addEventListener("change", changed);
    this.slider.addEventListener("input", changed);
    canvas.addEventListener("pointermove", (ev) => this.pointAt(ev.offsetX));
    canvas.addEventListener("pointerdown", (ev) => this.pointAt(ev.offsetX));
    canvas.addEventListener("pointerleave", () => { this.hover = null; this.draw(); });
    canvas.addEventListener("blur", () => { this.hover = null; this.draw(); });
    canvas.addEventListener("keydown", (ev) => this.key(ev));
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  add(metric) {
    const step = Number(metric.step || 0);
    const values = {loss: metric.loss, eval_loss: metric.eval_loss};
    for (const [key, value] of Object.entries(metric.extra || {})) {
      if (key === "reward" || key.startsWith("reward/")) values[key] = value;
    }
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined || value === null) continue;
      if (!this.series[key]) {
        const palette = ["#16a34a", "#0891b2", "#db2777", "#ca8a04", "#7c3aed", "#64748b"];
        this.series[key] = [];
        this.colors[key] = palette[(Object.keys(this.series).length - 3) % palette.length];
        this.labels[key] = key === "reward" ? I18N.t("reward") : key.replace("reward/", `${I18N.t("reward")}: `);
      }
      LossChart.put(this.series[key], step, Number(value));
    }
    if (metric.learning_rate !== undefined && metric.learning_rate !== null) LossChart.put(this.lr, step, Number(metric.learning_rate));
    this.draw();
  }

  static put(points, step, value) {
    if (points.length && points[points.length - 1][0] === step) points[points.length - 1] = [step, value];
    else points.push([step, value]);
  }

  // TensorBoard's smoothing: an EMA debiased at the start, so the first points are not pulled to 0
  static ema(points, weight) {
    let last = 0, n = 0;
    return points.map(([x, y]) => {
      last = last * weight + (1 - weight) * y; n++;
      return [x, weight ? last / (1 - Math.pow(weight, n)) : y];
    });
  }

  smoothed(key) {
    const points = this.series[key];
    // eval loss is a few points far apart: smoothing would only shift it
    return this.smooth && this.weight > 0 && key !== "eval_loss" ? LossChart.ema(points, this.weight) : points;
  }

  steps() {
    const all = new Set();
    for (const points of [...Object.values(this.series), this.lr]) for (const [x] of points) all.add(x);
    return [...all].sort((a, b) => a - b);
  }

  pointAt(px) {
    if (!this.layout) return;
    const steps = this.steps();
    if (!steps.length) return;
    const {X} = this.layout;
    let best = steps[0];
    for (const s of steps) if (Math.abs(X(s) - px) < Math.abs(X(best) - px)) best = s;
    this.hover = best;
    this.draw();
  }

  key(ev) {
    const steps = this.steps();
    if (!steps.length || !["ArrowLeft", "ArrowRight", "Home", "End", "Escape"].includes(ev.key)) return;
    ev.preventDefault();
    if (ev.key === "Escape") { this.hover = null; this.draw(); return; }
    let i = this.hover === null ? steps.length - 1 : steps.indexOf(this.hover);
    if (ev.key === "ArrowLeft") i = Math.max(0, i - 1);
    if (ev.key === "ArrowRight") i = Math.min(steps.length - 1, i + 1);
    if (ev.key === "Home") i = 0;
    if (ev.key === "End") i = steps.length - 1;
    this.hover = steps[Math.max(0, i)];
    this.draw();
  }

  static at(points, step) {
    for (const p of points) if (p[0] === step) return p[1];
    return undefined;
  }

  static lrText(v) { return v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toExponential(1) : I18N.number(v, 3); }

  readout() {
    const step = this.hover;
    this.tip.hidden = step === null;
    this.canvas.dataset.hover = step === null ? "" : String(step);
    if (step === null || !this.layout) return;
    const rows = [I18N.t("step {step}", {step})];
    for (const key of Object.keys(this.series)) {
      const raw = LossChart.at(this.series[key], step);
      if (raw === undefined) continue;
      const shown = this.smoothed(key);
      const smooth = shown === this.series[key] ? undefined : LossChart.at(shown, step);
      rows.push(smooth === undefined ? `${this.labels[key]}: ${I18N.number(raw, 4)}`
        : `${this.labels[key]}: ${I18N.number(raw, 4)} ${I18N.t("(smoothed {value})", {value: I18N.number(smooth, 4)})}`);
    }
    const lr = LossChart.at(this.lr, step);
    if (lr !== undefined) rows.push(`${I18N.t("learning rate")}: ${LossChart.lrText(lr)}`);
    this.tip.replaceChildren(...rows.map((r, i) => { const d = document.createElement("div"); d.textContent = r; if (!i) d.className = "strong"; return d; }));
    const {X, w} = this.layout, x = X(step);
    this.tip.style.top = 20 + "px";
    if (x > w / 2) { this.tip.style.left = ""; this.tip.style.right = `${w - x + 10}px`; }
    else { this.tip.style.right = ""; this.tip.style.left = `${x + 10}px`; }
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    this.sliderValue.textContent = this.smooth ? I18N.number(this.weight, 2) : "";
    if (!w || !h) return;
    c.width = w * dpr; c.height = h * dpr;
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const all = Object.values(this.series).flat();
    c.dataset.points = String(all.length);
    c.dataset.lrPoints = String(this.lr.length);
    c.dataset.smoothing = this.smooth ? String(this.weight) : "0";
    const withLr = this.lr.length > 0;
    const pad = {l: 52, r: withLr ? 60 : 16, t: 22, b: 34};
    g.font = "11px DejaVu Sans, sans-serif";
    if (!all.length && !withLr) {
      this.layout = null; this.readout();
      g.fillStyle = "#94a3b8"; g.textAlign = "center";
      g.fillText(I18N.t("the loss appears here as soon as the first steps are logged"), w / 2, h / 2);
      return;
    }
    const xs = [...all, ...this.lr].map((p) => p[0]);
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    const range = (points) => {
      let lo = Math.min(...points.map((p) => p[1])), hi = Math.max(...points.map((p) => p[1]));
      if (!points.length) { lo = 0; hi = 1; }
      if (hi - lo < 1e-12) { const d = Math.abs(hi) * 0.5 || 0.5; lo -= d; hi += d; }
      const span = hi - lo;
      return [lo >= 0 ? Math.max(0, lo - span * 0.08) : lo - span * 0.08, hi + span * 0.08];  // no axis below 0 for a rate
    };
    if (x1 === x0) { x1 = x0 + 1; }
    const [y0, y1] = range(all);
    const [r0, r1] = range(this.lr);
    const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r);
    const Y = (y) => h - pad.b - (y - y0) / (y1 - y0) * (h - pad.t - pad.b);
    const R = (y) => h - pad.b - (y - r0) / (r1 - r0) * (h - pad.t - pad.b);
    this.layout = {X, w};
    g.strokeStyle = "#e5e9f0"; g.fillStyle = "#64748b"; g.lineWidth = 1;
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = h - pad.b - i / 4 * (h - pad.t - pad.b);
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      if (all.length) { g.textAlign = "right"; g.fillStyle = "#64748b"; g.fillText(I18N.number(y0 + (y1 - y0) * i / 4, 3), pad.l - 6, y); }
      if (withLr) { g.textAlign = "left"; g.fillStyle = this.colors.lr; g.fillText(LossChart.lrText(r0 + (r1 - r0) * i / 4), w - pad.r + 6, y); }
    }
    g.fillStyle = "#64748b";
    g.textAlign = "center"; g.textBaseline = "top";
    const ticks = new Set();
    for (let i = 0; i <= 5; i++) ticks.add(Math.round(x0 + (x1 - x0) * i / 5));
    for (const v of ticks) if (v >= x0 && v <= x1) g.fillText(String(v), X(v), h - pad.b + 6);
    g.fillText(I18N.t("step"), w / 2, h - 14);
    const line = (points, map, color, width, alpha, dash) => {
      g.save();
      g.globalAlpha = alpha; g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash || []);
      g.beginPath();
      points.forEach(([x, y], i) => (i ? g.lineTo(X(x), map(y)) : g.moveTo(X(x), map(y))));
      g.stroke();
      g.restore();
    };
    if (withLr) line(this.lr, R, this.colors.lr, 1.5, 0.9, [5, 4]);
    for (const key of Object.keys(this.series)) {
      const points = this.series[key];
      if (!points.length) continue;
      const shown = this.smoothed(key);
      if (shown !== points && points.length > 1) line(points, Y, this.colors[key], 1, 0.25);
      line(shown, Y, this.colors[key], 2, 1);
      g.fillStyle = this.colors[key];
      for (const [x, y] of shown.length < 40 ? shown : [shown[shown.length - 1]]) {
        g.beginPath(); g.arc(X(x), Y(y), 2.5, 0, Math.PI * 2); g.fill();
      }
    }
    if (this.hover !== null) {  // the pointer's step: a rule and a ring on each value there
      const x = X(this.hover);
      g.strokeStyle = "#94a3b8"; g.lineWidth = 1; g.setLineDash([3, 3]);
      g.beginPath(); g.moveTo(x, pad.t); g.lineTo(x, h - pad.b); g.stroke(); g.setLineDash([]);
      const rings = Object.keys(this.series).map((k) => [LossChart.at(this.smoothed(k), this.hover), Y, this.colors[k]]);
      rings.push([LossChart.at(this.lr, this.hover), R, this.colors.lr]);
      for (const [v, map, color] of rings) {
        if (v === undefined) continue;
        g.strokeStyle = color; g.lineWidth = 2; g.fillStyle = "#fff";
        g.beginPath(); g.arc(x, map(v), 4, 0, Math.PI * 2); g.fill(); g.stroke();
      }
    }
    let lx = pad.l + 8;
    g.textAlign = "left"; g.textBaseline = "middle";
    const legend = Object.keys(this.series).filter((k) => this.series[k].length).map((k) => [this.colors[k], this.labels[k]]);
    if (withLr) legend.push([this.colors.lr, I18N.t("learning rate (right axis)")]);
    for (const [color, label] of legend) {
      g.fillStyle = color; g.fillRect(lx, pad.t - 8, 12, 3);
      g.fillStyle = "#334155"; g.fillText(label, lx + 16, pad.t - 7);
      lx += Math.max(96, g.measureText(label).width + 28);
    }
    this.readout();
  }
}
