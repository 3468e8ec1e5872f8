"""Preview synthesis worker: a trained checkpoint + text + speaker → a WAV file.

    python -m tuneforge.services.tts.synthesize_worker --spec SPEC.json

Spec (see :func:`tuneforge.services.tts.specs.preview_spec`)::

    {"checkpoint": "/abs/var/tts/models/NAME/checkpoint-epoch-3", "text": "Hello!",
     "speaker": "anna", "language": "auto", "output_wav": "" (= <job_dir>/preview.wav),
     "device": "auto", "max_new_tokens": 2048, "seed": 0}

It uses the upstream inference API unchanged — ``Qwen3TTSModel.from_pretrained(checkpoint)
.generate_custom_voice(text, speaker=..., language=...)`` — so a preview that works proves
the checkpoint works for anyone using ``qwen-tts``. The WAV (16-bit PCM, the model's output
rate) is written atomically. Events: ``progress`` (phases "loading", "generating"),
``result`` ``{"path", "sample_rate", "duration_seconds", "speaker", "checkpoint"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument

PREVIEW_FILE = "preview.wav"


def main(spec: dict[str, Any]) -> None:
    import numpy as np
    import torch

    from tuneforge.audio.decode import write_wav
    from tuneforge.services.tts.qwen_env import import_qwen_tts, pick_device

    qwen_tts = import_qwen_tts(warn=lambda m: ev.log(m, level="warning"))
    ckpt = Path(spec["checkpoint"])
    if not (ckpt / "config.json").is_file():
        raise invalid_argument("checkpoint", f"{ckpt.name} is not a model checkpoint")
    text = " ".join(str(spec.get("text", "")).split())
    if not text:
        raise invalid_argument("text", "must not be empty")
    device = pick_device(spec.get("device"))
    torch.manual_seed(int(spec.get("seed", 0)))
    ev.progress(phase="loading", step=0, total=2, message=str(ckpt))
    tts = qwen_tts.Qwen3TTSModel.from_pretrained(
        str(ckpt), attn_implementation="sdpa", dtype=torch.float32, device_map=device
    )
    speakers = [s.lower() for s in (tts.get_supported_speakers() or [])]
    speaker = (spec.get("speaker") or (speakers[0] if speakers else "")).strip().lower()
    if speaker not in speakers:
        raise invalid_argument("speaker", f"{speaker!r} is not in this model (has: {', '.join(speakers)})")
    ev.progress(phase="generating", step=1, total=2)
    with torch.inference_mode():
        wavs, rate = tts.generate_custom_voice(
            text=text, speaker=speaker, language=spec.get("language") or "auto",
            max_new_tokens=int(spec.get("max_new_tokens", 2048)),
        )  # fmt: skip
    wav = np.asarray(wavs[0], dtype=np.float32).reshape(-1)
    out = write_wav(output_path(spec), wav, int(rate))
    ev.progress(phase="generating", step=2, total=2)
    ev.result({"path": str(out), "sample_rate": int(rate),
               "duration_seconds": round(wav.size / int(rate), 3),
               "speaker": speaker, "checkpoint": str(ckpt)})  # fmt: skip


def output_path(spec: dict[str, Any]) -> Path:
    """``output_wav`` if given, else ``<job_dir>/preview.wav`` (where DownloadPreview looks)."""
    if spec.get("output_wav"):
        return Path(spec["output_wav"])
    if not spec.get("job_dir"):
        raise invalid_argument("output_wav", "needed when the spec has no job_dir")
    return Path(spec["job_dir"]) / PREVIEW_FILE


if __name__ == "__main__":
    ev.run_main(main)
