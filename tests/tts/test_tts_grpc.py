"""The tts service through gRPC: a real server, real uploads, real worker subprocesses on the
tiny Whisper and Qwen3-TTS models (prepare → 2 epochs → preview → download → upstream load)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict
from tuneforge.client import (
    job_result,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from tuneforge.common.v1 import common_pb2

from tests.tts.conftest import FORMATS, write_audio

State = common_pb2.Job
TEXTS = ["hello world", "the quick brown fox", "speak slowly please", "привет мир"]


@pytest.fixture(autouse=True)
def _one_thread_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # workers inherit the server's environment


def _names(client):
    return [s.name for s in client.iter_pages(client.tts.list_voice_samples, "samples")]


def test_a_stored_sample_downloads_byte_for_byte(client, audio_dir, tmp_path):
    client.upload_file("tts", audio_dir / "clip.ogg")
    out = client.download(client.tts.download_voice_sample(name="clip.ogg"), tmp_path / "back.ogg")
    assert out.read_bytes() == (audio_dir / "clip.ogg").read_bytes()
    first = next(iter(client.tts.download_voice_sample(name="clip.ogg")))
    assert (first.metadata.filename, first.metadata.content_type) == ("clip.ogg", "audio/ogg")
    with pytest.raises(NotFound):
        list(client.tts.download_voice_sample(name="missing.wav"))


def test_every_format_uploads_and_bad_audio_leaves_nothing(server, client, audio_dir, tmp_path):
    for fmt in FORMATS:
        s = client.upload_file("tts", audio_dir / f"clip.{fmt}")
        assert (s.name, s.format, s.channels) == (f"clip.{fmt}", fmt, 2)
        assert s.duration_seconds == pytest.approx(1.5, abs=0.08)
        assert s.sample_rate == (48000 if fmt == "opus" else 22050)
        assert s.size_bytes == (audio_dir / f"clip.{fmt}").stat().st_size
    messy = client.upload_file("tts", audio_dir / "clip.ogg", filename="Мой голос (take 2).ogg")
    assert messy.name == "take_2.ogg" and client.tts.get_voice_sample(name="take_2.ogg").format == "ogg"

    with pytest.raises(AlreadyExists):
        client.upload_file("tts", audio_dir / "clip.flac", filename="clip.wav")
    garbage = {"notes.mp3": b"not audio at all\n" * 40, "empty.wav": b"",
               "truncated.ogg": (audio_dir / "clip.ogg").read_bytes()[:150],
               "header-only.wav": (audio_dir / "clip.wav").read_bytes()[:44]}  # fmt: skip
    for name, data in garbage.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidArgument) as err:
            client.upload_file("tts", tmp_path / name)
        assert err.value.reason in ("INVALID_AUDIO", "EMPTY_UPLOAD"), name
    root = server.config.root
    assert sorted(p.name for p in (root / "tts" / "samples").iterdir()) == sorted(_names(client))
    assert list((root / "uploads").iterdir()) == []
    assert len(_names(client)) == len(FORMATS) + 1  # still serving, nothing half-stored

    page = client.tts.list_voice_samples(page_size=4)
    assert len(page.samples) == 4 and page.total_size == 6 and page.next_page_token
    rest = client.tts.list_voice_samples(page_size=4, page_token=page.next_page_token)
    assert [s.name for s in rest.samples] == ["clip.wav", "take_2.ogg"] and not rest.next_page_token

    edited = client.tts.update_voice_sample_transcript(name="clip.mp3", transcript=" Привет,\n мир ")
    assert (edited.transcript, edited.transcript_source) == ("Привет, мир", "manual")
    client.tts.delete_voice_sample(name="take_2.ogg")
    assert not (root / "tts" / "samples" / "take_2.ogg").exists()
    with pytest.raises(NotFound):
        client.tts.get_voice_sample(name="take_2.ogg")
    with pytest.raises(InvalidArgument):
        client.tts.get_voice_sample(name="../state.db")


def test_transcription_job_runs_faster_whisper_from_the_models_dir(server_factory, tiny_whisper_dir, tmp_path):
    from tuneforge.client import Client

    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny").symlink_to(tiny_whisper_dir, target_is_directory=True)
    srv = server_factory(models_dir=str(models))
    with Client(srv.target, timeout=30) as client:
        client.upload_file("tts", write_audio(tmp_path / "long.mp3", seconds=2.0))
        client.upload_file("tts", write_audio(tmp_path / "short.wav", seconds=0.4))
        with pytest.raises(InvalidArgument) as err:
            client.tts.transcribe_samples(whisper_model="tiny", language="english!")
        assert [v.field for v in err.value.field_violations] == ["language"]
        job = client.tts.transcribe_samples(whisper_model="tiny", language="en", max_duration_sec=10.0)
        assert job.kind == "transcribe"
        final = client.wait_job(job.id)
        assert final.state == State.STATE_SUCCEEDED, final.error_message
        result = MessageToDict(job_result(final))
        skipped = {s["name"]: s["reason"] for s in result["skipped"]}
        assert skipped.get("short.wav") == "TOO_SHORT"
        assert {t["name"] for t in result["transcribed"]} | set(skipped) == {"long.mp3", "short.wav"}
        for item in result["transcribed"]:
            stored = client.tts.get_voice_sample(name=item["name"])
            assert (stored.transcript, stored.transcript_source) == (item["text"], "whisper")
        assert str(tiny_whisper_dir.resolve()) == result["model"]


def _train_events(client, job_id):
    events = list(client.watch_job(job_id))
    metrics = [e.metrics for e in events if e.WhichOneof("kind") == "metrics"]
    checkpoints = [e.checkpoint.path.rsplit("/", 1)[-1] for e in events if e.WhichOneof("kind") == "checkpoint"]
    return metrics, checkpoints


def test_prepare_train_preview_download_and_stop_end_to_end(server, client, tiny_tts_dir, tmp_path):
    root = server.config.root
    # the stored training config: validated, persisted, overridable per job
    with pytest.raises(InvalidArgument) as err:
        client.tts.update_tts_training_config(config={"batch_size": 0, "speaker_name": "A B"},
                                              update_mask=["batch_size", "speaker_name"])  # fmt: skip
    assert {v.field for v in err.value.field_violations} == {"config.batch_size", "config.speaker_name"}
    config = client.tts.update_tts_training_config(config={
        "base_model": str(tiny_tts_dir), "num_epochs": 2, "learning_rate": 1e-3,
        "gradient_accumulation_steps": 1, "speaker_name": "Anna"})  # fmt: skip
    assert (config.speaker_name, config.batch_size) == ("anna", 2)
    assert client.tts.get_tts_training_config() == config

    with pytest.raises(FailedPrecondition) as err:
        client.tts.prepare_dataset()
    assert err.value.reason == "NO_TRANSCRIBED_SAMPLES"
    with pytest.raises(FailedPrecondition) as err:
        client.tts.start_training(model_name="anna-v1")
    assert err.value.reason == "DATASET_NOT_PREPARED"

    for i, fmt in enumerate(["wav", "mp3", "ogg", "opus"]):
        path = write_audio(tmp_path / f"s{i}.{fmt}", seconds=1.0 + 0.25 * i, rate=22050)
        client.upload_file("tts", path)
        client.tts.update_voice_sample_transcript(name=f"s{i}.{fmt}", transcript=TEXTS[i])

    # prepare: audio → 16-codebook 12.5 Hz codes with the base model's speech tokenizer
    prep = client.wait_job(client.tts.prepare_dataset(ref_sample="s1.mp3").id)
    assert prep.state == State.STATE_SUCCEEDED, prep.error_message
    assert job_result(prep).clips == 4 and job_result(prep).total_duration_seconds == pytest.approx(5.5, abs=0.2)
    with open(job_result(prep).train_jsonl, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert all(len(frame) == 16 for r in rows for frame in r["audio_codes"])
    assert job_result(prep).frames == sum(len(r["audio_codes"]) for r in rows)
    assert len(rows[0]["audio_codes"]) == pytest.approx(12.5, abs=1.5)
    assert len({c for r in rows for f in r["audio_codes"] for c in f}) > 50
    import soundfile as sf

    assert sf.info(job_result(prep).ref_audio).samplerate == 24000

    # train two epochs: metrics per step, a checkpoint per epoch, loss falls
    job = client.tts.start_training(model_name="anna-v1", request_id="train-anna-1")
    assert client.tts.start_training(model_name="anna-v1", request_id="train-anna-1").id == job.id
    metrics, checkpoints = _train_events(client, job.id)
    final = client.jobs.get_job(id=job.id)
    assert final.state == State.STATE_SUCCEEDED, final.error_message
    assert job_result(final).speaker_name == "anna" and job_result(final).epochs_completed == 2
    assert len(metrics) == 4 and metrics[-1].loss < metrics[0].loss
    assert checkpoints == ["checkpoint-epoch-1", "checkpoint-epoch-2"]
    assert final.last_checkpoint.endswith("checkpoint-epoch-2")
    (model,) = client.tts.list_voice_models().models
    assert (model.name, model.speaker_name, model.epochs) == ("anna-v1", "anna", 2)
    assert list(model.checkpoints) == checkpoints and model.size_bytes > 0
    with pytest.raises(AlreadyExists) as err:
        client.tts.start_training(model_name="anna-v1")
    assert err.value.reason == "VOICE_MODEL_ALREADY_EXISTS"

    # preview synthesis as a job, then its WAV over DownloadPreview
    with pytest.raises(FailedPrecondition) as err:
        list(client.tts.download_preview(job_id=job.id))
    assert err.value.reason == "NOT_A_PREVIEW_JOB"
    with pytest.raises(NotFound):
        client.tts.synthesize_preview(model_name="anna-v1", text="hi", checkpoint="checkpoint-epoch-9")
    with pytest.raises(NotFound) as err:
        client.tts.synthesize_preview(model_name="nobody", text="hi")
    assert err.value.reason == "VOICE_MODEL_NOT_FOUND"
    preview = client.tts.synthesize_preview(model_name="anna-v1", text="hello world", speaker="ANNA")
    done = client.wait_job(preview.id)
    assert done.state == State.STATE_SUCCEEDED, done.error_message
    out = client.download(client.tts.download_preview(job_id=preview.id), tmp_path / "preview.wav")
    data, rate = sf.read(str(out))
    assert rate == 24000 and data.size > 0 and np.isfinite(data).all()
    assert job_result(done).checkpoint.endswith("checkpoint-epoch-2")

    # the checkpoint loads with the upstream inference API (speaker in any case), and trained
    from tuneforge.services.tts.qwen_env import import_qwen_tts

    qwen_tts = import_qwen_tts()
    import torch

    tts = qwen_tts.Qwen3TTSModel.from_pretrained(str(root / "tts/models/anna-v1/checkpoint-epoch-2"),
                                                 attn_implementation="sdpa")  # fmt: skip
    assert tts.model.tts_model_type == "custom_voice"
    assert [s.lower() for s in tts.get_supported_speakers()] == ["anna"]
    torch.manual_seed(0)
    wavs, sr = tts.generate_custom_voice("hello", speaker="Anna", max_new_tokens=12)
    assert sr == 24000 and wavs[0].size > 0
    base = qwen_tts.Qwen3TTSModel.from_pretrained(str(tiny_tts_dir), attn_implementation="sdpa")
    trained = tts.model.talker.model.codec_embedding.weight
    assert not torch.equal(trained[:2048], base.model.talker.model.codec_embedding.weight[:2048])
    del tts, base

    # StopTraining: the worker saves a checkpoint that loads, the job ends CANCELLED with it
    long = client.tts.start_training(model_name="stopped", config={"num_epochs": 500, "batch_size": 1})
    for event in client.watch_job(long.id):
        if event.WhichOneof("kind") == "metrics" and event.metrics.step >= 2:
            assert client.jobs.cancel_job(id=long.id).cancel_requested
            break
    stopped = client.wait_job(long.id)
    assert stopped.state == State.STATE_CANCELLED, stopped.error_message
    name = stopped.last_checkpoint.rsplit("/", 1)[-1]
    assert name.startswith("checkpoint-stopped-step-")
    models = {m.name: m for m in client.tts.list_voice_models().models}
    assert models["stopped"].checkpoints[-1] == name
    kinds = [j.kind for j in client.iter_pages(client.jobs.list_jobs, "jobs", service="tts")]
    assert sorted(kinds) == ["tts_prepare", "tts_synthesize", "tts_train", "tts_train"]
