// A small line chart on a canvas: training loss and eval loss against the step, and for GRPO
// the reward and each reward function's mean (metrics.extra reward, reward/<name>). No library.
"use strict";

class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.series = {loss: [], eval_loss: []};
    this.colors = {loss: "#6366f1", eval_loss: "#f97316"};
    this.labels = {loss: I18N.t("train loss"), eval_loss: I18N.t("eval loss")};
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
      const points = this.series[key];
      if (points.length && points[points.length - 1][0] === step) points[points.length - 1] = [step, Number(value)];
      else points.push([step, Number(value)]);
    }
    this.draw();
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    c.width = w * dpr; c.height = h * dpr;
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const all = Object.values(this.series).flat();
    c.dataset.points = String(all.length);
    const pad = {l: 52, r: 16, t: 16, b: 34};
    g.font = "11px DejaVu Sans, sans-serif";
    if (!all.length) {
      g.fillStyle = "#94a3b8"; g.textAlign = "center";
      g.fillText(I18N.t("the loss appears here as soon as the first steps are logged"), w / 2, h / 2);
      return;
    }
    let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
    let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
    if (x1 === x0) { x1 = x0 + 1; }
    if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
    const span = y1 - y0; y0 -= span * 0.08; y1 += span * 0.08;
    const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r);
    const Y = (y) => h - pad.b - (y - y0) / (y1 - y0) * (h - pad.t - pad.b);
    g.strokeStyle = "#e5e9f0"; g.fillStyle = "#64748b"; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = y0 + (y1 - y0) * i / 4, y = Y(v);
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      g.fillText(v.toFixed(3), pad.l - 6, y);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    const ticks = new Set();
    for (let i = 0; i <= 5; i++) ticks.add(Math.round(x0 + (x1 - x0) * i / 5));
    for (const v of ticks) if (v >= x0 && v <= x1) g.fillText(String(v), X(v), h - pad.b + 6);
    g.fillText(I18N.t("step"), w / 2, h - 14);
    for (const key of Object.keys(this.series)) {
      const points = this.series[key];
      if (!points.length) continue;
      g.strokeStyle = this.colors[key]; g.fillStyle = this.colors[key]; g.lineWidth = 2;
      g.beginPath();
      points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
      g.stroke();
      for (const [x, y] of points.length < 40 ? points : [points[points.length - 1]]) {
        g.beginPath(); g.arc(X(x), Y(y), 2.5, 0, Math.PI * 2); g.fill();
      }
    }
    let lx = pad.l + 8;
    g.textAlign = "left"; g.textBaseline = "middle";
    for (const key of Object.keys(this.series)) {
      if (!this.series[key].length) continue;
      g.fillStyle = this.colors[key]; g.fillRect(lx, pad.t, 12, 3);
      g.fillStyle = "#334155"; g.fillText(this.labels[key], lx + 16, pad.t + 1);
      lx += 96;
    }
  }
}
