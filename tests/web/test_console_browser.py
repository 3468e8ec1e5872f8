"""The console in a real browser: Debian's chromium, driven by Playwright (no browser
download), against a real server with a token, real workers and the tiny model.

The LLM path as a person clicks it (log in → upload a Telegram export → dataset with stats
and preview → quick-preset training with a bad field first → live progress to 100% → the
adapter appears → activate) and the TTS sample upload. Screenshots of every page go to
``test-artifacts/web/`` (or ``$TUNEFORGE_TEST_ARTIFACTS/web``). Waits are on conditions with
generous deadlines; a slow shared CPU makes them longer, never flaky.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.web.conftest import TOKEN, write_wav

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TUNEFORGE_TEST_ARTIFACTS") or REPO / "test-artifacts") / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXPORT = REPO / "tuneforge" / "demo" / "telegram_export.json"
SLOW = 600_000  # ms: training on a busy 2-core machine

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium: apt-get install -y chromium (scripts/setup.sh does it as root)"),
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def console(server_factory, web_factory):
    server = server_factory(auth_token=TOKEN)
    return web_factory(server.target, TOKEN)


@pytest.fixture
def page(browser, console):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    # Refused requests (the wrong token, the bad field) log "Failed to load resource": expected.
    page.on("console", lambda msg: page.errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_url("**/login")
    shot(page, "login")
    page.fill("#token", "wrong")
    page.click("#login-button")
    page.wait_for_selector('[data-field="token"].invalid')
    page.fill("#token", TOKEN)
    page.click("#login-button")
    page.wait_for_selector("#view[data-ready=true]")


def open_page(page, url: str, route: str) -> None:
    page.goto(f"{url}/#/{route}")
    page.wait_for_selector("#view[data-ready=true]")


def until(page, check, refresh, timeout_s: float = 120) -> None:
    """Poll ``check()`` (after ``refresh()``) until it holds: for lists the page loads once."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        refresh()
        page.wait_for_timeout(1000)


def upload_telegram_export(page, name: str) -> None:
    page.set_input_files("#dataset-file", str(EXPORT))
    page.fill("#f-name", name)
    page.fill("#f-owner_name", "Demo Support")
    page.click("#process-button")
    page.wait_for_selector(f'#datasets-table tr[data-name="{name}"]', timeout=SLOW)


def fill_training_form(page, base_model: Path, adapter: str) -> None:
    page.click('[data-preset="quick"]')
    page.fill("#f-base_model", str(base_model))
    page.fill("#f-adapter_name", adapter)
    # Short and learnable on the tiny model (as `tuneforge demo` runs it).
    for key, value in {"max_seq_length": "256", "batch_size": "4", "gradient_accumulation_steps": "1",
                       "learning_rate": "0.003", "save_steps": "20", "warmup_ratio": "0"}.items():
        page.fill(f"#f-{key}", value)
    page.uncheck("#f-gradient_checkpointing")


def test_llm_path_from_a_telegram_export_to_an_active_adapter(page, console, tiny_lm_dir):
    log_in(page, console.url)
    upload_telegram_export(page, "support")
    page.click('#datasets-table tr[data-name="support"] >> text=Stats')
    page.wait_for_selector("#dataset-stats")
    page.wait_for_selector("#token-histogram .bar")
    assert page.locator("#dataset-preview .msg.assistant .trained-mark").count() > 0
    shot(page, "llm-datasets")

    page.click('#datasets-table tr[data-name="support"] >> text=Train')
    page.wait_for_selector("#view[data-ready=true] #train-form")
    assert page.input_value("#f-dataset") == "support"
    fill_training_form(page, tiny_lm_dir, "support-v1")
    page.fill("#f-lora_rank", "0")
    page.click("#start-training")
    error = page.wait_for_selector('[data-field="lora_rank"].invalid .error')
    assert "must be > 0" in error.inner_text()
    shot(page, "llm-training-validation")

    page.fill("#f-lora_rank", "4")
    page.click("#plan-training")  # the pre-flight check: fits, peak memory by part, the time
    page.wait_for_selector("#plan h3.fits")
    assert "Peak memory about" in page.inner_text("#plan") and "null" not in page.inner_text("#plan")
    shot(page, "llm-training-plan")
    page.click("#start-training")
    page.wait_for_url("**/#/llm/jobs/job-*")
    try:  # a picture of a job in flight, when the machine is slow enough to catch one (a job
        # that is already done never matches: wait briefly, not the whole training budget)
        page.wait_for_selector('#progress-card [role=progressbar]:not([aria-valuenow="0"]):not([aria-valuenow="100"])', timeout=30_000)
        page.wait_for_selector("#loss-chart:not([data-points='0'])", timeout=30_000)
        shot(page, "llm-job-running")
    except playwright_api.TimeoutError:
        pass
    page.wait_for_selector('#progress-card [role=progressbar][aria-valuenow="100"]', timeout=SLOW)
    page.wait_for_selector('.job-head [data-state="SUCCEEDED"]', timeout=SLOW)
    page.wait_for_selector("#job-logs .line")
    assert int(page.get_attribute("#loss-chart", "data-points")) > 0
    shot(page, "llm-job")

    open_page(page, console.url, "llm/jobs")
    page.wait_for_selector(".jobs-table tr[data-job]")
    shot(page, "llm-jobs")

    open_page(page, console.url, "llm/adapters")
    row = '#adapters-table tr[data-adapter="support-v1"]'
    until(page, lambda: page.locator(row).count() > 0, lambda: page.click("text=Refresh"))
    page.click(f"{row} [data-action=activate]")
    page.wait_for_selector(f'{row} [data-active="true"]')
    assert "support-v1" in page.inner_text("#activation")
    shot(page, "llm-adapters")

    # chat: the base model's and the adapter's replies stream in side by side
    page.once("dialog", lambda dialog: dialog.accept("Привет! Как дела?"))
    page.click(f"{row} [data-action=chat]")
    replies = page.locator("#chat-output pre.chat")
    until(page, lambda: replies.count() == 2 and all(replies.all_text_contents()), lambda: None, timeout_s=300)
    shot(page, "llm-chat")
    assert page.errors == []


def test_tts_sample_uploads_plays_and_takes_a_transcript(page, console, tmp_path):
    log_in(page, console.url)
    open_page(page, console.url, "tts/samples")
    page.set_input_files("#sample-files", str(write_wav(tmp_path / "hello.wav")))
    page.click("#upload-samples")
    row = '#samples-table tr[data-sample="hello.wav"]'
    page.wait_for_selector(row)
    assert "1.5 s" in page.inner_text(row)
    audio = page.get_attribute(f"{row} audio", "src")
    status = page.evaluate("async (src) => { const r = await fetch(src); return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }", audio)
    assert status == [200, "audio/wav", (tmp_path / "hello.wav").stat().st_size]
    page.fill(f"{row} textarea", "Hello there.")
    page.click(f"{row} >> text=Save")
    page.wait_for_selector(f"{row} >> text=source: manual")
    shot(page, "tts-samples")

    for route, name in (("tts/pipeline", "tts-pipeline"), ("tts/models", "tts-models")):
        open_page(page, console.url, route)
        shot(page, name)
    assert page.errors == []
