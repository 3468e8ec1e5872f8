"""Trained voice models: what is on disk under ``tts/models/<name>/`` (no SQLite, no torch).

The directory is the truth: a model is a directory with ``tuneforge-voice.json`` (written by
the training worker when it starts) and its checkpoints ``checkpoint-epoch-N/`` (complete
epochs) and ``checkpoint-stopped-step-S/`` (saved on a stop). Directories starting with
``.`` are checkpoints being written and are ignored.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tuneforge.runtime.errors import invalid_argument, not_found
from tuneforge.runtime.names import confined, validate_name

MODEL_META_FILE = "tuneforge-voice.json"
_EPOCH_RE = re.compile(r"^checkpoint-epoch-(\d+)$")
_STOPPED_RE = re.compile(r"^checkpoint-stopped-step-(\d+)$")


@dataclass(frozen=True)
class VoiceModel:
    name: str
    path: Path
    speaker_name: str
    base_model: str
    checkpoints: list[str] = field(default_factory=list)  # oldest first
    epochs: int = 0  # complete epochs saved
    size_bytes: int = 0
    create_time: str = ""


def _checkpoint_key(name: str) -> tuple[int, int]:
    if m := _EPOCH_RE.match(name):
        return (int(m.group(1)), 0)
    if m := _STOPPED_RE.match(name):
        return (10**9, int(m.group(1)))  # after the epochs, in step order
    return (-1, 0)


class VoiceModelCatalog:
    def __init__(self, data_root: Path | str) -> None:
        self.root = Path(data_root) / "tts" / "models"
        self.root.mkdir(parents=True, exist_ok=True)

    def exists(self, name: str) -> bool:
        return confined(self.root, validate_name(name, "model_name")).exists()

    def get(self, name: str) -> VoiceModel:
        path = confined(self.root, validate_name(name, "model_name"))
        if not (path / MODEL_META_FILE).is_file():
            raise not_found("voice_model", name)
        meta = json.loads((path / MODEL_META_FILE).read_text(encoding="utf-8"))
        ckpts = sorted(
            (p.name for p in path.iterdir() if p.is_dir() and _checkpoint_key(p.name)[0] >= 0),
            key=_checkpoint_key,
        )
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        epochs = max((int(m.group(1)) for c in ckpts if (m := _EPOCH_RE.match(c))), default=0)
        created = meta.get("create_time") or datetime.fromtimestamp(
            path.stat().st_mtime, timezone.utc
        ).isoformat()
        return VoiceModel(name=name, path=path, speaker_name=meta.get("speaker_name", ""),
                          base_model=meta.get("base_model", ""), checkpoints=ckpts, epochs=epochs,
                          size_bytes=size, create_time=created)  # fmt: skip

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[VoiceModel], int]:
        if offset < 0 or limit < 0:
            raise invalid_argument("page_size", "must not be negative")
        names = sorted(p.name for p in self.root.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and (p / MODEL_META_FILE).is_file())  # fmt: skip
        return [self.get(n) for n in names[offset : offset + limit]], len(names)

    def checkpoint_path(self, name: str, checkpoint: str = "") -> Path:
        """The named checkpoint, or the latest one. NOT_FOUND if there is none."""
        model = self.get(name)
        if not checkpoint:
            if not model.checkpoints:
                raise not_found("checkpoint", f"{name}/(latest)")
            checkpoint = model.checkpoints[-1]
        validate_name(checkpoint, "checkpoint")
        if checkpoint not in model.checkpoints:
            raise not_found("checkpoint", f"{name}/{checkpoint}")
        return confined(model.path, checkpoint)

    def delete(self, name: str) -> None:
        model = self.get(name)
        shutil.rmtree(model.path)
