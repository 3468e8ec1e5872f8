"""The base models a server can train from without a download (issue 28): the directories
under ``models_dir`` and the hub ids in the local Hugging Face cache. No torch: config.json and
file sizes only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

WEIGHTS = (".safetensors", ".bin", ".pt", ".gguf")
NOT_SET_HINT = ("models_dir is not set on the server: put model folders in one directory and start "
                "the services with TUNEFORGE_MODELS_DIR=/that/dir (or models_dir in the config); "
                "a hub id works when it is already in the server's Hugging Face cache")
SET_HINT = ("a model not listed here: copy its folder (with config.json) into {dir} on the server, "
            "or download a hub id into the server's cache (`huggingface-cli download ID`); the trainer never downloads")


def _describe(path: Path) -> dict[str, Any] | None:
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    arch = str(meta.get("model_type") or "")
    archs = " ".join(meta.get("architectures") or [])
    kind = "tts" if "tts" in arch.lower() or "tts" in archs.lower() else (
        "llm" if "CausalLM" in archs or meta.get("vocab_size") else "other")
    size = 0
    for root, _dirs, files in os.walk(path, followlinks=True):
        size += sum(os.path.getsize(os.path.join(root, f)) for f in files if f.endswith(WEIGHTS))
    return {"path": str(path), "architecture": arch, "size_bytes": size, "kind": kind}


def hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def list_base_models(models_dir: str) -> tuple[list[dict[str, Any]], str]:
    """(models, hint): each ``{name, source, path, architecture, size_bytes, kind}``."""
    models: list[dict[str, Any]] = []
    if models_dir:
        root = Path(models_dir).expanduser()
        for child in sorted(root.iterdir()) if root.is_dir() else []:
            if child.is_dir() and not child.name.startswith(".") and (info := _describe(child)):
                models.append({"name": child.name, "source": "models_dir", **info})
    cache = hub_cache()
    for repo in sorted(cache.glob("models--*")) if cache.is_dir() else []:
        snapshots = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime)
        if snapshots and (info := _describe(snapshots[-1])):
            models.append({"name": repo.name.removeprefix("models--").replace("--", "/"), "source": "hub_cache", **info})
    hint = SET_HINT.format(dir=models_dir) if models_dir else NOT_SET_HINT
    return models, hint
