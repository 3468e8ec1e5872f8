"""Throughput and model FLOPs utilisation (MFU) of a training run, counted for its method.

Tokens/s counts real tokens only (TRL's ``num_tokens``: the attention mask's ones, no padding).

FLOPs per token of a decoder with N parameters (matmuls dominate; attention's own FLOPs are
left out, as in the usual 6N rule):

- forward: 2N (one multiply-add per weight);
- backward, full fine-tuning: 4N (gradients w.r.t. the activations, 2N, *and* w.r.t. every
  weight, 2N) → **6N** in all;
- backward, LoRA / QLoRA with a frozen base: the base weights need no weight gradient, only
  the activation gradients flow through them (2N; the adapter's own weight gradients are a
  rounding error) → **4N**;
- activation (gradient) checkpointing recomputes the forward during the backward: +2N, so
  LoRA with checkpointing is **6N** too (full fine-tuning with it would be 8N of hardware work,
  but MFU by convention counts the model's FLOPs, not recomputation: it stays 6N).

MFU = tokens/s × FLOPs per token / the GPU's dense peak FLOP/s for the precision trained in.
Only on a GPU whose peak is known (:data:`PEAK_TFLOPS`); a CPU gets tokens/s only.
"""

from __future__ import annotations

# Dense (no sparsity) peak tensor TFLOP/s by GPU name fragment: (bf16/fp16, tf32/fp32).
PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H200": (989.0, 494.0), "H100 PCIe": (756.0, 378.0), "H100": (989.0, 494.0),
    "A100": (312.0, 156.0), "L40S": (362.0, 183.0), "L4": (121.0, 60.0),
    "A10G": (70.0, 35.0), "A10": (125.0, 62.5), "RTX 4090": (165.0, 82.6),
    "RTX 3090": (71.0, 35.6), "T4": (65.0, 8.1), "V100": (125.0, 15.7),
}


def flops_factor(method: str, gradient_checkpointing: bool) -> int:
    """FLOPs per parameter per token: 4 for an adapter on a frozen base, 6 for full
    fine-tuning or with activation checkpointing (module docstring)."""
    if method == "full" or gradient_checkpointing:
        return 6
    return 4


def flops_per_token(parameters: int, method: str, gradient_checkpointing: bool) -> float:
    """Model FLOPs per trained token; ``parameters`` = the whole model's (base + adapter)."""
    return float(flops_factor(method, gradient_checkpointing) * parameters)


def peak_flops(device_name: str, precision: str) -> float | None:
    """The dense peak FLOP/s of a GPU by its name (bf16/fp16 or fp32), None if unknown."""
    for fragment, (half, single) in PEAK_TFLOPS.items():
        if fragment.lower() in (device_name or "").lower():
            return (half if precision in ("bf16", "fp16") else single) * 1e12
    return None


def mfu(tokens_per_second: float | None, per_token: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation in [0, 1]-ish; None without a throughput or a known peak."""
    if not tokens_per_second or not peak:
        return None
    return tokens_per_second * per_token / peak


def gpu_stats(precision: str) -> dict[str, float | int | str]:
    """peak_gpu_memory_bytes, peak_flops and the device name on a GPU; {} on a CPU."""
    import torch

    if not torch.cuda.is_available():
        return {}
    name = torch.cuda.get_device_name()
    out: dict[str, float | int | str] = {"gpu": name,
                                         "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated())}
    peak = peak_flops(name, precision)
    if peak:
        out["peak_flops"] = peak
    return out
