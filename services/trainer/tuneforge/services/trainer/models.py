"""Which base model a request means, found offline, and what it looks like.

``locate_model`` turns what a user typed (a local directory, or a hub id already in the local
Hugging Face cache) into what ``from_pretrained`` gets; the trainer never downloads.
``ModelInfo`` describes a model (``inspect_model`` in a subprocess: the service never imports
torch), cached per interpreter, model and config.json mtime, shared by servers in a process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, invalid_argument
from tuneforge.runtime.paths import confine, is_hub_id
from tuneforge.services.trainer.model_check import describe_model_async

INSPECT_TIMEOUT_SECONDS = 300.0
# (python, model, config.json mtime) -> inspect_model output; shared by servers in a process.
_MODEL_INFO: dict[tuple[str, str, float], dict[str, Any]] = {}


def model_not_available(raw: str, why: str) -> TuneforgeError:
    message = (f"base model {raw!r} is not available offline: {why}. Give a local model directory, "
               "or a hub id already in the local Hugging Face cache (download it beforehand with "
               "`huggingface-cli download ID`); the trainer never downloads")
    return TuneforgeError(Code.FAILED_PRECONDITION, "MODEL_NOT_AVAILABLE", message,
                          [FieldViolation("base_model", why)])


def locate_model(raw: str, models_dir: str = "", roots: list[Path] | None = None) -> tuple[str, Path | None]:
    """(what from_pretrained gets, its config.json) for a local model directory or a cached
    hub id. With ``roots`` (the data root, models_dir, allowed_paths) a directory must lie
    under one of them; anything else reads as "not available" with one message, whether or
    not it exists, so the API cannot probe the server's disk."""
    text = raw.strip()
    if not text or "\x00" in text:
        raise invalid_argument("base_model", "required: a hub id or a local model directory")
    if Path(text).is_absolute():
        candidates = [Path(text)]
    else:
        candidates = [p for p in (models_dir and Path(models_dir).expanduser() / text, roots and roots[0] / text) if p]
    for path in candidates:
        if roots is not None:
            try:
                path = confine(str(path), "base_model", roots)
            except TuneforgeError:
                continue
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise model_not_available(raw, f"{path} has no config.json")
            return str(path.resolve()), path / "config.json"
    if not is_hub_id(text):
        raise model_not_available(raw, f"no model directory {text!r} under the data root, models_dir or allowed_paths")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(text, "config.json")
    except Exception:  # noqa: BLE001 - a broken cache is "not cached"
        cached = None
    if not isinstance(cached, str):
        raise model_not_available(raw, f"{text} is not in the local Hugging Face cache")
    return text, Path(cached)


async def model_info(model: str, config_json: Path | None, python: str) -> dict[str, Any]:
    """``inspect_model``'s description of ``model`` (cached until its config.json changes)."""
    try:
        mtime = config_json.stat().st_mtime if config_json else 0.0
    except OSError:
        mtime = 0.0
    key = (python, model, mtime)
    if key not in _MODEL_INFO:
        env = {"HF_HOME": os.environ["HF_HOME"]} if "HF_HOME" in os.environ else None
        _MODEL_INFO[key] = await describe_model_async(model, python, INSPECT_TIMEOUT_SECONDS, env)
    return _MODEL_INFO[key]
