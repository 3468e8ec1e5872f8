"""The transcription worker as a real subprocess on the tiny faster-whisper model."""

from __future__ import annotations

from tests.tts.conftest import result_of, run_worker, write_audio
from tuneforge.services.tts.specs import transcribe_spec


def test_transcription_stores_transcripts_and_reports_skips(catalog, tmp_path, tiny_whisper_dir):
    catalog.add("long.mp3", write_audio(tmp_path / "long.mp3", seconds=2.0))
    catalog.add("voice.opus", write_audio(tmp_path / "voice.opus", seconds=1.5))
    catalog.add("short.wav", write_audio(tmp_path / "short.wav", seconds=0.4))
    catalog.set_transcript("voice.opus", "kept as typed")
    module, spec = transcribe_spec(catalog, whisper_model=str(tiny_whisper_dir), language="en",
                                   max_duration_sec=10.0)  # fmt: skip
    spec["beam_size"] = 1
    rc, events, stderr = run_worker(module, spec, tmp_path)
    assert rc == 0, stderr
    result = result_of(events)
    skipped = {s["name"]: s["reason"] for s in result["skipped"]}
    assert skipped.get("short.wav") == "TOO_SHORT"
    assert "voice.opus" not in skipped  # not selected: it already had a transcript
    assert [p["step"] for p in events if p["event"] == "progress"][:2] == [0, 1]
    for item in result["transcribed"]:
        stored = catalog.get(item["name"])
        assert stored.transcript == item["text"] and stored.transcript_source == "whisper"
    assert catalog.get("voice.opus").transcript == "kept as typed"
    assert {t["name"] for t in result["transcribed"]} | set(skipped) == {"long.mp3", "short.wav"}


def test_an_unavailable_whisper_model_fails_the_request_not_the_job(catalog, tmp_path, monkeypatch):
    import pytest

    from tuneforge.runtime.errors import TuneforgeError

    monkeypatch.setenv("TUNEFORGE_WHISPER_MODELS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(TuneforgeError) as err:
        transcribe_spec(catalog, whisper_model="medium")
    assert err.value.reason == "WHISPER_MODEL_UNAVAILABLE"
    with pytest.raises(TuneforgeError) as err:
        transcribe_spec(catalog, whisper_model="tiny", language="english!", min_duration_sec=5,
                        max_duration_sec=2)  # fmt: skip
    assert {v.field for v in err.value.violations} == {"language", "max_duration_sec"}


def test_skipped_samples_are_in_the_job_log_not_only_in_the_result(catalog, tmp_path, tiny_whisper_dir):
    catalog.add("short.wav", write_audio(tmp_path / "short.wav", seconds=0.4))
    catalog.add("long.wav", write_audio(tmp_path / "long.wav", seconds=3.0))
    module, spec = transcribe_spec(catalog, whisper_model=str(tiny_whisper_dir), language="en",
                                   max_duration_sec=2.0)  # fmt: skip
    rc, events, stderr = run_worker(module, spec, tmp_path)
    assert rc == 0, stderr
    logs = [e["message"] for e in events if e["event"] == "log"]
    assert any(line.startswith("skipped short.wav: TOO_SHORT") for line in logs)
    assert any(line.startswith("skipped long.wav: TOO_LONG") for line in logs)
    assert "0 transcribed, 2 skipped" in logs
