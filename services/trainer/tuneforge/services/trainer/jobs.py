"""Building training / merge job specs from a request (transport-free, torch-free).

The servicer resolves the dataset (through the dataset service) and the config (presets),
then calls :func:`train_spec` for the worker spec that ``JobEngine.create`` stores; the engine
adds ``job_id``, ``job_dir`` and ``data_root``. Resume targets are checkpoints under the data
root's ``adapters/`` tree, named by path, by a job (its last checkpoint) or ``JOB/checkpoint-N``
(see :func:`resolve_resume`), and only complete ones (:func:`is_complete_checkpoint`): a save
cut short by a full disk or a kill leaves a ``checkpoint-N/`` that is never reported, resumed
from or kept (:func:`remove_incomplete_checkpoints`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from tuneforge.runtime.errors import already_exists, failed_precondition, invalid_argument, not_found
from tuneforge.runtime.names import confined, validate_name
from tuneforge.services.trainer.config import TrainingConfig

_CKPT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json")


def adapter_dir(data_root: Path, adapter_name: str) -> Path:
    return confined(Path(data_root), "adapters", validate_name(adapter_name, "adapter_name"))


def train_spec(data_root: Path, *, base_model: str, train_file: str | Path, config: TrainingConfig,
               adapter_name: str, dataset_name: str, validation_file: str | Path | None = None,
               resume_from_checkpoint: str | Path | None = None,
               max_steps: int | None = None) -> dict[str, Any]:
    """The worker spec. ALREADY_EXISTS when ``adapters/<name>/final`` is there already.

    Resuming into the same adapter name (a cancelled job) is fine: its checkpoints stay.
    """
    out = adapter_dir(data_root, adapter_name)
    if (out / "final").exists():
        raise already_exists("adapter", adapter_name)
    if not base_model or not base_model.strip():
        raise invalid_argument("base_model", "must not be empty")
    spec: dict[str, Any] = {
        "base_model": base_model.strip(),
        "train_file": str(train_file),
        "validation_file": str(validation_file) if validation_file else None,
        "config": config.to_dict(),
        "output_dir": str(out),
        "adapter_name": adapter_name,
        "dataset_name": dataset_name,
        "resume_from_checkpoint": str(resume_from_checkpoint) if resume_from_checkpoint else None,
    }
    if max_steps:
        spec["max_steps"] = int(max_steps)
    return spec


def merge_spec(adapter_path: Path, output_dir: Path, base_model: str | None = None,
               dtype: str = "auto") -> dict[str, Any]:
    return {"adapter_dir": str(adapter_path), "output_dir": str(output_dir),
            "base_model": base_model or None, "dtype": dtype}


def is_complete_checkpoint(path: Path) -> bool:
    """Whether a checkpoint holds what a resume reads: the weights and a ``trainer_state.json``
    that parses. Trainer writes the state after the weights, optimizer and RNG, so a save cut
    short lacks it, or holds it half-written."""
    try:
        state = json.loads((Path(path) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and "global_step" in state and any((Path(path) / w).is_file() for w in _WEIGHTS)


def _checkpoint_dirs(output_dir: Path) -> list[tuple[int, Path]]:
    root = Path(output_dir) / "checkpoints"
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _CKPT.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
    return sorted(found)


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints of one adapter directory, by step."""
    return [p for _, p in _checkpoint_dirs(output_dir) if is_complete_checkpoint(p)]


def remove_incomplete_checkpoints(output_dir: Path) -> list[Path]:
    """Delete the ``checkpoints/checkpoint-N`` of one adapter directory that a save left
    incomplete (a full disk, a kill mid-save); the ones removed."""
    gone = [p for _, p in _checkpoint_dirs(output_dir) if not is_complete_checkpoint(p)]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone


