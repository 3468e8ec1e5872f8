"""The console's round-2 API (issue 28): presets scaled to the dataset with the step count,
the services' health for the status dot, the import's privacy options and report, chat
sampling settings checked at their fields."""

from __future__ import annotations

import pytest

from tests.web.test_web_api import EXPORT, sse_events
from tuneforge.web.routes_seed import fit_to_data

LLM = "/admin/finetune"


@pytest.mark.parametrize(("examples", "values", "edited", "epochs", "accum", "steps"), [
    (40, {"batch_size": 1, "gradient_accumulation_steps": 32, "epochs": 1}, set(), 3, 10, 12),  # the bundled export, quick
    (1000, {"batch_size": 1, "gradient_accumulation_steps": 16, "epochs": 1}, set(), 1, 16, 63),  # big enough: unchanged
    (50000, {"batch_size": 2, "gradient_accumulation_steps": 8, "epochs": 2}, set(), 1, 8, 3125),  # too many: fewer epochs
    (3, {"batch_size": 1, "gradient_accumulation_steps": 32, "epochs": 1}, set(), 25, 1, 75),  # tiny: capped at 25 epochs
    (40, {"batch_size": 1, "gradient_accumulation_steps": 32, "epochs": 1}, {"epochs"}, 1, 10, 4),  # the user's epochs kept
])
def test_a_preset_scales_to_the_dataset(examples, values, edited, epochs, accum, steps):
    fitted = fit_to_data(examples, values, edited)
    assert (fitted["epochs"], fitted["gradient_accumulation_steps"], fitted["steps"]) == (epochs, accum, steps)


def test_the_quick_preset_on_the_bundled_export_gives_a_real_run_and_says_its_steps(browser_like):
    up = browser_like.post(f"{LLM}/datasets/upload?filename=result.json", content=EXPORT.read_bytes()).json()["upload"]
    job = browser_like.post(f"{LLM}/datasets/process", json={"upload_id": up["id"], "name": "chats", "options": {
        "owner_name": "Demo Support", "scrub": True, "scrub_names": True}}).json()["job"]
    ended = sse_events(browser_like, f"{LLM}/jobs/{job['id']}/events")[-1]["data"]
    assert ended["state"] == "STATE_SUCCEEDED", ended
    report = ended["result"]["report"]
    assert report["owner"] and report["chats_used"] > 0 and report["contacts"], report
    assert "scrubbed" in report
    fit = browser_like.post(f"{LLM}/train/fit-preset", json={"dataset": "chats", "preset": "quick"}).json()
    assert fit["examples"] > 10 and fit["steps"] >= 8 and fit["values"]["epochs"] > 1, fit
    kept = browser_like.post(f"{LLM}/train/fit-preset", json={"dataset": "chats", "preset": "quick", "config": {"epochs": 1}}).json()
    assert "epochs" not in kept["values"] and kept["epochs"] == 1
    bad = browser_like.post(f"{LLM}/train/fit-preset", json={"dataset": "chats", "preset": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["field_violations"][0]["field"] == "preset"
    # incremental import: the same export again adds nothing new
    up2 = browser_like.post(f"{LLM}/datasets/upload?filename=result.json", content=EXPORT.read_bytes()).json()["upload"]
    again = browser_like.post(f"{LLM}/datasets/process", json={"upload_id": up2["id"], "name": "x", "append_to": "chats",
                                                              "options": {"owner_name": "Demo Support"}})
    assert again.status_code == 202, again.text
    ended = sse_events(browser_like, f"{LLM}/jobs/{again.json()['job']['id']}/events")[-1]["data"]
    assert ended["state"] == "STATE_SUCCEEDED" and ended["result"]["report"]["messages_already_in_dataset"] > 0, ended


def test_health_says_each_service_answers(browser_like):
    health = browser_like.get("/admin/health").json()
    assert health["ok"] and set(health["services"]) == {"dataset", "trainer", "tts", "registry"}


def test_health_says_plainly_when_the_services_are_down(web_factory):
    import httpx

    web = web_factory("127.0.0.1:9")  # nothing listens there
    health = httpx.get(f"{web.url}/admin/health", timeout=30).json()
    assert not health["ok"] and all(s["error"] for s in health["services"].values())


@pytest.mark.parametrize(("body", "field"), [
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": 5}, "temperature"),
    ({"messages": [{"role": "user", "content": "hi"}], "top_p": "x"}, "top_p"),
])
def test_chat_sampling_settings_are_checked_at_their_fields(browser_like, body, field):
    response = browser_like.post(f"{LLM}/adapters/nope/chat", json=body)
    assert response.status_code == 400 and response.json()["error"]["field_violations"][0]["field"] == field
