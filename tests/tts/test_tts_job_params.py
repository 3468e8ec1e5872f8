"""Every tts job kind carries typed params on the wire (JobKind.params_type): the spec's keys
as the kind's ``*JobParams`` message, internal keys dropped."""

from __future__ import annotations

import pytest
from tuneforge.client import job_params
from tuneforge.runtime.job_rpcs import to_message
from tuneforge.services.tts.server import PARAMS_TYPES
from tuneforge.services.tts.servicer import KINDS
from tuneforge.tts.v1 import tts_pb2

from tests.tts.conftest import write_audio

# kind -> (a stored spec as the service writes it, the typed params it becomes)
SPECS = {
    "transcribe": (
        {"data_root": "/var/x", "whisper_model": "/m/tiny", "language": "en", "min_duration_sec": 1.0,
         "max_duration_sec": 30.0, "vad": True, "sample_names": ["a.wav"], "overwrite": False, "device": "auto"},
        tts_pb2.TranscribeJobParams(whisper_model="/m/tiny", language="en", min_duration_sec=1.0,
                                    max_duration_sec=30.0, vad=True, sample_names=["a.wav"], device="auto"),
    ),
    "tts_prepare": (
        {"raw_jsonl": "/v/raw.jsonl", "output_dir": "/v/prepared", "base_model": "Qwen/x", "device": "cpu"},
        tts_pb2.PrepareJobParams(raw_jsonl="/v/raw.jsonl", output_dir="/v/prepared", base_model="Qwen/x", device="cpu"),
    ),
    "tts_train": (
        {"train_jsonl": "/v/train.jsonl", "output_dir": "/v/models/anna", "model_name": "anna", "device": "auto",
         "config": {"base_model": "Qwen/x", "batch_size": 2, "num_epochs": 3, "speaker_name": "anna",
                    "seed": 42, "learning_rate": 2e-5, "gradient_accumulation_steps": 4, "weight_decay": 0.01}},
        tts_pb2.TtsTrainingJobParams(train_jsonl="/v/train.jsonl", output_dir="/v/models/anna", model_name="anna",
                                     device="auto", config=tts_pb2.TtsTrainingConfig(
                                         base_model="Qwen/x", batch_size=2, num_epochs=3, speaker_name="anna",
                                         seed=42, learning_rate=2e-5, gradient_accumulation_steps=4)),
    ),
    "tts_synthesize": (
        {"checkpoint": "/v/ck", "text": "hi", "speaker": "anna", "language": "auto", "output_wav": "",
         "max_new_tokens": 40, "device": "auto", "job_dir": "/v/jobs/1"},
        tts_pb2.SynthesizeJobParams(checkpoint="/v/ck", text="hi", speaker="anna", language="auto",
                                    max_new_tokens=40, device="auto"),
    ),
}


def test_every_tts_kind_declares_a_params_type():
    assert set(PARAMS_TYPES) == set(KINDS) == set(SPECS)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_a_stored_spec_becomes_the_kinds_typed_params(kind):
    stored, expected = SPECS[kind]
    assert to_message(stored, PARAMS_TYPES[kind]) == expected


def test_a_transcription_job_reports_its_typed_params(server_factory, tiny_whisper_dir, tmp_path):
    from tuneforge.client import Client

    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny").symlink_to(tiny_whisper_dir, target_is_directory=True)
    srv = server_factory(models_dir=str(models))
    with Client(srv.target, timeout=30) as client:
        client.upload_file("tts", write_audio(tmp_path / "a.wav", seconds=0.4))
        job = client.tts.transcribe_samples(whisper_model="tiny", language="en", max_duration_sec=10.0,
                                            sample_names=["a.wav"])  # fmt: skip
        params = job_params(job)
        assert isinstance(params, tts_pb2.TranscribeJobParams)
        assert (params.language, params.max_duration_sec, list(params.sample_names)) == ("en", 10.0, ["a.wav"])
        assert params.whisper_model == str(tiny_whisper_dir.resolve())
        assert job_params(client.wait_job(job.id)) == params
