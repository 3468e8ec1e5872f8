"""Building and checking worker specs at request time (light: no torch, no faster-whisper).

The servicer calls these before it creates a job, so bad parameters fail the RPC with
INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION instead of a job that fails later. Each
returns ``(module, spec)``: the job engine runs ``python -m <module> --spec <spec.json>``.

Data root layout used here: ``tts/samples/`` (the catalog), ``tts/prepared/`` (raw.jsonl,
train.jsonl, ref_24k.wav, meta.json — one prepared set, replaced by each PrepareDataset),
``tts/models/<name>/checkpoint-epoch-N/``, previews under ``jobs/<id>/preview.wav``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import (
    FieldViolation,
    failed_precondition,
    invalid_argument,
    invalid_fields,
)
from tuneforge.runtime.names import confined, validate_name
from tuneforge.services.tts.config import TtsTrainingConfig
from tuneforge.services.tts.models import VoiceModelCatalog
from tuneforge.services.tts.samples import SampleCatalog

TRANSCRIBE_MODULE = "tuneforge.services.tts.transcribe_worker"
PREPARE_MODULE = "tuneforge.services.tts.prepare_worker"
TRAIN_MODULE = "tuneforge.services.tts.train_worker"
PREVIEW_MODULE = "tuneforge.services.tts.synthesize_worker"

_LANG_RE = re.compile(r"^[a-z]{2,3}$")
MAX_PREVIEW_CHARS = 500


def prepared_dir(data_root: Path) -> Path:
    return Path(data_root) / "tts" / "prepared"


def transcribe_spec(
    catalog: SampleCatalog,
    whisper_model: str = "small",
    language: str = "auto",
    min_duration_sec: float | None = None,
    max_duration_sec: float | None = None,
    vad: bool = False,
    sample_names: list[str] | None = None,
    overwrite: bool = False,
    models_dir: str | None = None,
    device: str = "auto",
) -> tuple[str, dict[str, Any]]:
    """Checks: language is a code or auto, 0 <= min < max, named samples exist."""
    from tuneforge.audio.whisper import (
        resolve_model,  # light: imports faster_whisper lazily
    )

    bad: list[FieldViolation] = []
    lang = (language or "auto").strip().lower()
    if lang != "auto" and not _LANG_RE.match(lang):
        bad.append(FieldViolation("language", "a Whisper language code such as en, ru, de, or auto"))
    lo = 1.0 if min_duration_sec is None else float(min_duration_sec)
    hi = 30.0 if max_duration_sec is None else float(max_duration_sec)
    if lo < 0:
        bad.append(FieldViolation("min_duration_sec", "must not be negative"))
    if hi <= lo:
        bad.append(FieldViolation("max_duration_sec", "must be greater than min_duration_sec"))
    if bad:
        raise invalid_fields(bad)
    names = list(sample_names or [])
    for name in names:
        catalog.get(name)  # NOT_FOUND / INVALID_NAME now, not in the job
    model_dir = resolve_model(whisper_model or "small", models_dir)
    return TRANSCRIBE_MODULE, {
        "data_root": str(catalog.data_root.resolve()),
        "whisper_model": str(model_dir),
        "language": lang,
        "min_duration_sec": lo,
        "max_duration_sec": hi,
        "vad": bool(vad),
        "sample_names": names,
        "overwrite": bool(overwrite),
        "device": device,
    }


def prepare_spec(
    catalog: SampleCatalog, ref_sample: str = "", base_model: str = "", device: str = "auto"
) -> tuple[str, dict[str, Any]]:
    """Write ``tts/prepared/raw.jsonl`` from the transcribed samples and return the spec.

    Samples without a transcript are left out. ``ref_sample`` defaults to the first
    transcribed sample. Raises FAILED_PRECONDITION ``NO_TRANSCRIBED_SAMPLES``, NOT_FOUND.
    """
    base = base_model or TtsTrainingConfig().base_model
    samples = [s for s in catalog.all() if s.transcript]
    if not samples:
        raise failed_precondition(
            "NO_TRANSCRIBED_SAMPLES", "no voice sample has a transcript: transcribe or set them first"
        )
    ref = catalog.get(ref_sample) if ref_sample else samples[0]
    out = prepared_dir(catalog.data_root)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"audio": str(s.path.resolve()), "text": s.transcript,
                    "ref_audio": str(ref.path.resolve()), "sample": s.name,
                    "language": _language_name(s.transcript_language)}, ensure_ascii=False)
        for s in samples
    ]  # fmt: skip
    raw = out / "raw.jsonl"
    _atomic_write(raw, "\n".join(lines) + "\n")
    return PREPARE_MODULE, {
        "raw_jsonl": str(raw.resolve()),
        "output_dir": str(out.resolve()),
        "base_model": base,
        "device": device,
    }


def train_spec(
    data_root: Path | str,
    model_name: str,
    config: TtsTrainingConfig,
    device: str = "auto",
) -> tuple[str, dict[str, Any]]:
    """Checks: name valid and unused, config valid, a prepared training set exists."""
    data_root = Path(data_root)
    validate_name(model_name, "model_name")
    config = config.validated()
    models = VoiceModelCatalog(data_root)
    if models.exists(model_name):
        from tuneforge.runtime.errors import already_exists

        raise already_exists("voice_model", model_name)
    train = prepared_dir(data_root) / "train.jsonl"
    if not train.is_file():
        raise failed_precondition("DATASET_NOT_PREPARED", "run PrepareDataset before training")
    _check_prepared_base(data_root, config.base_model)
    return TRAIN_MODULE, {
        "train_jsonl": str(train.resolve()),
        "output_dir": str(confined(models.root, model_name)),
        "model_name": model_name,
        "device": device,
        "config": config.as_dict(),
    }


def _check_prepared_base(data_root: Path, base_model: str) -> None:
    """The audio codes come from the prepare-time model's speech tokenizer: training another
    base model on them would silently learn the wrong codes."""
    import json

    from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError

    meta_path = prepared_dir(data_root) / "meta.json"
    try:
        prepared = str(json.loads(meta_path.read_text(encoding="utf-8")).get("base_model", ""))
    except (OSError, ValueError):
        return
    if prepared and base_model and prepared != base_model:
        raise TuneforgeError(
            Code.FAILED_PRECONDITION, "BASE_MODEL_MISMATCH",
            f"the training set was prepared with {prepared!r}, but training would use {base_model!r}: "
            f"train with base_model {prepared!r} or run PrepareDataset again with {base_model!r}",
            [FieldViolation("config.base_model", f"must be {prepared!r}, the model the dataset was prepared with")],
        )


def preview_spec(
    data_root: Path | str,
    model_name: str,
    text: str,
    output_wav: Path | str | None = None,
    checkpoint: str = "",
    speaker: str = "",
    language: str = "auto",
    device: str = "auto",
) -> tuple[str, dict[str, Any]]:
    """Checks: model and checkpoint exist (default: the latest), text is short and non-empty.

    ``output_wav`` None leaves the choice to the worker: ``<job_dir>/preview.wav`` (the job
    id is only known once the engine has created the job).
    """
    text = " ".join((text or "").split())
    if not text:
        raise invalid_argument("text", "must not be empty")
    if len(text) > MAX_PREVIEW_CHARS:
        raise invalid_argument("text", f"at most {MAX_PREVIEW_CHARS} characters for a preview")
    models = VoiceModelCatalog(data_root)
    model = models.get(model_name)
    ckpt = models.checkpoint_path(model_name, checkpoint)
    return PREVIEW_MODULE, {
        "checkpoint": str(ckpt.resolve()),
        "text": text,
        "speaker": (speaker or model.speaker_name).lower(),
        "language": language or "auto",
        "output_wav": str(Path(output_wav)) if output_wav else "",
        "max_new_tokens": preview_frame_budget(text),
        "device": device,
    }


def preview_frame_budget(text: str) -> int:
    """Most codec frames a preview may generate: ~3 frames (0.24 s) per character + 5 s.

    Slow speech is ~8 characters/s = ~1.6 frames per character at 12.5 frames/s, so this is
    twice that; it stops a model that never says "end" (an under-trained one) from running
    to 2048 frames (2.7 minutes of audio) for a short sentence.
    """
    return min(2048, 60 + 3 * len(text))


# Whisper codes → Qwen3-TTS language names (the model's codec_language_id keys).
_LANGUAGE_NAMES = {"zh": "chinese", "en": "english", "ja": "japanese", "ko": "korean",
                   "de": "german", "fr": "french", "ru": "russian", "pt": "portuguese",
                   "es": "spanish", "it": "italian"}  # fmt: skip


def _language_name(code: str) -> str:
    return _LANGUAGE_NAMES.get((code or "").lower(), "auto")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
