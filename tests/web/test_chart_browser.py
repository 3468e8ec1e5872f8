"""The loss chart alone (issue 28 item 10), in a real Chromium on a static page holding only
i18n.js, i18n_ru.js and chart.js: the values under the pointer with their step, the ←/→ keys,
the EMA smoothing (toggle and weight) against its formula, and the learning rate on its own
right axis, all in Russian. A screenshot is kept as a test artefact."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "tuneforge" / "web" / "static"
ARTIFACTS = Path(os.environ.get("TUNEFORGE_TEST_ARTIFACTS") or REPO / "test-artifacts") / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium: apt-get install -y chromium (scripts/setup.sh does it as root)"),
    pytest.mark.timeout(120),
]

PAGE = ("<!doctype html><html><head><meta charset='utf-8'><link rel='stylesheet' href='app.css'></head>"
        "<body><div id='root' style='width:640px;padding:20px'></div></body></html>")

MAKE = """(withLr) => {
  const canvas = document.createElement("canvas");
  canvas.className = "chart"; canvas.id = withLr ? "loss-chart" : "plain-chart";
  const chart = new LossChart(canvas);
  document.getElementById("root").append(chart.el);
  for (let i = 1; i <= 30; i++) {
    const m = {step: String(i), loss: 2 - i * 0.03 + (i % 3 ? 0.2 : -0.2)};
    if (withLr) m.learning_rate = 2e-4 * (1 - (i - 1) / 30);
    if (i % 10 === 0) m.eval_loss = 1.9 - i * 0.02;
    chart.add(m);
  }
  window[canvas.id] = chart;
  return canvas.id;
}"""


def _ema(values, weight):
    out, last = [], 0.0
    for n, v in enumerate(values, 1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n))
    return out


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        context = browser.new_context(locale="ru-RU", viewport={"width": 720, "height": 700})
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.route("http://chart.test/**", lambda route: route.fulfill(
            body=PAGE if route.request.url.endswith("/") else (STATIC / route.request.url.rsplit("/", 1)[1]).read_bytes(),
            content_type="text/html" if route.request.url.endswith("/") else
            "text/css" if route.request.url.endswith(".css") else "application/javascript"))
        page.goto("http://chart.test/")
        for name in ("i18n.js", "i18n_ru.js", "chart.js"):
            page.add_script_tag(url=f"http://chart.test/{name}")
        yield page
        browser.close()


def test_hover_smoothing_and_the_learning_rate_axis(page):
    assert page.evaluate("I18N.lang()") == "ru"
    page.evaluate(MAKE, True)
    canvas = page.locator("#loss-chart")
    assert canvas.get_attribute("data-lr-points") == "30"
    assert canvas.get_attribute("data-points") == "33"  # 30 train + 3 eval
    assert canvas.get_attribute("data-smoothing") == "0.6"

    # the smoothed line is TensorBoard's debiased EMA of the raw one
    raw = page.evaluate("window['loss-chart'].series.loss.map((p) => p[1])")
    smooth = page.evaluate("window['loss-chart'].smoothed('loss').map((p) => p[1])")
    assert smooth == pytest.approx(_ema(raw, 0.6))
    assert page.evaluate("window['loss-chart'].smoothed('eval_loss').length") == 3  # eval loss is not smoothed

    # hover: the step nearest the pointer, each value there, the learning rate
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    step = int(canvas.get_attribute("data-hover"))
    assert 12 <= step <= 18
    tip = page.locator("#loss-chart-tip")
    text = tip.inner_text()
    loss_there = page.evaluate("(s) => I18N.number(window['loss-chart'].series.loss[s - 1][1], 4)", step)
    assert f"шаг {step}" in text and f"ошибка обучения: {loss_there}" in text and "(сглажено " in text
    assert "скорость обучения: " in text and "e-4" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chart-hover-ru.png"))

    # the keys move along the steps; Escape hides the readout
    canvas.focus()
    page.keyboard.press("End")
    assert canvas.get_attribute("data-hover") == "30" and "ошибка на проверке: " in tip.inner_text()
    page.keyboard.press("ArrowLeft")
    assert canvas.get_attribute("data-hover") == "29"
    page.keyboard.press("Escape")
    assert tip.is_hidden()

    # smoothing off: raw values only, the weight slider disabled; the choice is kept
    page.get_by_label("Сглаживание", exact=True).uncheck()
    assert canvas.get_attribute("data-smoothing") == "0"
    assert page.locator("input[name=chart-smoothing]").is_disabled()
    canvas.press("End")
    assert "(сглажено " not in tip.inner_text()
    assert page.evaluate("JSON.parse(localStorage.getItem('tuneforge.chart')).smooth") is False

    # no learning rate in the metrics: no second axis; on a phone's width nothing sticks out
    page.evaluate("document.getElementById('root').style.width = '350px'")
    page.evaluate(MAKE, False)
    assert page.locator("#plain-chart").get_attribute("data-lr-points") == "0"
    assert page.evaluate("window['plain-chart'].el.scrollWidth") <= 350
    assert not page.errors, page.errors
