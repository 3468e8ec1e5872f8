"""Presets (quick / standard / thorough) and ``resolve(preset, overrides)``.

A preset plus a few overrides is the normal way to start a job. All presets train with batch
size 1 and gradient accumulation (memory-safe on a single consumer GPU), LoRA dropout 0.05 and
learning rate 2e-4; they differ in capacity, effective batch, epochs and context length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.trainer.config import TrainingConfig, apply_overrides, validate

DEFAULT_PRESET = "standard"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    values: dict[str, Any]

    def config(self) -> TrainingConfig:
        return apply_overrides(TrainingConfig(), self.values)


def _preset(name: str, description: str, rank: int, alpha: int, accum: int, epochs: int,
            max_len: int) -> Preset:
    return Preset(name, description, {
        "lora_rank": rank, "lora_alpha": alpha, "gradient_accumulation_steps": accum,
        "epochs": epochs, "max_seq_length": max_len, "batch_size": 1,
        "lora_dropout": 0.05, "learning_rate": 2e-4,
    })


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("quick", "Fast first try: small adapter, one epoch, short context.",
                4, 8, 32, 1, 512),
        _preset("standard", "Balanced default for most chat datasets.", 8, 16, 64, 1, 768),
        _preset("thorough", "More capacity and two epochs; for larger, cleaner datasets.",
                16, 32, 128, 2, 1024),
    )
}


def get_preset(name: str | None) -> Preset:
    key = (name or DEFAULT_PRESET).strip().lower()
    if key not in PRESETS:
        raise invalid_argument(
            "preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}",
            reason="UNKNOWN_PRESET")
    return PRESETS[key]


def resolve(preset: str | None, overrides: dict[str, Any] | None = None,
            base: dict[str, Any] | None = None) -> TrainingConfig:
    """Built-in defaults, then ``base`` (the stored defaults from ``train config set``), then
    the preset's values, then ``overrides``; validated.

    Raises INVALID_ARGUMENT (reason UNKNOWN_PRESET or INVALID_TRAINING_CONFIG) with field
    violations named ``config.<key>``.
    """
    return validate(combine(preset, overrides, base))


def combine(preset: str | None, overrides: dict[str, Any] | None = None,
            base: dict[str, Any] | None = None) -> TrainingConfig:
    """:func:`resolve` without the range checks (for callers that gather every violation)."""
    chosen = get_preset(preset)
    cfg = apply_overrides(TrainingConfig(), base or {})
    cfg = apply_overrides(cfg, chosen.values)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    return cfg
