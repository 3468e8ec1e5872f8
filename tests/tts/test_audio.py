"""Audio probing/decoding on real encoded files, and faster-whisper on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tts.conftest import FORMATS, write_audio
from tuneforge.audio.decode import decode, probe, write_wav
from tuneforge.audio.whisper import load_model, resolve_model, transcribe
from tuneforge.runtime.errors import Code, TuneforgeError


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_reports_real_metadata_for_every_supported_format(audio_dir, fmt):
    info = probe(audio_dir / f"clip.{fmt}")
    assert info.format == fmt
    assert info.duration_seconds == pytest.approx(1.5, abs=0.08)
    assert info.channels == 2
    assert info.sample_rate == (48000 if fmt == "opus" else 22050)
    assert info.size_bytes == (audio_dir / f"clip.{fmt}").stat().st_size


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_gives_mono_float32_at_the_requested_rate(audio_dir, fmt):
    samples, rate = decode(audio_dir / f"clip.{fmt}", 16000)
    assert rate == 16000 and samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size == pytest.approx(24000, abs=1500)
    assert 0.1 < float(np.abs(samples).max()) <= 1.0


def _garbage(tmp_path: Path) -> dict[str, Path]:
    good_ogg = write_audio(tmp_path / "src.ogg")
    files = {
        "empty.wav": b"",
        "text.mp3": b"this is a plain text file, not audio\n" * 20,
        "truncated.ogg": good_ogg.read_bytes()[:150],
        "header-only.wav": write_audio(tmp_path / "src.wav").read_bytes()[:44],
        "png.flac": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    }
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def test_non_audio_empty_and_corrupt_files_are_invalid_audio(tmp_path):
    for name, path in _garbage(tmp_path).items():
        with pytest.raises(TuneforgeError) as err:
            probe(path)
        assert err.value.code is Code.INVALID_ARGUMENT, name
        assert err.value.reason == "INVALID_AUDIO", name
        assert err.value.violations[0].field == "file"


def test_write_wav_round_trips_and_leaves_no_temp_files(tmp_path):
    x = np.sin(np.linspace(0, 200, 24000)).astype(np.float32) * 0.5
    out = write_wav(tmp_path / "out" / "a.wav", x, 24000)
    y, rate = decode(out)
    assert rate == 24000 and np.allclose(x, y, atol=1e-3)
    assert [p.name for p in out.parent.iterdir()] == ["a.wav"]


def test_unknown_or_missing_whisper_models_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_WHISPER_MODELS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(TuneforgeError) as err:
        resolve_model("large-v3")
    assert err.value.reason == "WHISPER_MODEL_UNAVAILABLE"
    assert err.value.code is Code.FAILED_PRECONDITION
    with pytest.raises(TuneforgeError) as err:
        resolve_model("gigantic")
    assert err.value.violations[0].field == "whisper_model"
    with pytest.raises(TuneforgeError):
        resolve_model(str(tmp_path))  # exists, but not a CTranslate2 model


def test_sizes_resolve_from_the_configured_models_dir(tmp_path, tiny_whisper_dir, monkeypatch):
    (tmp_path / "faster-whisper-tiny").symlink_to(tiny_whisper_dir)
    monkeypatch.setenv("TUNEFORGE_WHISPER_MODELS", str(tmp_path))
    assert resolve_model("tiny") == tiny_whisper_dir.resolve()


def test_faster_whisper_transcribes_a_real_file_with_the_tiny_model(audio_dir, tiny_whisper_dir):
    model = load_model(resolve_model(str(tiny_whisper_dir)), device="cpu")
    result = transcribe(model, audio_dir / "clip.mp3", language="en", beam_size=1)
    assert result.language == "en"
    assert result.duration_seconds == pytest.approx(1.5, abs=0.05)
    assert isinstance(result.text, str)
    detected = transcribe(model, audio_dir / "clip.wav", language="auto", beam_size=1)
    assert detected.language  # random weights: any language, but detection ran
