"""Pre-flight check of a training job: will it fit, and if not, what to change.

Runs in the service before a job is queued (``CreateTrainingJob``) and for ``tuneforge train
plan`` (which only prints). It puts together what :mod:`memory_estimate` needs:

* the base model's ``config.json`` — a local directory or a hub id already in the local HF
  cache (never downloaded);
* the sequence length that will really be trained: the longest record after truncation
  (``min(max_seq_length, longest record)`` from the dataset's token stats), or
  ``max_seq_length`` itself when packing fills every row;
* the memory available where the worker runs: the selected GPU's total memory minus what is
  in use (``nvidia-smi``; with ``vllm_share_gpu`` vLLM's share counts as free, since it sleeps
  during the job), or the machine's available RAM for a CPU run.

A job whose estimate exceeds the available memory is refused with RESOURCE_EXHAUSTED
(reason INSUFFICIENT_MEMORY) and the advice list (``--set quantization=nf4``, a shorter
``max_seq_length``, …). method=full above ``full_max_parameters`` is refused with
FAILED_PRECONDITION (FULL_FINETUNE_TOO_LARGE). Torch-free.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument, resource_exhausted
from tuneforge.services.trainer.config import TrainingConfig
from tuneforge.services.trainer.memory_estimate import (
    MemoryEstimate,
    ModelShape,
    PlanSettings,
    advice,
    estimate,
    fmt_bytes,
)

HEADROOM = 0.9  # plan to use at most 90% of what is free: allocator fragmentation, spikes


@dataclass(frozen=True)
class Device:
    kind: str  # cuda | cpu
    name: str
    total_bytes: int
    free_bytes: int


@dataclass
class Plan:
    shape: ModelShape
    settings: PlanSettings
    estimate: MemoryEstimate
    device: Device
    fits: bool
    advice: list[str] = field(default_factory=list)
    seq_len_source: str = ""

    def summary(self) -> dict[str, Any]:
        return {"parameters": self.shape.parameters(),
                "trainable_parameters": self.estimate.trainable_parameters,
                "seq_len": self.settings.seq_len, "seq_len_source": self.seq_len_source,
                "memory": self.estimate.parts(), "device": self.device.__dict__,
                "available_bytes": int(self.device.free_bytes * HEADROOM),
                "fits": self.fits, "advice": self.advice}


def model_config(base_model: str) -> dict[str, Any]:
    """``config.json`` of a local model directory or a cached hub model; never downloads."""
    path = Path(base_model).expanduser()
    if path.is_dir():
        found = path / "config.json"
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(base_model, "config.json")
        except Exception:  # noqa: BLE001 - not a repo id: treated as not found
            cached = None
        found = Path(cached) if isinstance(cached, str) else path / "config.json"
    if not found.is_file():
        raise invalid_argument("base_model", f"{base_model!r} is neither a local model directory "
                               f"nor in the Hugging Face cache", reason="BASE_MODEL_NOT_AVAILABLE")
    return json.loads(found.read_text(encoding="utf-8"))


def gpu_device(index: int = 0, share_with_vllm: bool = False) -> Device | None:
    """The GPU a job would use, from nvidia-smi; None when there is none."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, f"--id={index}", "--query-gpu=name,memory.total,memory.used",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        name, total, used = [part.strip() for part in out.splitlines()[0].split(",")]
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None
    total_b, used_b = int(float(total)) * 2**20, int(float(used)) * 2**20
    return Device("cuda", name, total_b, total_b if share_with_vllm else total_b - used_b)


def cpu_device() -> Device:
    total = free = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key == "MemTotal":
                total = int(rest.split()[0]) * 1024
            elif key == "MemAvailable":
                free = int(rest.split()[0]) * 1024
    return Device("cpu", "cpu", total, free)


def settings_for(cfg: TrainingConfig, device: Device, longest_record: int | None
                 ) -> tuple[PlanSettings, str]:
    """PlanSettings for a resolved config; the trained length and where it came from."""
    if cfg.packing:
        seq, source = cfg.max_seq_length, "max_seq_length (packing fills every row)"
    elif longest_record:
        seq = min(cfg.max_seq_length, longest_record)
        source = ("longest record" if seq == longest_record
                  else "max_seq_length (the longest record is truncated to it)")
    else:
        seq, source = cfg.max_seq_length, "max_seq_length (no dataset token stats)"
    cuda = device.kind == "cuda"
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
    if precision == "fp16" and not cuda:
        precision = "fp32"
    attn = cfg.attn_implementation if cfg.attn_implementation != "auto" else "sdpa"
    return PlanSettings(method=cfg.method, quantization=cfg.quantization, precision=precision,
                        lora_rank=cfg.lora_rank, target_modules=cfg.target_modules,
                        lora_dropout=cfg.lora_dropout, use_dora=cfg.use_dora,
                        batch_size=cfg.batch_size, seq_len=seq,
                        gradient_checkpointing=cfg.gradient_checkpointing,
                        attn_implementation=attn, device=device.kind), source


