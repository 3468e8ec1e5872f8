"""The console's JSON API over a real server: the seed panel's paths, errors mapped from gRPC,
streamed uploads, SSE resuming from Last-Event-ID, logs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import write_wav

REPO = Path(__file__).resolve().parents[2]
EXPORT = REPO / "tuneforge" / "demo" / "telegram_export.json"


def sse_events(http: httpx.Client, path: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Every event of an SSE stream until its ``end`` event."""
    events, current = [], {}
    with http.stream("GET", path, headers=headers or {}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(": ")
                current[key] = value
            elif line == "" and current:
                if current.get("event") == "end":
                    return events
                if "data" in current and "id" in current:
                    events.append({"id": int(current["id"]), "event": current["event"], **json.loads(current["data"])})
                current = {}
    return events


def process_export(http: httpx.Client, name: str = "chats") -> str:
    up = http.post("/admin/finetune/datasets/upload?filename=result.json", content=EXPORT.read_bytes())
    assert up.status_code == 201, up.text
    job = http.post("/admin/finetune/datasets/process",
                    json={"upload_id": up.json()["upload"]["id"], "name": name, "options": {"owner_name": "Demo Support"}})
    assert job.status_code == 202, job.text
    return job.json()["job"]["id"]


def test_a_telegram_export_becomes_a_dataset_through_the_json_api(browser_like):
    job_id = process_export(browser_like)
    events = sse_events(browser_like, f"/admin/finetune/jobs/{job_id}/events")
    assert events[-1]["type"] == "job" and events[-1]["data"]["state"] == "STATE_SUCCEEDED"
    [dataset] = browser_like.get("/admin/finetune/datasets").json()["datasets"]
    assert (dataset["name"], dataset["source"]) == ("chats", "telegram") and dataset["record_count"] > 20
    stats = browser_like.get("/admin/finetune/datasets/chats/stats").json()
    assert sum(b["count"] for b in stats["token_histogram"]) == stats["record_count"]
    records = browser_like.get("/admin/finetune/datasets/chats/preview?count=2").json()["records"]
    assert len(records) == 2 and records[0]["messages"][-1]["role"] == "assistant"


def test_the_sse_stream_resumes_after_last_event_id(browser_like):
    job_id = process_export(browser_like)
    everything = sse_events(browser_like, f"/admin/finetune/jobs/{job_id}/events")
    middle = everything[len(everything) // 2]["id"]
    resumed = sse_events(browser_like, f"/admin/finetune/jobs/{job_id}/events", {"last-event-id": str(middle)})
    assert [e["id"] for e in resumed] == [e["id"] for e in everything if e["id"] > middle]


def test_logs_come_as_the_last_lines_or_as_a_whole_file(browser_like):
    job_id = process_export(browser_like)
    sse_events(browser_like, f"/admin/finetune/jobs/{job_id}/events")
    tail = browser_like.get(f"/admin/finetune/jobs/{job_id}/logs?tail=2").json()
    assert len(tail["lines"]) == 2 and tail["total"] >= 2
    whole = browser_like.get(f"/admin/finetune/jobs/{job_id}/logs?download=1")
    assert whole.headers["content-disposition"].startswith("attachment")
    assert whole.text.count("\n") == tail["total"] and tail["lines"][-1]["message"] in whole.text


def test_a_dataset_downloads_as_jsonl_and_deletes(browser_like):
    sse_events(browser_like, f"/admin/finetune/jobs/{process_export(browser_like)}/events")
    body = browser_like.get("/admin/finetune/datasets/chats/download")
    assert body.status_code == 200 and all(json.loads(line)["messages"] for line in body.text.splitlines())
    assert browser_like.delete("/admin/finetune/datasets/chats").status_code == 200
    assert browser_like.get("/admin/finetune/datasets/chats").status_code == 404


def test_a_multipart_upload_is_accepted_like_a_raw_one(browser_like):
    response = browser_like.post("/admin/finetune/datasets/upload", files={"file": ("result.json", EXPORT.read_bytes(), "application/json")})
    assert response.status_code == 201, response.text
    upload = response.json()["upload"]
    assert (upload["filename"], upload["size_bytes"]) == ("result.json", EXPORT.stat().st_size)


def test_an_upload_without_a_file_name_is_refused_at_its_field(browser_like):
    response = browser_like.post("/admin/finetune/datasets/upload", content=b"{}")
    assert response.status_code == 400
    assert response.json()["error"]["field_violations"][0]["field"] == "filename"


def test_a_bad_training_config_answers_400_with_the_field(browser_like):
    response = browser_like.post("/admin/finetune/train/start", json={
        "dataset": "chats", "base_model": "/nowhere", "adapter_name": "a1", "config": {"lora_rank": 0}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["reason"] == "INVALID_TRAINING_CONFIG"
    assert {"field": "config.lora_rank", "description": "must be > 0, got 0"} in error["field_violations"]


@pytest.mark.parametrize(("method", "path", "status", "reason"), [
    ("GET", "/admin/finetune/datasets/nope", 404, "NOT_FOUND"),
    ("GET", "/admin/finetune/jobs/job-000000000000", 404, "NOT_FOUND"),
    ("POST", "/admin/finetune/adapters/nope/activate", 404, "NOT_FOUND"),
    ("DELETE", "/admin/tts-finetune/samples/nope.wav", 404, "NOT_FOUND"),
    ("POST", "/admin/finetune/adapters/nope/chat", 400, "INVALID_ARGUMENT"),  # no messages
])
def test_service_errors_keep_their_reason_and_an_http_status(browser_like, method, path, status, reason):
    response = browser_like.request(method, path)
    assert response.status_code == status
    assert reason in (response.json()["error"]["reason"], response.json()["error"]["code"])


def test_presets_and_help_come_with_the_config(browser_like):
    config = browser_like.get("/admin/finetune/config").json()
    assert {p["name"] for p in config["presets"]} >= {"quick", "standard", "thorough"}
    assert set(config["help"]) == set(config["config"])
    assert browser_like.get("/admin/finetune/presets").json()["default_preset"] == config["default_preset"]


def test_the_training_defaults_update_and_reset(browser_like):
    changed = browser_like.put("/admin/finetune/config", json={"values": {"lora_rank": 32, "precision": "bf16"}}).json()
    assert (changed["config"]["lora_rank"], changed["config"]["precision"]) == (32, "bf16")
    assert browser_like.put("/admin/finetune/config", json={"reset": True}).json()["config"]["lora_rank"] == 8


def test_config_fields_say_how_to_edit_them(browser_like):
    fields = {f["name"]: f for f in browser_like.get("/admin/finetune/config").json()["fields"]}
    assert fields["precision"]["kind"] == "enum" and "bf16" in fields["precision"]["choices"]
    assert (fields["lora_rank"]["kind"], fields["target_modules"]["kind"], fields["packing"]["kind"]) == ("int", "list", "bool")
    assert fields["lora_rank"]["help"]
    assert fields["rewards"]["kind"] == "json" and "method" in fields  # GRPO's list of rewards


def test_grpo_rewards_given_as_a_json_list_reach_the_trainer_and_a_bad_one_names_its_field(browser_like):
    response = browser_like.post("/admin/finetune/train/start", json={
        "dataset": "chats", "base_model": "/nowhere", "adapter_name": "a1",
        "config": {"method": "grpo", "rewards": [{"kind": "format"}, {"kind": "regex", "pattern": "(x"}]}})
    assert response.status_code == 400
    fields = {v["field"] for v in response.json()["error"]["field_violations"]}
    assert "config.rewards[1].pattern" in fields


def test_a_config_value_of_the_wrong_type_is_refused_at_its_field(browser_like):
    response = browser_like.post("/admin/finetune/train/start", json={
        "dataset": "chats", "base_model": "/nowhere", "adapter_name": "a1", "config": {"precision": "fp8"}})
    assert response.status_code == 400
    [violation] = response.json()["error"]["field_violations"]
    assert violation["field"] == "config.precision" and "bf16" in violation["description"]


def test_a_voice_sample_uploads_plays_and_takes_a_transcript(browser_like, tmp_path):
    wav = write_wav(tmp_path / "hi.wav")
    sample = browser_like.post("/admin/tts-finetune/samples/upload", content=wav.read_bytes(), headers={"x-filename": "hi.wav"})
    assert sample.status_code == 201 and sample.json()["sample"]["duration_seconds"] == pytest.approx(1.5, abs=0.01)
    audio = browser_like.get("/admin/tts-finetune/samples/hi.wav/audio")
    assert (audio.headers["content-type"], audio.content) == ("audio/wav", wav.read_bytes())
    updated = browser_like.put("/admin/tts-finetune/samples/hi.wav/transcript", json={"transcript": "hi"}).json()
    assert (updated["transcript"], updated["transcript_source"]) == ("hi", "manual")
    listing = browser_like.get("/admin/tts-finetune/samples").json()
    assert listing["total_seconds"] == pytest.approx(1.5, abs=0.01)


def test_no_adapter_is_active_on_a_fresh_server(browser_like):
    body = browser_like.get("/admin/finetune/adapters").json()
    assert body["adapters"] == [] and body["active"]["adapter_name"] == ""


@pytest.mark.slow
def test_a_job_stops_with_a_checkpoint_and_resumes_from_it(browser_like, tiny_lm_dir):
    sse_events(browser_like, f"/admin/finetune/jobs/{process_export(browser_like)}/events")
    config = {"max_seq_length": 128, "batch_size": 2, "gradient_accumulation_steps": 1, "epochs": 50,
              "save_steps": 1000, "gradient_checkpointing": False}
    started = browser_like.post("/admin/finetune/train/start", json={
        "dataset": "chats", "base_model": str(tiny_lm_dir), "preset": "quick", "adapter_name": "long", "config": config})
    assert started.status_code == 202, started.text
    job_id = started.json()["job"]["id"]
    with browser_like.stream("GET", f"/admin/finetune/jobs/{job_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data:") and '"type":"progress"' in line and json.loads(line[5:])["data"].get("step", 0) >= 1:
                break
    assert browser_like.post("/admin/finetune/train/stop", json={"job_id": job_id}).status_code == 200
    stopped = sse_events(browser_like, f"/admin/finetune/jobs/{job_id}/events")[-1]["data"]
    assert stopped["state"] == "STATE_CANCELLED" and stopped["last_checkpoint"]
    resumed = browser_like.post("/admin/finetune/train/resume", json={"job_id": job_id})
    assert resumed.status_code == 202, resumed.text
    job = resumed.json()["job"]
    assert job["params"]["resume_from"] == job_id and job["params"]["adapter_name"] == "long"
    assert browser_like.post("/admin/finetune/train/stop", json={"job_id": job["id"]}).status_code == 200


@pytest.mark.slow
def test_the_pre_flight_plan_says_whether_a_job_fits_and_times_a_warm_up_on_request(browser_like, tiny_lm_dir):
    sse_events(browser_like, f"/admin/finetune/jobs/{process_export(browser_like)}/events")
    body = {"dataset": "chats", "base_model": str(tiny_lm_dir), "preset": "quick",
            "config": {"max_seq_length": 128, "batch_size": 2, "gradient_checkpointing": False}}
    answer = browser_like.post("/admin/finetune/train/plan", json={**body, "warmup": True})
    assert answer.status_code == 200, answer.text
    plan = answer.json()["plan"]
    assert plan["fits"] and plan["memory"]["total_bytes"] > 0 and plan["advice"] == []
    assert plan["time"]["measured"] and plan["time"]["total_steps"] > 0, plan["time"]
    too_big = browser_like.post("/admin/finetune/train/plan", json={**body, "config": {"batch_size": 2000000}})
    assert too_big.status_code == 200 and not too_big.json()["plan"]["fits"]
    assert any("--set batch_size=1" in tip for tip in too_big.json()["plan"]["advice"])


def test_the_sse_bridge_sends_keep_alives_while_a_job_is_quiet():
    import asyncio

    from tuneforge.web.sse import _frames

    async def slow(after_seq):
        await asyncio.sleep(0.3)
        yield {"seq": after_seq + 1, "type": "log", "data": {}}

    async def collect():
        return [frame async for frame in _frames(slow, 5, heartbeat=0.1)]

    frames = asyncio.run(collect())
    assert frames[0].startswith("retry:") and ": keep-alive\n\n" in frames
    assert frames[-2].startswith("id: 6\nevent: log\n") and frames[-1].startswith("event: end")


@pytest.mark.slow
def test_a_kto_job_started_in_the_console_trains_and_registers(server, browser_like, tiny_lm_dir, tmp_path):
    from tuneforge.client import Client

    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"count {i}"},
                                                     {"role": "assistant", "content": f"{i} {i + 1}"}],
                                        "label": i % 3 != 0}) + "\n" for i in range(8)))
    with Client(server.target, timeout=30) as client:
        client.dataset.import_dataset(upload_id=client.upload_file("dataset", path).id, dataset_name="answers")
    config = {"method": "kto", "max_seq_length": 64, "batch_size": 2, "gradient_accumulation_steps": 1,
              "epochs": 1, "save_steps": 1000, "gradient_checkpointing": False, "target_modules": "q_proj"}
    started = browser_like.post("/admin/finetune/train/start", json={
        "dataset": "answers", "base_model": str(tiny_lm_dir), "adapter_name": "web-kto", "config": config})
    assert started.status_code == 202, started.text
    ended = sse_events(browser_like, f"/admin/finetune/jobs/{started.json()['job']['id']}/events")[-1]["data"]
    assert ended["state"] == "STATE_SUCCEEDED", ended
    assert any(a["name"] == "web-kto" for a in browser_like.get("/admin/finetune/adapters").json()["adapters"])
