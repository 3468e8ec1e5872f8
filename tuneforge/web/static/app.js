// The router: #/llm/datasets, #/llm/training, #/llm/jobs[/ID], #/llm/adapters,
// #/tts/samples, #/tts/pipeline, #/tts/models, #/tts/jobs/ID.
"use strict";

(() => {
  const {h} = UI;
  const SUBTABS = {
    llm: [["models", "Models"], ["datasets", "Datasets"], ["training", "Training"], ["jobs", "Jobs"], ["adapters", "Adapters"]],
    tts: [["samples", "Samples"], ["pipeline", "Prepare & train"], ["models", "Models & preview"]],
  };
  const PAGES = {
    llm: {models: LLM.models, datasets: LLM.datasets, training: LLM.training, jobs: LLM.jobs, adapters: LLM.adapters},
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
      view.replaceChildren(h("div", {class: "form-error"}, UI.readable(e)));
    }
  }

  // The status dot: green only while every service answers; otherwise red, and a banner
  // says which ones do not and what to do.
  async function health(target) {
    const dot = document.getElementById("status-dot"), banner = document.getElementById("banner");
    let down = [];
    try {
      const r = await UI.api("GET", "/admin/health");
      down = Object.entries(r.services).filter(([, s]) => !s.ok).map(([name, s]) => `${name}: ${s.error}`);
    } catch (e) { down = [UI.readable(e)]; }
    dot.classList.toggle("down", down.length > 0);
    dot.title = down.length ? t("services unreachable") : t("services answer");
    banner.hidden = !down.length;
    banner.textContent = down.length ? `${t("The services at {target} are not reachable: is the server running? Start it with: tuneforge serve all", {target})} ${down.join(" · ")}` : "";
  }

  async function start() {
    const info = await UI.session();
    if (!info) return;
    document.getElementById("target").textContent = t("services at {target}", {target: info.target});
    const lang = document.getElementById("lang");
    lang.value = I18N.lang();
    lang.addEventListener("change", () => I18N.set(lang.value));
    const logout = document.getElementById("logout");
    logout.textContent = t("Log out");
    health(info.target);
    setInterval(() => health(info.target), 15000);
    if (info.auth_required) {
      logout.hidden = false;
      logout.addEventListener("click", async () => { await UI.api("POST", "/auth/logout"); location.href = "/login"; });
    }
    window.addEventListener("hashchange", () => { delete document.getElementById("view").dataset.ready; route(); });
    route();
  }

  start();
})();
