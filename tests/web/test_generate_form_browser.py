"""The dataset-generation form (issue 28 item 6) in a real Chromium, in Russian, against a real
server and console: docs and an FAQ as paths on the server, then the same project as a zip
uploaded from the browser; each ends in a generation report and a dataset in the list. An
empty form is refused before any call. Screenshots are kept as test artefacts."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TUNEFORGE_TEST_ARTIFACTS") or REPO / "test-artifacts") / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium: apt-get install -y chromium (scripts/setup.sh does it as root)"),
    pytest.mark.timeout(300),
]


def _project(root: Path) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "delivery.md").write_text(
        "# Доставка\n\nМы доставляем заказы по Москве за один день. Курьер звонит за час до приезда.\n\n"
        "# Оплата\n\nОплатить можно картой при получении или переводом по ссылке из письма.\n", encoding="utf-8")
    (root / "faq.csv").write_text("question,answer\nГде офис?,В Берлине.\nКак вернуть товар?,Напишите нам в течение 14 дней.\n",
                                  encoding="utf-8")
    return root


@pytest.fixture
def page(web):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        context = browser.new_context(locale="ru-RU", viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(f"{web.url}/#/llm/datasets")
        page.wait_for_selector("#view[data-ready=true]")
        yield page
        browser.close()


def _shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_generate_from_server_paths_and_from_a_zip(page, tmp_path):
    card = page.locator("#generate-card")
    assert "Генерация из документации, FAQ и кода" in card.inner_text()

    page.fill("#f-gen_dataset_name", "product")
    page.click("#generate-button")  # no source: said in the form, nothing sent
    assert "хотя бы один источник" in card.locator(".form-error").inner_text()

    project = _project(tmp_path / "project")
    page.fill("#f-gen_docs_dir", str(project / "docs"))
    page.fill("#f-gen_faq_file", str(project / "faq.csv"))
    page.click("#generate-button")
    report = page.wait_for_selector("#generate-report", timeout=120_000)
    text = report.inner_text()
    assert "Отчёт о генерации" in text and "product" in text and "faq: 2" in text and "docs: " in text, text
    _shot(page, "generate-server-paths-ru")
    page.wait_for_selector('#datasets-table tr[data-name="product"]')

    archive = tmp_path / "project.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(project / "docs" / "delivery.md", "docs/delivery.md")
        zf.write(project / "faq.csv", "faq.csv")
    page.fill("#f-gen_dataset_name", "product-zip")
    page.select_option("#f-gen_where", "zip")
    page.fill("#f-gen_docs_dir", "docs")
    page.fill("#f-gen_faq_file", "faq.csv")
    page.click("#generate-button")  # the zip is not chosen yet
    assert card.locator('[data-field="project_upload_id"].invalid').count() == 1
    page.set_input_files("#generate-zip", str(archive))
    page.click("#generate-button")
    page.wait_for_selector("#generate-report >> text=product-zip", timeout=120_000)
    page.wait_for_selector('#datasets-table tr[data-name="product-zip"]')
    _shot(page, "generate-zip-ru")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the form fits, nothing clipped
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.errors, page.errors
