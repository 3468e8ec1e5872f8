"""Prepare → train two epochs → preview, as real worker subprocesses on the tiny Qwen3-TTS."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.tts.conftest import REPO, result_of, run_worker, write_audio
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.tts.config import TtsTrainingConfig
from tuneforge.services.tts.models import VoiceModelCatalog
from tuneforge.services.tts.specs import prepare_spec, preview_spec, train_spec

TEXTS = ["hello world", "the quick brown fox", "speak slowly please", "привет мир"]


def _transcribed_catalog(catalog, tmp_path):
    for i, fmt in enumerate(["wav", "mp3", "ogg", "opus"]):
        path = write_audio(tmp_path / f"src{i}.{fmt}", seconds=1.0 + 0.25 * i, rate=22050)
        catalog.add(f"s{i}.{fmt}", path)
        catalog.set_transcript(f"s{i}.{fmt}", TEXTS[i], language="ru" if i == 3 else "en")
    return catalog


def test_prepare_train_and_preview_end_to_end(catalog, tmp_path, tiny_tts_dir):
    root = catalog.data_root
    _transcribed_catalog(catalog, tmp_path)

    module, spec = prepare_spec(catalog, ref_sample="s1.mp3", base_model=str(tiny_tts_dir), device="cpu")
    rc, events, stderr = run_worker(module, spec, tmp_path)
    assert rc == 0, stderr
    stats = result_of(events)
    assert stats["clips"] == 4 and stats["total_duration_seconds"] == pytest.approx(5.5, abs=0.2)
    rows = [json.loads(line) for line in open(stats["train_jsonl"], encoding="utf-8")]
    assert all(len(frame) == 16 for r in rows for frame in r["audio_codes"])
    assert stats["frames"] == sum(len(r["audio_codes"]) for r in rows)
    assert len(rows[0]["audio_codes"]) == pytest.approx(1.0 * 12.5, abs=1.5)  # 12.5 frames/s
    assert len({c for r in rows for f in r["audio_codes"] for c in f}) > 50  # real codebooks
    import soundfile as sf

    assert sf.info(stats["ref_audio"]).samplerate == 24000

    config = TtsTrainingConfig(base_model=str(tiny_tts_dir), num_epochs=2, learning_rate=1e-3,
                               gradient_accumulation_steps=1).merged({"speaker_name": "Anna"})  # fmt: skip
    module, spec = train_spec(root, "anna-v1", config, device="cpu")
    rc, events, stderr = run_worker(module, spec, tmp_path)
    assert rc == 0, stderr
    result = result_of(events)
    assert result["speaker_name"] == "anna" and result["epochs_completed"] == 2
    losses = [e["loss"] for e in events if e["event"] == "metrics"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert [e["path"].rsplit("/", 1)[-1] for e in events if e["event"] == "checkpoint"] == [
        "checkpoint-epoch-1", "checkpoint-epoch-2"]  # fmt: skip

    model = VoiceModelCatalog(root).get("anna-v1")
    assert model.epochs == 2 and model.speaker_name == "anna" and model.size_bytes > 0

    # the checkpoint loads with the upstream inference API, speaker in any case
    from tuneforge.services.tts.qwen_env import import_qwen_tts

    qwen_tts = import_qwen_tts()
    import torch

    ckpt = VoiceModelCatalog(root).checkpoint_path("anna-v1")
    tts = qwen_tts.Qwen3TTSModel.from_pretrained(str(ckpt), attn_implementation="sdpa")
    assert tts.model.tts_model_type == "custom_voice"
    assert [s.lower() for s in tts.get_supported_speakers()] == ["anna"]
    torch.manual_seed(0)
    wavs, rate = tts.generate_custom_voice("hello", speaker="Anna", max_new_tokens=12)
    assert rate == 24000 and wavs[0].size > 0
    base = qwen_tts.Qwen3TTSModel.from_pretrained(str(tiny_tts_dir), attn_implementation="sdpa")
    trained = tts.model.talker.model.codec_embedding.weight
    assert not torch.equal(trained[:2048], base.model.talker.model.codec_embedding.weight[:2048])

    out = root / "jobs" / "job-1" / "preview.wav"
    module, spec = preview_spec(root, "anna-v1", "hello world", out, speaker="ANNA", device="cpu")
    spec["max_new_tokens"] = 20
    rc, events, stderr = run_worker(module, spec, tmp_path)
    assert rc == 0, stderr
    preview = result_of(events)
    data, sr = sf.read(preview["path"])
    assert sr == 24000 and data.size > 0 and np.isfinite(data).all()
    assert preview["path"] == str(out)


def test_training_stops_on_sigterm_with_a_loadable_checkpoint(catalog, tmp_path, tiny_tts_dir):
    root = catalog.data_root
    _transcribed_catalog(catalog, tmp_path)
    module, spec = prepare_spec(catalog, base_model=str(tiny_tts_dir), device="cpu")
    assert run_worker(module, spec, tmp_path)[0] == 0
    config = TtsTrainingConfig(base_model=str(tiny_tts_dir), num_epochs=500, batch_size=1,
                               gradient_accumulation_steps=1)  # fmt: skip
    module, spec = train_spec(root, "stopped", config, device="cpu")
    spec_path = tmp_path / "train.json"
    spec_path.write_text(json.dumps(spec))
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", module, "--spec", str(spec_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)  # fmt: skip
    events = []
    for line in proc.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
            if events[-1]["event"] == "metrics" and events[-1]["step"] == 2:
                proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    result = result_of(events)
    assert result["stopped"] is True
    name = result["checkpoints"][-1].rsplit("/", 1)[-1]
    assert name.startswith("checkpoint-stopped-step-")
    assert VoiceModelCatalog(root).checkpoint_path("stopped").name == name


def test_requests_fail_early_with_clear_errors(catalog, tmp_path, tiny_tts_dir):
    with pytest.raises(TuneforgeError) as err:
        prepare_spec(catalog, base_model=str(tiny_tts_dir))
    assert err.value.reason == "NO_TRANSCRIBED_SAMPLES"
    with pytest.raises(TuneforgeError) as err:
        train_spec(catalog.data_root, "v1", TtsTrainingConfig(base_model=str(tiny_tts_dir)))
    assert err.value.reason == "DATASET_NOT_PREPARED"
    with pytest.raises(TuneforgeError) as err:
        TtsTrainingConfig().merged({"batch_size": 0, "learning_rate": -1, "speaker_name": "a b"})
    assert {v.field for v in err.value.violations} == {"batch_size", "learning_rate", "speaker_name"}
    with pytest.raises(TuneforgeError) as err:
        preview_spec(catalog.data_root, "nope", "hi", tmp_path / "x.wav")
    assert err.value.code.name == "NOT_FOUND"
