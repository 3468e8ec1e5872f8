"""The served voice model (issue 28): which trained voice model and checkpoint is live, with a
history a rollback goes back to, like adapter activations. Kept in one JSON file
(``tts/active_voice.json``) written atomically; the voice model's directory stays the truth
for what exists."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import failed_precondition, not_found
from tuneforge.services.tts.models import VoiceModelCatalog

STATE_FILE = "active_voice.json"
HISTORY = 50


class VoiceActivations:
    def __init__(self, data_root: Path | str, models: VoiceModelCatalog) -> None:
        self.path = Path(data_root) / "tts" / STATE_FILE
        self.models = models
        self._lock = threading.Lock()

    def current(self) -> dict[str, Any]:
        """``{"active": {model_name, checkpoint, time} | None, "history": [...newest first]}``."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"active": None, "history": []}

    def activate(self, model_name: str, checkpoint: str = "") -> dict[str, Any]:
        model = self.models.get(model_name)  # NOT_FOUND for an unknown model
        if not model.checkpoints:
            raise failed_precondition("VOICE_MODEL_HAS_NO_CHECKPOINT", f"voice model {model_name!r} has no checkpoint yet: train it first")
        checkpoint = checkpoint or model.checkpoints[-1]
        if checkpoint not in model.checkpoints:
            raise not_found("checkpoint", f"{model_name}/{checkpoint}")
        with self._lock:
            state = self.current()
            if state["active"]:
                state["history"] = [state["active"], *state["history"]][:HISTORY]
            state["active"] = {"model_name": model_name, "checkpoint": checkpoint, "time": time.time()}
            self._write(state)
        return state

    def rollback(self) -> dict[str, Any]:
        with self._lock:
            state = self.current()
            if not state["history"]:
                raise failed_precondition("NO_PREVIOUS_VOICE_MODEL", "no earlier voice model to roll back to")
            previous, *rest = state["history"]
            state = {"active": {**previous, "time": time.time()}, "history": rest}
            self._write(state)
        return state

    def _write(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.path)
