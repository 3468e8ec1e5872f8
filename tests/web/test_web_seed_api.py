"""All 28 method+path pairs of the seeds' admin API (``/admin/finetune/…``,
``/admin/tts-finetune/…``) answer as the seeds describe, over a real server: each call's status
and the shape of its JSON (or its stream / file). The list is ``routes_seed.SEED_PAIRS``;
docs/web.md maps each pair to its gRPC call."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.web.conftest import write_wav
from tests.web.test_web_api import EXPORT, sse_events

LLM, TTS = "/admin/finetune", "/admin/tts-finetune"


def make_adapter(path: Path, r: int = 4, hidden: int = 16) -> Path:
    """Real PEFT adapter files (safetensors of zeros), no torch."""
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny-base", "r": r,
        "lora_alpha": 2 * r, "lora_dropout": 0.0, "target_modules": ["q_proj"], "bias": "none"}))
    header, offset = {}, 0
    for name, shape in (("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [r, hidden]),
                        ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", [hidden, r])):
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * shape[0] * shape[1]]}
        offset += 4 * shape[0] * shape[1]
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    (path / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


def make_voice_model(root: Path, name: str, epochs: int = 2) -> None:
    """A trained voice model as the TTS training worker leaves it on disk."""
    model = root / "tts" / "models" / name
    model.mkdir(parents=True)
    (model / "tuneforge-voice.json").write_text(json.dumps({"speaker_name": "anna", "base_model": "tiny-tts"}))
    for epoch in range(1, epochs + 1):
        (model / f"checkpoint-epoch-{epoch}").mkdir()
        (model / f"checkpoint-epoch-{epoch}" / "model.safetensors").write_bytes(b"\0" * 64)


def first_event(http, path: str) -> tuple[int, str, dict]:
    """(status, content type, the first data event) of an SSE endpoint."""
    with http.stream("GET", path) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.headers["content-type"], response.json()
        for line in response.iter_lines():
            if line.startswith("data:"):
                return 200, response.headers["content-type"], json.loads(line[5:])
    raise AssertionError("no event")


def error(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["reason"] == reason and body["message"], body
    return body


@pytest.fixture
def seeded(server, browser_like, tmp_path):
    """A server holding a processed Telegram dataset, a registered adapter, a voice sample and
    two trained voice models (on disk, as training leaves them)."""
    from tuneforge.client import Client

    up = browser_like.post(f"{LLM}/dataset/upload?filename=result.json&name=chats", content=EXPORT.read_bytes())
    assert up.status_code == 202, up.text
    assert set(up.json()) == {"upload", "job"} and up.json()["job"]["kind"] == "telegram"
    ended = sse_events(browser_like, f"{LLM}/jobs/{up.json()['job']['id']}/events")[-1]["data"]
    assert ended["state"] == "STATE_SUCCEEDED", ended
    with Client(server.target, timeout=30) as client:
        client.registry.register_adapter(name="alice", path=str(make_adapter(tmp_path / "incoming" / "alice")), dataset="chats")
    wav = write_wav(tmp_path / "hi.wav")
    assert browser_like.post(f"{TTS}/samples/upload?filename=hi.wav", content=wav.read_bytes()).status_code == 201
    make_voice_model(tmp_path / "var", "anna-v1")
    make_voice_model(tmp_path / "var", "anna-v2", epochs=1)
    return browser_like


def test_the_28_seed_pairs_answer_with_their_shapes(seeded, server):
    http = seeded
    seen: set[tuple[str, str]] = set()

    def call(method: str, pattern: str, path: str | None = None, **kw):
        seen.add((method, pattern))
        return http.request(method, (path or pattern), **kw)

    # ---- LLM: datasets
    status = call("GET", f"{LLM}/dataset/status").json()
    assert [d["name"] for d in status["datasets"]] == ["chats"] and status["processing"] is None
    assert status["jobs"][0]["kind"] == "telegram"
    # (POST /dataset/upload ran in the fixture: 202 {upload, job})
    seen.add(("POST", f"{LLM}/dataset/upload"))
    generated = call("POST", f"{LLM}/dataset/generate", json={"dataset_name": "faq", "faq_file": "/nowhere/faq.md"})
    assert generated.status_code in (202, 400, 412), generated.text
    if generated.status_code == 202:
        assert generated.json()["job"]["kind"] == "generate"
    else:
        assert generated.json()["error"]["field_violations"] or generated.json()["error"]["message"]
    error(call("POST", f"{LLM}/dataset/generate", json={}), 400, "INVALID_ARGUMENT")
    stats = call("GET", f"{LLM}/dataset/stats").json()
    assert stats["record_count"] > 20 and sum(b["count"] for b in stats["token_histogram"]) == stats["record_count"]
    # ---- config
    config = call("GET", f"{LLM}/config").json()
    assert {"config", "presets", "help", "fields", "default_preset"} <= set(config)
    posted = call("POST", f"{LLM}/config", json={"values": {"lora_rank": 16}})
    assert posted.status_code == 200 and posted.json()["config"]["lora_rank"] == 16
    # ---- training
    refused = call("POST", f"{LLM}/train/start", json={"dataset": "chats", "base_model": "no-such-model", "adapter_name": "b"})
    body = error(refused, 412, "MODEL_NOT_AVAILABLE")
    assert body["field_violations"][0]["field"] == "base_model"
    train_status = call("GET", f"{LLM}/train/status").json()
    assert set(train_status) == {"running", "queue", "jobs"} and train_status["running"] is None
    error(call("POST", f"{LLM}/train/stop", json={}), 400, "INVALID_ARGUMENT")
    code, _, body = first_event(http, f"{LLM}/train/log")
    seen.add(("GET", f"{LLM}/train/log"))
    assert code == 404 and body["error"]["reason"] == "NO_TRAINING_JOB"
    dataset_job = status["jobs"][0]["id"]
    code, ctype, event = first_event(http, f"{LLM}/train/log?job_id={dataset_job}")
    assert code == 200 and ctype.startswith("text/event-stream") and event["type"] in ("job", "progress", "log")
    # ---- adapters
    adapters = call("GET", f"{LLM}/adapters").json()
    assert [a["name"] for a in adapters["adapters"]] == ["alice"] and "adapter_name" in adapters["active"]
    pattern = f"{LLM}/adapters/{{name}}/activate"
    unconfirmed = call("POST", pattern, f"{LLM}/adapters/alice/activate")
    assert error(unconfirmed, 409, "CONFIRMATION_REQUIRED")["field_violations"] == [
        {"field": "confirm", "description": "NOT_EVALUATED"}]
    activated = call("POST", pattern, f"{LLM}/adapters/alice/activate", json={"confirm": True})
    assert activated.status_code == 200 and activated.json()["adapter_name"] == "alice"
    archive = call("GET", f"{LLM}/adapters/{{name}}/download", f"{LLM}/adapters/alice/download")
    assert archive.headers["content-type"] == "application/gzip" and archive.content[:2] == b"\x1f\x8b"
    busy = call("DELETE", f"{LLM}/adapters/{{name}}", f"{LLM}/adapters/alice")
    assert busy.status_code == 412, busy.text  # the active adapter needs ?force=1
    assert http.delete(f"{LLM}/adapters/alice?force=1").json() == {"deleted": "alice"}

    # ---- TTS: samples
    samples = call("GET", f"{TTS}/samples").json()
    assert [s["name"] for s in samples["samples"]] == ["hi.wav"] and samples["total_seconds"] > 1
    seen.add(("POST", f"{TTS}/samples/upload"))  # the fixture's upload: 201 {sample}
    sample = call("GET", f"{TTS}/samples/{{name}}", f"{TTS}/samples/hi.wav").json()
    assert sample["name"] == "hi.wav" and sample["duration_seconds"] == pytest.approx(1.5, abs=0.01)
    transcribe = call("POST", f"{TTS}/transcribe", json={"whisper_model": "/nowhere/whisper"})
    assert transcribe.status_code in (202, 400, 412), transcribe.text
    if transcribe.status_code == 202:
        assert transcribe.json()["job"]["kind"] == "transcribe"
    prepare = call("POST", f"{TTS}/prepare", json={"ref_sample": "hi.wav", "base_model": "no-such-tts"})
    assert prepare.status_code in (202, 400, 412), prepare.text
    assert prepare.json().get("job", {}).get("kind", "tts_prepare") == "tts_prepare"
    train = call("POST", f"{TTS}/train/start", json={"model_name": "anna-v3", "config": {"base_model": "no-such-tts"}})
    assert train.status_code in (400, 412) and train.json()["error"]["message"], train.text
    tts_status = call("GET", f"{TTS}/train/status").json()
    assert set(tts_status) == {"running", "queue", "jobs"}
    error(call("POST", f"{TTS}/train/stop", json={}), 400, "INVALID_ARGUMENT")
    code, _, body = first_event(http, f"{TTS}/train/log")
    seen.add(("GET", f"{TTS}/train/log"))
    assert code == 404 and body["error"]["reason"] == "NO_TRAINING_JOB"
    # ---- voice models: list, activate (with history), preview
    models = call("GET", f"{TTS}/models").json()["models"]
    assert [(m["name"], m["checkpoints"][-1]) for m in models] == [("anna-v1", "checkpoint-epoch-2"), ("anna-v2", "checkpoint-epoch-1")]
    pattern = f"{TTS}/models/{{name}}/activate"
    first = call("POST", pattern, f"{TTS}/models/anna-v1/activate").json()
    assert (first["model_name"], first["checkpoint"], first["history"]) == ("anna-v1", "checkpoint-epoch-2", [])
    second = http.post(f"{TTS}/models/anna-v2/activate", json={"checkpoint": "checkpoint-epoch-1"}).json()
    assert second["model_name"] == "anna-v2" and [h["model_name"] for h in second["history"]] == ["anna-v1"]
    error(http.post(f"{TTS}/models/nobody/activate"), 404, "VOICE_MODEL_NOT_FOUND")
    back = http.post(f"{TTS}/models/rollback").json()
    assert back["model_name"] == "anna-v1" and http.get(f"{TTS}/models/active").json()["model_name"] == "anna-v1"
    preview = call("POST", f"{TTS}/preview", json={"model_name": "anna-v1", "text": "Привет"})
    assert preview.status_code == 202 and preview.json()["job"]["kind"] == "tts_synthesize", preview.text
    not_ready = call("GET", f"{TTS}/preview/{{id}}", f"{TTS}/preview/{preview.json()['job']['id']}")
    assert not_ready.status_code in (200, 412), not_ready.text
    if not_ready.status_code == 412:
        assert not_ready.json()["error"]["reason"] == "PREVIEW_NOT_READY"
    http.post(f"{LLM}/jobs/{preview.json()['job']['id']}/cancel")
    deleted = call("DELETE", f"{TTS}/samples/{{name}}", f"{TTS}/samples/hi.wav")
    assert deleted.json() == {"deleted": "hi.wav"}

    from tuneforge.web.routes_seed import SEED_PAIRS

    assert seen == {(m, p) for m, p, _ in SEED_PAIRS}


def test_base_models_list_the_models_dir_or_say_how_to_set_it(server_factory, web_factory, tmp_path):
    import httpx

    bare = web_factory(server_factory(tmp_path / "bare").target)
    answer = httpx.get(f"{bare.url}/admin/finetune/base-models").json()
    assert answer["models_dir"] == "" and "TUNEFORGE_MODELS_DIR" in answer["hint"]
    models = tmp_path / "models"
    (models / "tiny-qwen").mkdir(parents=True)
    (models / "tiny-qwen" / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    (models / "tiny-qwen" / "model.safetensors").write_bytes(b"\0" * 100)
    (models / "notes").mkdir()  # no config.json: not a model
    web = web_factory(server_factory(tmp_path / "var2", models_dir=str(models)).target)
    answer = httpx.get(f"{web.url}/admin/tts-finetune/base-models").json()
    local = [m for m in answer["models"] if m["source"] == "models_dir"]
    assert [(m["name"], m["architecture"], m["size_bytes"], m["kind"]) for m in local] == [("tiny-qwen", "qwen2", 100, "llm")]
    assert str(models) in answer["hint"]
