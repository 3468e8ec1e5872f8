"""Qwen3-TTS fine-tuning configuration: defaults, overrides and validation (no torch).

Defaults follow the upstream recipe: batch size 2, gradient accumulation 4, learning rate
2e-5, 3 epochs. ``speaker_name`` is stored lower-cased, because upstream inference looks
speakers up with ``speaker.lower()``; a name with capitals would otherwise never be found.

The service keeps one stored config (:class:`TrainingConfigStore`, a row of JSON in the
``tts_settings`` table of ``state.db``, replaced in one transaction); ``StartTraining``
overrides merge over it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any

from tuneforge.runtime.errors import FieldViolation, invalid_fields
from tuneforge.runtime.store import Store

MIGRATIONS = [
    (
        "tts_0002_settings",
        """
        CREATE TABLE tts_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            update_time TEXT NOT NULL
        );
        """,
    ),
]

DEFAULT_BASE_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"
_SPEAKER_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class TtsTrainingConfig:
    base_model: str = DEFAULT_BASE_MODEL
    batch_size: int = 2
    gradient_accumulation_steps: int = 4
    learning_rate: float = 2e-5
    num_epochs: int = 3
    speaker_name: str = "speaker"
    seed: int = 42
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    sub_talker_loss_weight: float = 0.3

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def merged(self, overrides: dict[str, Any] | None) -> TtsTrainingConfig:
        """A copy with the given fields replaced (``None`` / missing keys keep the value)."""
        if not overrides:
            return self
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise invalid_fields([FieldViolation(k, "unknown config field") for k in unknown])
        changes = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(changes.get("speaker_name"), str):
            changes["speaker_name"] = changes["speaker_name"].strip().lower()
        return replace(self, **changes).validated()

    def validated(self) -> TtsTrainingConfig:
        """Return self or raise INVALID_ARGUMENT listing every bad field."""
        bad: list[FieldViolation] = []
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            bad.append(FieldViolation("base_model", "must not be empty"))
        for name in ("batch_size", "gradient_accumulation_steps", "num_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
                bad.append(FieldViolation(name, "must be an integer between 1 and 10000"))
        if not isinstance(self.learning_rate, (int, float)) or not 0 < self.learning_rate < 1:
            bad.append(FieldViolation("learning_rate", "must be > 0 and < 1"))
        if not isinstance(self.weight_decay, (int, float)) or not 0 <= self.weight_decay < 1:
            bad.append(FieldViolation("weight_decay", "must be >= 0 and < 1"))
        if not isinstance(self.max_grad_norm, (int, float)) or self.max_grad_norm <= 0:
            bad.append(FieldViolation("max_grad_norm", "must be > 0"))
        if not isinstance(self.sub_talker_loss_weight, (int, float)) or self.sub_talker_loss_weight < 0:
            bad.append(FieldViolation("sub_talker_loss_weight", "must be >= 0"))
        if not isinstance(self.speaker_name, str) or not _SPEAKER_RE.match(self.speaker_name):
            bad.append(FieldViolation(
                "speaker_name",
                "1-64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ))  # fmt: skip
        if bad:
            raise invalid_fields(bad, message="invalid TTS training config")
        return self


class TrainingConfigStore:
    """The stored training config (defaults until first updated). Values that no longer
    validate, or fields this version does not know, are dropped on load, never fatal."""

    KEY = "training_config"

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(MIGRATIONS)

    def get(self) -> TtsTrainingConfig:
        row = self.store.query_one("SELECT value FROM tts_settings WHERE key = ?", (self.KEY,))
        if row is None:
            return TtsTrainingConfig()
        try:
            data = json.loads(row["value"])
        except json.JSONDecodeError:
            return TtsTrainingConfig()
        known = {f.name for f in fields(TtsTrainingConfig)}
        config = TtsTrainingConfig()
        for key, value in data.items() if isinstance(data, dict) else ():
            if key in known:
                try:
                    config = config.merged({key: value})
                except Exception:  # noqa: BLE001, S112 - a stale value falls back to the default
                    continue
        return config

    def update(self, overrides: dict[str, Any]) -> TtsTrainingConfig:
        """Merge ``overrides`` into the stored config, validate, store; return the result."""
        config = self.get().merged(overrides).validated()
        stamp = datetime.now(timezone.utc).isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO tts_settings (key, value, update_time) VALUES (?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value, update_time = excluded.update_time",
                (self.KEY, json.dumps(config.as_dict()), stamp),
            )
        return config
