"""Checks of a config against the base model it will train (torch-free).

The model's facts come from :mod:`tuneforge.services.trainer.inspect_model`, run in a
subprocess by :func:`describe_model` so the service process never imports torch.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from tuneforge.runtime.errors import (
    FieldViolation,
    TuneforgeError,
    failed_precondition,
    invalid_argument,
    invalid_fields,
)
from tuneforge.services.trainer.config import TrainingConfig


def check_against_model(cfg: TrainingConfig, model_info: dict[str, Any]) -> list[FieldViolation]:
    """Violations of ``cfg`` for the model described by ``model_info`` (inspect_model output)."""
    violations: list[FieldViolation] = []
    linear = list(model_info.get("linear_modules") or [])
    paths = list(model_info.get("linear_module_paths") or [])
    if cfg.target_modules != "all-linear" and isinstance(cfg.target_modules, list):
        missing = [
            m for m in cfg.target_modules
            if m not in linear and m not in paths and not any(p.endswith("." + m) for p in paths)
        ]
        if missing:
            violations.append(FieldViolation(
                "config.target_modules",
                f"model {model_info.get('model_type') or ''} has no linear module named "
                f"{', '.join(missing)}; its linear modules are: {', '.join(linear)} "
                f"(or use 'all-linear')".replace("model  has", "model has"),
            ))
    hidden = model_info.get("hidden_size")
    if isinstance(hidden, int) and hidden > 0 and cfg.lora_rank > hidden and getattr(cfg, "method", "lora") != "full":
        violations.append(FieldViolation(
            "config.lora_rank", f"{cfg.lora_rank} is above the model's hidden size of {hidden}",
        ))
    context = model_info.get("max_position_embeddings")
    if isinstance(context, int) and context > 0 and cfg.max_seq_length > context:
        violations.append(FieldViolation(
            "config.max_seq_length",
            f"{cfg.max_seq_length} is beyond the model's context of {context} tokens",
        ))
    return violations


def validate_for_model(cfg: TrainingConfig, model_info: dict[str, Any]) -> TrainingConfig:
    violations = check_against_model(cfg, model_info)
    if violations:
        raise invalid_fields(violations, reason="INVALID_TRAINING_CONFIG",
                             message="training config does not fit the base model")
    return cfg


def inspect_command(model: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "tuneforge.services.trainer.inspect_model",
            "--model", model]


def describe_model(model: str, python: str | None = None, timeout: float = 300.0,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``inspect_model`` in a subprocess and return its JSON.

    Raises INVALID_ARGUMENT (field ``base_model``, reason BASE_MODEL_NOT_AVAILABLE) when the
    model cannot be read offline, FAILED_PRECONDITION (INSPECT_FAILED) on any other failure.
    Blocking: an async server uses :func:`describe_model_async`.
    """
    _check_name(model)
    try:
        proc = subprocess.run(inspect_command(model, python), check=False, capture_output=True, text=True,
                              timeout=timeout, env=_inspect_env(env))
    except subprocess.TimeoutExpired:
        raise failed_precondition("INSPECT_FAILED", f"inspecting {model!r} timed out") from None
    return _parse_output(model, proc.returncode, proc.stdout, proc.stderr)


async def describe_model_async(model: str, python: str | None = None, timeout: float = 300.0,
                               env: dict[str, str] | None = None) -> dict[str, Any]:
    """:func:`describe_model` as an asyncio subprocess (killed on timeout or cancellation)."""
    _check_name(model)
    proc = await asyncio.create_subprocess_exec(
        *inspect_command(model, python), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_inspect_env(env))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        raise failed_precondition("INSPECT_FAILED", f"inspecting {model!r} timed out") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _parse_output(model, proc.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"))


def _check_name(model: str) -> None:
    if not model or not model.strip():
        raise invalid_argument("base_model", "must not be empty", reason="BASE_MODEL_NOT_AVAILABLE")


def _inspect_env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "CUDA_VISIBLE_DEVICES": "", **(env or {})}


def _parse_output(model: str, returncode: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    last = next((line for line in reversed(stdout.splitlines()) if line.startswith("{")), "")
    try:
        data = json.loads(last) if last else {}
    except ValueError:
        data = {}
    if "error" in data:
        err = data["error"]
        raise invalid_argument("base_model", err.get("message", "not available"),
                               reason=err.get("reason", "BASE_MODEL_NOT_AVAILABLE"))
    if returncode != 0 or not data:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        raise failed_precondition("INSPECT_FAILED", f"inspecting {model!r} failed: {tail}")
    return data


__all__ = [
    "TuneforgeError",
    "check_against_model",
    "describe_model",
    "describe_model_async",
    "inspect_command",
    "validate_for_model",
]