def make_plan(base_model: str, cfg: TrainingConfig, device: Device,
              longest_record: int | None = None) -> Plan:
    try:
        shape = ModelShape.from_config(model_config(base_model))
    except ValueError as exc:
        raise invalid_argument("base_model", str(exc), reason="BASE_MODEL_UNSUPPORTED") from None
    settings, source = settings_for(cfg, device, longest_record)
    est = estimate(shape, settings)
    available = int(device.free_bytes * HEADROOM)
    fits = est.total <= available
    return Plan(shape, settings, est, device, fits,
                [] if fits else advice(shape, settings, available), source)


def check(plan: Plan, full_max_parameters: int = 0) -> None:
    """Refuse a job that cannot run: too large for full fine-tuning, or does not fit."""
    params = plan.shape.parameters()
    if plan.settings.method == "full" and full_max_parameters and params > full_max_parameters:
        raise failed_precondition(
            "FULL_FINETUNE_TOO_LARGE",
            f"full fine-tuning of a {params:,}-parameter model is refused above "
            f"full_max_parameters = {full_max_parameters:,}: train an adapter "
            f"(--set method=lora, or quantization=nf4) or raise full_max_parameters")
    if not plan.fits:
        where = f"{plan.device.name} ({plan.device.kind})"
        raise resource_exhausted(
            "INSUFFICIENT_MEMORY",
            f"the job needs about {fmt_bytes(plan.estimate.total)} at its peak but "
            f"{where} has {fmt_bytes(plan.device.free_bytes * HEADROOM)} to give; change: "
            + "; ".join(plan.advice),
            needed_bytes=str(plan.estimate.total),
            available_bytes=str(int(plan.device.free_bytes * HEADROOM)))


def device_for(gpu_devices: str, share_with_vllm: bool = False) -> Device:
    """The device a training worker would get: the first of ``gpu_devices`` (its
    CUDA_VISIBLE_DEVICES), any GPU when unset, else the CPU."""
    first = (gpu_devices or "").split(",")[0].strip()
    index = int(first) if first.isdigit() else 0
    return gpu_device(index, share_with_vllm) or cpu_device()


def check_data_kind(method: str, dataset_format: str) -> None:
    """Each method gets the data it trains on, said before queueing: preference pairs for
    dpo/orpo, answers labelled true/false for kto, chats for lora/full."""
    kto = dataset_format == "kto"
    preference = (dataset_format or "").startswith("preference")
    if kto and method != "kto":  # as chats or pairs, the answers labelled false would be learnt
        raise invalid_argument(
            "dataset", f"this dataset holds KTO examples (single answers labelled true/false); "
            f"method={method} cannot use their labels and would train on the rejected answers: "
            f"train it with --set method=kto, or import paired data (chosen/rejected) for "
            f"dpo/orpo, or chats for lora", reason="DATASET_METHOD_MISMATCH")
    if method == "kto" and not kto:
        held, fix = ("preference pairs", "dpo") if preference else ("chats", "lora")
        raise invalid_argument(
            "dataset", f"method=kto trains on single answers labelled true/false "
            f"(prompt/completion/label); this dataset holds {held} (format "
            f"{dataset_format or 'unknown'}): import a KTO dataset (records with \"label\": "
            f"true/false, e.g. from `tuneforge dataset prefer --from-eval --kto`), or train this "
            f"one with method={fix}", reason="DATASET_METHOD_MISMATCH")
    if method in ("dpo", "orpo") and not preference:
        raise invalid_argument(
            "dataset", f"method={method} trains on preference pairs (prompt/chosen/rejected); "
            f"this dataset holds chats (format {dataset_format or 'unknown'}): import a "
            f"preference dataset, or train with method=lora", reason="DATASET_METHOD_MISMATCH")
    if method in ("lora", "full", "grpo") and preference:
        raise invalid_argument(
            "dataset", f"this dataset holds preference pairs ({dataset_format}); train it with "
            f"--set method=dpo or method=orpo"
            + (" (grpo samples replies to the prompts of a chat dataset)" if method == "grpo" else ""),
            reason="DATASET_METHOD_MISMATCH")