def resolve_resume(data_root: Path, value: str,
                   job_checkpoints: Callable[[str], list[str]] | None = None) -> Path:
    """A checkpoint directory from ``value``: a path, ``JOB_ID`` or ``JOB_ID/checkpoint-N``.

    ``job_checkpoints(job_id)`` returns that job's checkpoint paths in order (the engine's
    record; NOT_FOUND for an unknown job). The result must be a complete checkpoint inside
    ``<data_root>/adapters``: INVALID_ARGUMENT (field ``resume_from``, reason
    RESUME_CHECKPOINT_INVALID) otherwise.
    """
    value = (value or "").strip()
    if not value:
        raise invalid_argument("resume_from", "must not be empty", reason="RESUME_CHECKPOINT_INVALID")
    adapters = confined(Path(data_root), "adapters")
    head, _, tail = value.partition("/")
    if job_checkpoints is not None and head.startswith("job-") and not Path(value).is_absolute():
        points = [Path(p) for p in job_checkpoints(head)]
        if tail:
            points = [p for p in points if p.name == tail]
        if not points:
            raise not_found("checkpoint", value)
        path = points[-1]
    else:
        path = Path(value) if Path(value).is_absolute() else adapters / value
    resolved = path.resolve()
    if adapters.resolve() not in resolved.parents:
        raise invalid_argument("resume_from", f"{value} is not under the adapters directory",
                               reason="RESUME_CHECKPOINT_INVALID")
    if not is_complete_checkpoint(resolved):
        raise invalid_argument("resume_from", f"{value} is not a complete training checkpoint",
                               reason="RESUME_CHECKPOINT_INVALID")
    return resolved


# ---- resume: the job it continues, and the plan it must match (issue 27) --------------------
# Keys that may change between a run and its resume: when to save/evaluate/stop, how to
# report, which kernels. Any other config key changes what the remaining steps train on or
# with (data order, schedule, optimizer, adapter shape) and is a different plan.
RESUME_FREE_KEYS = frozenset({"save_steps", "eval_steps", "save_total_limit", "early_stopping_patience",
                              "best_checkpoint_metric", "report_to", "attn_implementation",
                              "use_liger_kernel"})


