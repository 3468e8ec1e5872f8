"""Importing the ``qwen-tts`` package in a worker, without torchaudio when it cannot load.

``import qwen_tts`` imports its 25 Hz speech tokenizer, which imports
``torchaudio.compliance.kaldi`` at module level. tuneforge uses only the 12 Hz tokenizer
(``Qwen3-TTS-12Hz-*`` models), which never touches torchaudio. PyPI has no torchaudio
build that loads beside the CPU torch we install (its native library wants CUDA), so the
documented install is ``pip install --no-deps qwen-tts==0.1.1`` plus its light
dependencies, *without* torchaudio (docs/tts.md).

:func:`import_qwen_tts` therefore does this, and only this:

- if ``import torchaudio`` works (a GPU deployment with a matching CUDA torch +
  torchaudio, or a separate TTS virtualenv), nothing is changed;
- otherwise it registers a placeholder module ``torchaudio`` (and
  ``torchaudio.compliance.kaldi``) *in this worker process only*, logs a warning that says
  so, and imports ``qwen_tts``. Anything that really calls torchaudio (the 25 Hz tokenizer)
  gets a ``RuntimeError`` naming the cause instead of a wrong result.

Workers call it before anything else from qwen_tts; the service process never does.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any

PLACEHOLDER_ATTR = "__tuneforge_placeholder__"
_REASON = (
    "torchaudio is not usable in this environment ({cause}); tuneforge registered a "
    "placeholder so that qwen_tts imports. Only Qwen3-TTS's 25 Hz tokenizer needs torchaudio; "
    "the 12 Hz models tuneforge trains do not. Install a torchaudio that matches your torch "
    "to use 25 Hz models."
)


class _Placeholder(types.ModuleType):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(name)
        self.__dict__[PLACEHOLDER_ATTR] = True
        self.__dict__["_message"] = message
        self.__dict__["__path__"] = []  # a package, so submodule imports resolve
        self.__dict__["__spec__"] = importlib.machinery.ModuleSpec(name, None, is_package=True)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"{self.__name__}.{attr} is unavailable: {self._message}")


def torchaudio_status() -> str | None:
    """None when torchaudio imports, else the reason it does not."""
    if "torchaudio" in sys.modules and getattr(sys.modules["torchaudio"], PLACEHOLDER_ATTR, False):
        return "placeholder registered"
    try:
        importlib.import_module("torchaudio")
        return None
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError from the native library, ...
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()


def import_qwen_tts(warn: Any = None) -> Any:
    """Import and return the ``qwen_tts`` package (see the module docstring)."""
    cause = torchaudio_status()
    # transformers records which optional packages exist when it is first imported; let it
    # see the real state (no usable torchaudio) before the placeholder exists.
    importlib.import_module("transformers.utils.import_utils")
    if cause is not None and cause != "placeholder registered":
        message = _REASON.format(cause=cause)
        root = _Placeholder("torchaudio", message)
        compliance = _Placeholder("torchaudio.compliance", message)
        kaldi = _Placeholder("torchaudio.compliance.kaldi", message)
        root.__dict__["compliance"] = compliance
        compliance.__dict__["kaldi"] = kaldi
        sys.modules.update(
            {"torchaudio": root, "torchaudio.compliance": compliance,
             "torchaudio.compliance.kaldi": kaldi}
        )  # fmt: skip
        if warn is not None:
            warn(message)
    import qwen_tts

    return qwen_tts


def resolve_base_model(base_model: str) -> Path:
    """A local directory for ``base_model`` (a path, or a hub id already in the HF cache).

    Never downloads. Raises INVALID_ARGUMENT ``INVALID_BASE_MODEL`` for a directory that is
    not a Qwen3-TTS model and FAILED_PRECONDITION ``BASE_MODEL_UNAVAILABLE`` for a hub id
    that is not in the local cache.
    """
    from tuneforge.runtime.errors import failed_precondition, invalid_argument

    value = (base_model or "").strip()
    if not value:
        raise invalid_argument("base_model", "must not be empty")
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() or not (path / "speech_tokenizer").is_dir():
            raise invalid_argument(
                "base_model",
                f"{value} is not a Qwen3-TTS model directory (needs config.json and speech_tokenizer/)",
                reason="INVALID_BASE_MODEL",
            )
        return path.resolve()
    if value.startswith((".", "/", "~")):
        raise invalid_argument("base_model", f"directory {value} does not exist", reason="INVALID_BASE_MODEL")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(value, local_files_only=True))
    except Exception as exc:  # noqa: BLE001
        raise failed_precondition(
            "BASE_MODEL_UNAVAILABLE",
            f"base model {value!r} is not in the local Hugging Face cache ({type(exc).__name__}); "
            "tuneforge never downloads: fetch it with `huggingface-cli download` first or pass a "
            "local directory",
            base_model=value,
        ) from None


def pick_device(requested: str | None = "auto") -> str:
    import torch

    if requested and requested != "auto":
        return requested
    return "cuda:0" if torch.cuda.is_available() else "cpu"
