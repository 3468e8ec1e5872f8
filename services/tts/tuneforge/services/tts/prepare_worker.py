"""Dataset preparation worker: raw JSONL → Qwen3-TTS 12 Hz audio codes → training JSONL.

    python -m tuneforge.services.tts.prepare_worker --spec SPEC.json

Spec (see :func:`tuneforge.services.tts.specs.prepare_spec`)::

    {"raw_jsonl": "/abs/raw.jsonl", "output_dir": "/abs/var/tts/prepared",
     "base_model": "Qwen/Qwen3-TTS-12Hz-1.7B-Base" | "/abs/model", "device": "auto",
     "batch_size": 8}

Each raw line is ``{"audio": path, "text": str, "ref_audio": path}`` (one reference clip for
the whole set; ``language`` optional). Every clip is decoded with our decoder (so MP3, Opus,
... work, not just WAV), resampled to 24 kHz mono and encoded by the base model's speech
tokenizer (``<base_model>/speech_tokenizer``, ``Qwen3TTSTokenizer``: 16 codebooks at
12.5 frames/s). The reference clip is resampled to 24 kHz once and saved as
``output_dir/ref_24k.wav`` (the speaker encoder requires 24 kHz).

Output (each file written to a temporary name, then renamed): ``output_dir/train.jsonl``
with ``{"audio", "text", "ref_audio", "language", "audio_codes": [[16 ints] per frame]}``
and ``output_dir/meta.json`` with the stats. Events: ``progress`` (phase "encoding") per
batch, ``result`` ``{"train_jsonl", "ref_audio", "clips", "total_duration_seconds",
"frames", "skipped": [{"line", "reason", "detail"}], "stopped"}``. On SIGTERM it stops
between batches and writes nothing (exit 0, ``stopped: true``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import TuneforgeError, invalid_argument

SAMPLE_RATE = 24000


def read_raw(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse the raw JSONL; returns (rows, skipped). Raises if nothing usable or no ref."""
    rows, skipped = [], []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                skipped.append({"line": n, "reason": "INVALID_JSON", "detail": str(exc)})
                continue
            if not isinstance(row, dict) or not row.get("audio") or not str(row.get("text", "")).strip():
                skipped.append({"line": n, "reason": "MISSING_FIELD", "detail": "needs audio and text"})
                continue
            row["line"] = n
            rows.append(row)
    if not rows:
        raise invalid_argument("raw_jsonl", "no usable lines (each needs audio and text)",
                               reason="EMPTY_DATASET")  # fmt: skip
    refs = {r.get("ref_audio") for r in rows} - {None, ""}
    if len(refs) != 1:
        raise invalid_argument("ref_audio", f"expected one reference clip for the set, got {len(refs)}")
    return rows, skipped


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(spec: dict[str, Any]) -> None:
    import torch

    from tuneforge.audio.decode import decode, write_wav
    from tuneforge.services.tts.qwen_env import import_qwen_tts, pick_device, resolve_base_model

    qwen_tts = import_qwen_tts(warn=lambda m: ev.log(m, level="warning"))
    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped = read_raw(Path(spec["raw_jsonl"]))
    base = resolve_base_model(spec.get("base_model", ""))
    device = pick_device(spec.get("device"))
    ev.log(f"speech tokenizer from {base / 'speech_tokenizer'} on {device}")
    tokenizer = qwen_tts.Qwen3TTSTokenizer.from_pretrained(
        str(base / "speech_tokenizer"), device_map=device
    )
    if tokenizer.get_model_type() != "qwen3_tts_tokenizer_12hz":
        raise invalid_argument("base_model", "only 12 Hz Qwen3-TTS models are supported",
                               reason="UNSUPPORTED_MODEL")  # fmt: skip

    ref_src = Path(rows[0]["ref_audio"])
    ref_wav, _ = decode(ref_src, SAMPLE_RATE)
    ref_out = write_wav(out_dir / "ref_24k.wav", ref_wav, SAMPLE_RATE)

    batch_size = max(1, int(spec.get("batch_size", 8)))
    lines: list[str] = []
    total_seconds, total_frames = 0.0, 0
    started = time.monotonic()
    for start in range(0, len(rows), batch_size):
        if ev.stop_requested():
            ev.log("stop requested: nothing written")
            ev.result({"stopped": True, "clips": 0})
            return
        batch, wavs = [], []
        for row in rows[start : start + batch_size]:
            try:
                wav, _ = decode(row["audio"], SAMPLE_RATE)
            except TuneforgeError as exc:
                skipped.append({"line": row["line"], "reason": exc.reason, "detail": str(exc)})
                continue
            batch.append(row)
            wavs.append(wav)
        if wavs:
            with torch.inference_mode():
                enc = tokenizer.encode(wavs, sr=SAMPLE_RATE)
            for row, wav, codes in zip(batch, wavs, enc.audio_codes):
                codes = codes.cpu()
                total_seconds += wav.size / SAMPLE_RATE
                total_frames += int(codes.shape[0])
                lines.append(json.dumps({
                    "audio": str(Path(row["audio"]).resolve()),
                    "text": " ".join(str(row["text"]).split()),
                    "ref_audio": str(ref_out.resolve()),
                    "language": row.get("language") or "auto",
                    "audio_codes": codes.tolist(),
                }, ensure_ascii=False))  # fmt: skip
        done = min(start + batch_size, len(rows))
        elapsed = time.monotonic() - started
        ev.progress(phase="encoding", step=done, total=len(rows),
                    eta_seconds=elapsed / done * (len(rows) - done))  # fmt: skip
    if not lines:
        raise invalid_argument("raw_jsonl", "no clip could be decoded", reason="EMPTY_DATASET")
    train = out_dir / "train.jsonl"
    _atomic_text(train, "\n".join(lines) + "\n")
    stats = {
        "train_jsonl": str(train),
        "ref_audio": str(ref_out),
        "base_model": str(spec.get("base_model", "")),
        "clips": len(lines),
        "total_duration_seconds": round(total_seconds, 3),
        "frames": total_frames,
        "frame_rate": 12.5,
        "codebooks": 16,
        "skipped": skipped,
    }
    _atomic_text(out_dir / "meta.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    ev.result({**stats, "stopped": False})


if __name__ == "__main__":
    ev.run_main(main)