def checkpoint_meta(checkpoint: Path) -> dict[str, Any]:
    """What the worker wrote beside a checkpoint (``training_config.json``): config, base model,
    dataset (+ sha256) and job id; {} for a checkpoint without it."""
    try:
        data = json.loads((Path(checkpoint) / "training_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resumed_job(value: str, checkpoint: Path) -> str:
    """The job a resume continues: the one named in ``resume_from`` (``JOB_ID[/checkpoint-N]``),
    else the job recorded beside the checkpoint; "" when neither says."""
    head = (value or "").strip().partition("/")[0]
    if head.startswith("job-") and not Path(value.strip()).is_absolute():
        return head
    return str(checkpoint_meta(checkpoint).get("job_id") or "")


def check_resume_plan(checkpoint: Path, cfg: TrainingConfig, base_model: str, dataset: str,
                      dataset_sha256: str = "") -> None:
    """FAILED_PRECONDITION ``CHECKPOINT_PLAN_MISMATCH`` naming what differs when a resume would
    continue a checkpoint with another plan (config, base model, dataset or its content): the
    optimizer state and step count only mean something for the plan that made them. To train
    an adapter further on other data or settings, start a new job instead (continue training)."""
    meta = checkpoint_meta(checkpoint)
    if not meta:
        return  # a checkpoint from before the config was written beside it: nothing to compare
    differs: list[str] = []
    saved = meta.get("config") or {}
    mine = cfg.to_dict()
    for key in sorted(set(saved) & set(mine) - RESUME_FREE_KEYS):
        if saved[key] != mine[key]:
            differs.append(f"config.{key} {saved[key]!r} → {mine[key]!r}")
    if meta.get("base_model") and not _same_model(str(meta["base_model"]), base_model):
        differs.append(f"base_model {meta['base_model']!r} → {base_model!r}")
    if meta.get("dataset") and meta["dataset"] != dataset:
        differs.append(f"dataset {meta['dataset']!r} → {dataset!r}")
    elif meta.get("dataset_sha256") and dataset_sha256 and meta["dataset_sha256"] != dataset_sha256:
        differs.append(f"dataset {dataset!r} content changed (sha256 {str(meta['dataset_sha256'])[:12]}… → "
                       f"{dataset_sha256[:12]}…)")
    if differs:
        raise failed_precondition(
            "CHECKPOINT_PLAN_MISMATCH",
            f"cannot resume {checkpoint}: it was trained with another plan ({'; '.join(differs)}); "
            "resume with the same dataset and config, or start a new job to train further",
            checkpoint=str(checkpoint), differs=", ".join(d.split(" ", 1)[0] for d in differs))


def _same_model(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())


# ---- continue training: a new plan on top of an adapter (issue 27) ---------------------------
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def resolve_continue(data_root: Path, value: str,
                     job_checkpoints: Callable[[str], list[str]] | None = None,
                     job_adapter: Callable[[str], str] | None = None) -> Path:
    """The adapter directory a continue-training job starts from: ``JOB_ID`` (its final adapter,
    else its last checkpoint), ``JOB_ID/checkpoint-N``, or a path under ``<data_root>/adapters``
    holding ``adapter_config.json`` and the adapter weights. INVALID_ARGUMENT (field
    ``continue_from``, reason CONTINUE_ADAPTER_INVALID) otherwise."""
    value = (value or "").strip()
    adapters = confined(Path(data_root), "adapters")
    head, _, tail = value.partition("/")
    if head.startswith("job-") and not Path(value).is_absolute() and job_checkpoints is not None:
        final = job_adapter(head) if job_adapter is not None and not tail else ""
        points = [Path(p) for p in job_checkpoints(head)]
        if tail:
            points = [p for p in points if p.name == tail]
        if not final and not points:
            raise not_found("checkpoint", value)
        path = Path(final) if final else points[-1]
    else:
        path = Path(value) if Path(value).is_absolute() else adapters / value
    resolved = path.resolve()
    if adapters.resolve() not in resolved.parents:
        raise invalid_argument("continue_from", f"{value} is not under the adapters directory",
                               reason="CONTINUE_ADAPTER_INVALID")
    if not (resolved / "adapter_config.json").is_file() or \
            not any((resolved / w).is_file() for w in _ADAPTER_WEIGHTS):
        raise invalid_argument("continue_from", f"{value} is not an adapter (adapter_config.json and "
                               "adapter weights); a whole model (method=full) cannot be continued",
                               reason="CONTINUE_ADAPTER_INVALID")
    return resolved


def check_continue_plan(adapter: Path, cfg: TrainingConfig, base_model: str) -> None:
    """FAILED_PRECONDITION ``CHECKPOINT_PLAN_MISMATCH`` when the adapter cannot start this plan:
    another base model, another LoRA rank / target modules / DoRA, or method=full."""
    try:
        saved = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    differs: list[str] = []
    if cfg.method == "full":
        differs.append("config.method 'full' trains every weight, not an adapter")
    base = str(saved.get("base_model_name_or_path") or "")
    if base and not _same_model(base, base_model):
        differs.append(f"base_model {base!r} → {base_model!r}")
    if saved.get("r") is not None and int(saved["r"]) != cfg.lora_rank:
        differs.append(f"config.lora_rank {saved['r']} → {cfg.lora_rank}")
    if bool(saved.get("use_dora")) != cfg.use_dora:
        differs.append(f"config.use_dora {bool(saved.get('use_dora'))} → {cfg.use_dora}")
    wanted = cfg.target_modules
    have = saved.get("target_modules")
    if wanted != "all-linear" and have is not None and have != "all-linear" \
            and sorted(have) != sorted(wanted):
        differs.append(f"config.target_modules {sorted(have)} → {sorted(wanted)}")
    if differs:
        raise failed_precondition(
            "CHECKPOINT_PLAN_MISMATCH",
            f"cannot continue training from {adapter}: {'; '.join(differs)}",
            adapter=str(adapter), differs=", ".join(d.split(" ", 1)[0] for d in differs))
