"""The workers run as real subprocesses and speak the worker_events protocol."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import soundfile as sf

from tuneforge.runtime.store import Store
from tuneforge.services.dataset.catalog import DatasetCatalog


def by_kind(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def test_telegram_worker_transcribes_voice_with_tiny_whisper_and_creates_dataset(
    data, tmp_path, run_worker
):
    from tuneforge.testing.tiny_whisper import cached_tiny_whisper

    voice = tmp_path / "audio_1.ogg"
    t = np.linspace(0, 2, 32000, endpoint=False)
    sf.write(
        voice,
        (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"),
        16000,
        format="OGG",
    )
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.write(data / "telegram_single_chat.json", "ChatExport_2024/result.json")
        zf.write(voice, "ChatExport_2024/voice_messages/audio_1.ogg")
    root = tmp_path / "var"
    spec = {
        "input": str(upload), "dataset_name": "ivan-chats", "data_root": str(root), "job_id": "j1",
        "options": {"owner_name": "Ivan Ivanov", "transcribe_voice": True, "validation_split": 0,
                    "whisper_model": str(cached_tiny_whisper()), "whisper_language": "ru"},
    }  # fmt: skip
    code, events, stderr = run_worker(
        "tuneforge.services.dataset.telegram_worker", spec, tmp_path
    )
    assert code == 0, stderr + json.dumps(events, ensure_ascii=False)[-2000:]
    progress = by_kind(events, "progress")
    assert progress and progress[-1]["step"] == progress[-1]["total"] > 0
    result = by_kind(events, "result")[-1]["data"]
    report = result["report"]
    # the random-weight model may produce an empty transcript; either way the voice was decoded
    assert (
        report["voice_transcribed"]
        + report["messages_dropped"].get("voice_empty_transcript", 0)
        == 1
    )
    assert "voice_file_missing" not in report["messages_dropped"]
    info = DatasetCatalog(Store(root / "state.db"), root).get("ivan-chats")
    assert (
        info.record_count == result["dataset"]["record_count"] == 2
        and info.job_id == "j1"
    )
    assert info.report["owner"] == "ivan ivanov"


def test_telegram_worker_fails_with_reason_and_writes_nothing(
    data, tmp_path, run_worker
):
    root = tmp_path / "var"
    spec = {"input": str(data / "telegram_single_chat.json"), "dataset_name": "x",
            "data_root": str(root), "options": {"owner_name": "Nobody"}}  # fmt: skip
    code, events, _ = run_worker(
        "tuneforge.services.dataset.telegram_worker", spec, tmp_path
    )
    assert code == 1
    err = by_kind(events, "error")[-1]
    assert (
        err["reason"] == "TELEGRAM_OWNER_NOT_FOUND" and "Anna Petrova" in err["message"]
    )
    assert not [p for p in (root / "datasets").iterdir()]


def test_generate_worker_builds_dataset_from_a_project_zip(tmp_path, run_worker):
    project = tmp_path / "p.zip"
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr(
            "docs/guide.md", "# Install\n\nRun pip install.\n\n# Use\n\nCall run().\n"
        )
        zf.writestr(
            "app/main.py", '"""The app: a small shop."""\n\ndef run():\n    """Run the app on port 8000."""\n'
        )
    root = tmp_path / "var"
    spec = {"dataset_name": "proj", "data_root": str(root), "project_zip": str(project),
            "validation_split": 0.25, "options": {"system_prompt": "Help."}}  # fmt: skip
    code, events, stderr = run_worker(
        "tuneforge.services.dataset.generate_worker", spec, tmp_path
    )
    assert code == 0, stderr
    result = by_kind(events, "result")[-1]["data"]
    assert result["report"]["records_by_source"] == {"docs": 6, "code": 2}  # 2 passages x 3 questions
    assert (
        result["dataset"]["record_count"],
        result["dataset"]["validation_record_count"],
    ) == (6, 2)
    assert by_kind(events, "progress")


def test_generate_worker_rejects_unsafe_zip(tmp_path, run_worker):
    project = tmp_path / "evil.zip"
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr("../../escape.md", "# x\n\ny\n")
    spec = {
        "dataset_name": "evil",
        "data_root": str(tmp_path / "var"),
        "project_zip": str(project),
    }
    code, events, _ = run_worker(
        "tuneforge.services.dataset.generate_worker", spec, tmp_path
    )
    assert code == 1 and "unsafe path" in by_kind(events, "error")[-1]["message"]
    assert not (tmp_path / "escape.md").exists()
