"""The stored default training config (``tuneforge train config set/show/reset``).

Only the keys someone set are stored (typed values, one JSON object in the
``trainer_settings`` table, written in one statement, so an update is atomic); the effective
default is the built-in :class:`TrainingConfig` with those keys applied. A job resolves
built-in defaults → stored keys → preset → request overrides (:func:`presets.resolve`).
Transport-free.
"""

from __future__ import annotations

import json
from typing import Any

from tuneforge.runtime.errors import FieldViolation, TuneforgeError, invalid_fields
from tuneforge.runtime.store import Store
from tuneforge.services.trainer.config import TrainingConfig, apply_overrides, check

MIGRATIONS = [
    ("trainer_0001_settings", "CREATE TABLE trainer_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"),
]
KEY = "default_config"


class StoredConfig:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(MIGRATIONS)

    def overrides(self) -> dict[str, Any]:
        """The keys set with ``config set`` (typed), {} when none."""
        row = self.store.query_one("SELECT value FROM trainer_settings WHERE key = ?", (KEY,))
        return json.loads(row["value"]) if row else {}

    def config(self) -> TrainingConfig:
        return apply_overrides(TrainingConfig(), self.overrides())

    def update(self, values: dict[str, str], reset: bool = False) -> TrainingConfig:
        """Apply ``values`` (typed, or text as in a config file) on top of the stored keys (or of the built-in
        defaults with ``reset``); INVALID_ARGUMENT with violations ``config.<key>``."""
        base = {} if reset else self.overrides()
        try:
            cfg = apply_overrides(apply_overrides(TrainingConfig(), base), values)
        except TuneforgeError as exc:
            raise _renamed(exc.violations) from None
        violations = check(cfg)
        if violations:
            raise _renamed(violations)
        typed = cfg.to_dict()
        stored = {**base, **{k.strip().replace("-", "_"): None for k in values}}
        stored = {k: typed[k] for k in stored}
        self.store.execute(
            "INSERT INTO trainer_settings(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (KEY, json.dumps(stored)),
        )
        return cfg


def _renamed(violations: list[FieldViolation]) -> TuneforgeError:
    return invalid_fields(
        [FieldViolation("config." + v.field.removeprefix("config."), v.description) for v in violations],
        reason="INVALID_TRAINING_CONFIG", message="invalid training config",
    )
