"""Fixtures for the tts tests: real audio files in every supported format, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FORMATS = ("wav", "flac", "mp3", "ogg", "opus")


def tone(seconds: float, rate: int, freq: float = 220.0, channels: int = 1) -> np.ndarray:
    """(channels, frames) float32: a vowel-ish harmonic tone with a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(freq))
    x = sum(0.2 / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 5))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    return np.stack([x * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


def write_audio(path: Path, seconds: float = 1.5, rate: int = 22050, channels: int = 2) -> Path:
    """Encode a real file: WAV/FLAC through libsndfile, MP3/Vorbis/Opus through PyAV's encoders."""
    import av
    import soundfile as sf

    fmt = path.suffix.lstrip(".")
    if fmt in ("wav", "flac"):
        sf.write(str(path), tone(seconds, rate, channels=channels).T, rate)
        return path
    codec, container, out_rate = {
        "mp3": ("libmp3lame", "mp3", rate),
        "ogg": ("vorbis", "ogg", rate),
        "opus": ("libopus", "ogg", 48000),
    }[fmt]
    layout = "stereo" if channels == 2 else "mono"
    data = tone(seconds, rate, channels=channels)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=out_rate, options={"strict": "experimental"})
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio")
    for fmt in FORMATS:
        write_audio(root / f"clip.{fmt}")
    return root


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    from tuneforge.testing.tiny_whisper import cached_tiny_whisper

    return cached_tiny_whisper()


REPO = Path(__file__).resolve().parents[2]


def run_worker(module: str, spec: dict, tmp_path: Path, timeout: float = 120.0):
    """Run a worker as the job engine does; return (returncode, events, stderr)."""
    import json
    import subprocess
    import sys

    spec_path = tmp_path / f"{module.rsplit('.', 1)[-1]}-spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    from tuneforge.testing.paths import source_path

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": source_path()}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", module, "--spec", str(spec_path)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
    )  # fmt: skip
    events = []
    for line in proc.stdout.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return proc.returncode, events, proc.stderr


def result_of(events: list[dict]) -> dict:
    results = [e["data"] for e in events if e["event"] == "result"]
    assert results, f"no result event in {events}"
    return results[-1]


@pytest.fixture(scope="session")
def tiny_tts_dir() -> Path:
    from tuneforge.testing.tiny_tts import cached_tiny_tts

    return cached_tiny_tts()


@pytest.fixture
def catalog(tmp_path):
    from tuneforge.runtime.store import Store
    from tuneforge.services.tts.samples import SampleCatalog

    root = tmp_path / "var"
    store = Store(root / "state.db")
    yield SampleCatalog(store, root)
    store.close()
