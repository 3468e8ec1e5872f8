"""Speech-to-text with faster-whisper, strictly offline.

``whisper_model`` is what a user would type: a size (``tiny``, ``base``, ``small``,
``medium``, ``large-v3``, ... — any name faster-whisper knows) or a local CTranslate2
directory. A size is looked up, never downloaded, in this order:

1. ``<models_dir>/<size>`` or ``<models_dir>/faster-whisper-<size>`` where ``models_dir`` is
   the argument or ``$TUNEFORGE_WHISPER_MODELS``;
2. the Hugging Face cache (``Systran/faster-whisper-<size>`` as faster-whisper names it,
   ``$HF_HOME``), with ``local_files_only=True``.

A model that is not there fails with FAILED_PRECONDITION ``WHISPER_MODEL_UNAVAILABLE``
saying where it was looked for and how to put it there (``huggingface-cli download ...`` on a
machine with a network, then copy). Only worker processes call :func:`load_model` /
:func:`transcribe` (faster-whisper is imported lazily); :func:`resolve_model` is light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument

MODELS_DIR_ENV = "TUNEFORGE_WHISPER_MODELS"
KNOWN_SIZES = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo",
    "distil-large-v2", "distil-large-v3", "distil-medium.en", "distil-small.en",
)  # fmt: skip


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    duration_seconds: float


def _is_ct2_dir(path: Path) -> bool:
    return path.is_dir() and (path / "model.bin").is_file() and (path / "config.json").is_file()


def resolve_model(whisper_model: str, models_dir: Path | str | None = None) -> Path:
    """Return the local CTranslate2 directory for ``whisper_model`` or raise.

    Raises INVALID_ARGUMENT (field ``whisper_model``) for an empty value or an existing path
    that is not a CTranslate2 Whisper model, FAILED_PRECONDITION
    ``WHISPER_MODEL_UNAVAILABLE`` when a known size is not available locally.
    """
    value = (whisper_model or "").strip()
    if not value:
        raise invalid_argument("whisper_model", "must not be empty")
    looks_like_path = os.sep in value or value.startswith(".") or value.startswith("~")
    if looks_like_path or value not in KNOWN_SIZES:
        path = Path(value).expanduser()
        if _is_ct2_dir(path):
            return path.resolve()
        if path.exists():
            raise invalid_argument(
                "whisper_model",
                f"{value} is not a CTranslate2 Whisper directory (needs config.json and model.bin)",
                reason="INVALID_WHISPER_MODEL",
            )
        if looks_like_path:
            raise invalid_argument(
                "whisper_model", f"directory {value} does not exist", reason="INVALID_WHISPER_MODEL"
            )
        raise invalid_argument(
            "whisper_model",
            f"unknown model {value!r}: use one of {', '.join(KNOWN_SIZES)} or a local directory",
            reason="INVALID_WHISPER_MODEL",
        )

    searched: list[str] = []
    root = models_dir or os.environ.get(MODELS_DIR_ENV)
    if root:
        for name in (value, f"faster-whisper-{value}"):
            candidate = Path(root).expanduser() / name
            searched.append(str(candidate))
            if _is_ct2_dir(candidate):
                return candidate.resolve()
    try:
        from faster_whisper.utils import download_model

        cached = Path(download_model(value, local_files_only=True))
        if _is_ct2_dir(cached):
            return cached
    except Exception:  # noqa: BLE001 - anything here means "not in the local cache"
        pass
    searched.append(f"Hugging Face cache (Systran/faster-whisper-{value})")
    raise failed_precondition(
        "WHISPER_MODEL_UNAVAILABLE",
        f"Whisper model {value!r} is not available locally (looked in: {'; '.join(searched)}). "
        f"tuneforge never downloads models: put a CTranslate2 copy in ${MODELS_DIR_ENV}/{value} "
        f"(e.g. `huggingface-cli download Systran/faster-whisper-{value} --local-dir ...`) or "
        "pass a local directory.",
        whisper_model=value,
    )


def load_model(model_dir: Path | str, device: str = "auto", compute_type: str = "default") -> Any:
    """Load a resolved directory with faster-whisper (worker processes only)."""
    from faster_whisper import WhisperModel

    if device == "auto":
        try:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:  # noqa: BLE001
            device = "cpu"
    if compute_type == "default":
        compute_type = "int8" if device == "cpu" else "float16"
    return WhisperModel(
        str(model_dir), device=device, compute_type=compute_type, local_files_only=True
    )


def transcribe(
    model: Any,
    path: Path | str,
    language: str | None = None,
    vad: bool = False,
    beam_size: int = 5,
) -> Transcript:
    """Transcribe one file. ``language`` None/""/"auto" detects it.

    The file is decoded with :mod:`tuneforge.audio.decode` (so the same formats and the same
    INVALID_AUDIO errors as uploads) and handed to faster-whisper as 16 kHz mono samples.
    """
    from tuneforge.audio.decode import decode

    samples, rate = decode(path, 16000)
    lang = None if not language or language == "auto" else language
    segments, info = model.transcribe(
        samples, language=lang, vad_filter=vad, beam_size=beam_size
    )
    text = " ".join(seg.text.strip() for seg in segments if seg.text.strip())
    return Transcript(
        text=text.strip(),
        language=info.language,
        language_probability=float(info.language_probability or 0.0),
        duration_seconds=round(samples.size / rate, 4),
    )
