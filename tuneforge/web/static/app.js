// The router: #/llm/datasets, #/llm/training, #/llm/jobs[/ID], #/llm/adapters,
// #/tts/samples, #/tts/pipeline, #/tts/models, #/tts/jobs/ID.
"use strict";

(() => {
  const {h} = UI;
  const SUBTABS = {
    llm: [["datasets", "Datasets"], ["training", "Training"], ["jobs", "Jobs"], ["adapters", "Adapters"]],
    tts: [["samples", "Samples"], ["pipeline", "Prepare & train"], ["models", "Models & preview"]],
  };
  const PAGES = {
    llm: {datasets: LLM.datasets, training: LLM.training, jobs: LLM.jobs, adapters: LLM.adapters},
    tts: {samples: TTS.samples, pipeline: TTS.pipeline, models: TTS.models},
  };
  let cleanup = null;

  async function route() {
    if (cleanup) { cleanup(); cleanup = null; }
    const [path, qs] = (location.hash.replace(/^#\/?/, "") || "llm/datasets").split("?");
    const [tab, page = Object.keys(PAGES[tab] || {})[0], id] = path.split("/");
    if (!PAGES[tab]) { location.hash = "#/llm/datasets"; return; }
    document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === tab));
    const active = page === "jobs" && tab === "tts" ? "pipeline" : page;
    document.getElementById("subnav").replaceChildren(...SUBTABS[tab].map(([key, label]) =>
      h("a", {href: `#/${tab}/${key}`, class: key === active ? "active" : "", dataset: {page: key}}, label)));
    const view = document.getElementById("view");
    view.dataset.page = `${tab}/${page}${id ? "/job" : ""}`;
    view.replaceChildren(UI.empty("loading…"));
    try {
      if (page === "jobs" && id) cleanup = await Jobs.view(view, tab, id);
      else await PAGES[tab][page](view, new URLSearchParams(qs || ""));
      view.dataset.ready = "true";
    } catch (e) {
      view.replaceChildren(h("div", {class: "form-error"}, e.message || String(e)));
    }
  }

  async function start() {
    const info = await UI.session();
    if (!info) return;
    document.getElementById("target").textContent = `services at ${info.target}`;
    const logout = document.getElementById("logout");
    if (info.auth_required) {
      logout.hidden = false;
      logout.addEventListener("click", async () => { await UI.api("POST", "/auth/logout"); location.href = "/login"; });
    }
    window.addEventListener("hashchange", () => { delete document.getElementById("view").dataset.ready; route(); });
    route();
  }

  start();
})();
