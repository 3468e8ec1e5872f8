"""`tuneforge tts samples ...` in a subprocess against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.tts.conftest import REPO


def tf(server, *args: str) -> subprocess.CompletedProcess:
    from tuneforge.testing.paths import source_path

    env = {**os.environ, "PYTHONPATH": source_path()}
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "tts", *args, "--target", server.target],
                          capture_output=True, text=True, timeout=60, check=False, cwd=REPO, env=env)  # fmt: skip


def test_samples_upload_list_transcript_rm(server, audio_dir, tmp_path):
    up = tf(server, "samples", "upload", str(audio_dir / "clip.wav"), str(audio_dir / "clip.opus"))
    assert up.returncode == 0, up.stderr
    assert "uploaded clip.wav" in up.stdout and "uploaded clip.opus" in up.stdout

    listed = tf(server, "samples", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    samples = {s["name"]: s for s in json.loads(listed.stdout)}
    assert set(samples) == {"clip.wav", "clip.opus"}
    assert all(abs(s["duration_seconds"] - 1.5) < 0.08 for s in samples.values())
    assert samples["clip.opus"]["sample_rate"] == 48000 and samples["clip.wav"]["format"] == "wav"

    text = tf(server, "samples", "transcript", "clip.wav", "Привет, мир")
    assert text.returncode == 0 and "Привет, мир" in text.stdout
    assert tf(server, "samples", "rm", "clip.opus").returncode == 0
    table = tf(server, "samples", "list")
    assert "clip.wav" in table.stdout and "clip.opus" not in table.stdout and "manual" in table.stdout

    # an upload that is not audio: exit 1, the reason on stderr, the good file still stored
    bad = tmp_path / "notes.ogg"
    bad.write_text("definitely not audio\n" * 30)
    failed = tf(server, "samples", "upload", str(bad), str(audio_dir / "clip.mp3"))
    assert failed.returncode == 1 and "INVALID_AUDIO" in failed.stderr
    missing = tf(server, "samples", "rm", "nope.wav")
    assert missing.returncode == 4 and "NOT_FOUND" in missing.stderr
    names = [s["name"] for s in json.loads(tf(server, "samples", "list", "--json").stdout)]
    assert names == ["clip.mp3", "clip.wav"]
