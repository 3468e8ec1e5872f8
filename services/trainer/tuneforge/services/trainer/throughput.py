"""Throughput and model FLOPs utilisation (MFU) of a training run, counted for its method.

Tokens/s counts real tokens only, the same way for every method (:class:`TokenCounter`: the
non-padding tokens of each training micro-batch the trainer computes a loss on, counted from
its masks, :func:`batch_tokens`):

| method    | a trained token is                                                     |
|-----------|------------------------------------------------------------------------|
| lora/full | a token of the chat (padding-free packing: every token of the row)      |
| dpo, orpo | a token of prompt + chosen **and** of prompt + rejected (both forwarded) |
| kto       | a token of prompt + completion (KTO's KL pairs are not counted: cost)   |
| grpo      | a prompt token and a generated token of each sampled completion         |

FLOPs per counted token of a decoder with N parameters (matmuls dominate; attention's own
FLOPs are left out, as in the usual 6N rule):

- forward: 2N (one multiply-add per weight);
- backward, full fine-tuning: 4N (gradients w.r.t. the activations, 2N, *and* w.r.t. every
  weight, 2N) → **6N** in all;
- backward, LoRA / QLoRA with a frozen base: the base weights need no weight gradient, only
  the activation gradients flow through them (2N; the adapter's own weight gradients are a
  rounding error) → **4N**;
- activation (gradient) checkpointing recomputes the forward during the backward: +2N, so
  LoRA with checkpointing is **6N** too (full fine-tuning with it would be 8N of hardware work,
  but MFU by convention counts the model's FLOPs, not recomputation: it stays 6N).

and what each method adds to the adapter's 4N (:data:`METHOD_EXTRA`), per counted token:

- dpo: the reference model's forward over the same tokens (the base, adapter disabled) +2N → 6N;
- orpo: no reference model → 4N;
- kto: the reference forward (+2N) and the KL estimate — policy (no gradient) and reference
  forwards over the mismatched pairs, as many tokens again (+4N) → 10N;
- grpo: sampling the completions — a forward per prompt token (prefill) and per generated
  token (decode, with the KV cache) +2N → 6N; beta 0, so no reference model.

Checkpointing adds +2N to each (the trained forward only: reference and generation passes run
without gradients). MFU = tokens/s × FLOPs per token / the GPU's dense peak FLOP/s for the
precision trained in. Only on a GPU whose peak is known (:data:`PEAK_TFLOPS`); a CPU gets
tokens/s only.
"""

from __future__ import annotations

from typing import Any, Mapping

# Dense (no sparsity) peak tensor TFLOP/s by GPU name fragment: (bf16/fp16, tf32/fp32).
PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H200": (989.0, 494.0), "H100 PCIe": (756.0, 378.0), "H100": (989.0, 494.0),
    "A100": (312.0, 156.0), "L40S": (362.0, 183.0), "L4": (121.0, 60.0),
    "A10G": (70.0, 35.0), "A10": (125.0, 62.5), "RTX 4090": (165.0, 82.6),
    "RTX 3090": (71.0, 35.6), "T4": (65.0, 8.1), "V100": (125.0, 15.7),
}


# FLOPs per parameter per counted token that a method adds to training the adapter (module
# docstring): reference-model forwards, KTO's KL pairs, GRPO's sampling.
METHOD_EXTRA: dict[str, int] = {"dpo": 2, "orpo": 0, "kto": 6, "grpo": 2}


def flops_factor(method: str, gradient_checkpointing: bool) -> int:
    """FLOPs per parameter per counted token: 4 for an adapter on a frozen base, 6 for full
    fine-tuning or with activation checkpointing, plus what the method adds (module docstring):
    dpo 6 (8), orpo 4 (6), kto 10 (12), grpo 6 (8) without (with) checkpointing."""
    if method == "full":
        return 6
    return 4 + (2 if gradient_checkpointing else 0) + METHOD_EXTRA.get(method, 0)


def flops_per_token(parameters: int, method: str, gradient_checkpointing: bool) -> float:
    """Model FLOPs per counted token; ``parameters`` = the whole model's (base + adapter)."""
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


# ---- counting real tokens -------------------------------------------------------------------
def batch_tokens(inputs: Mapping[str, Any]) -> Any:
    """The real (non-padding) tokens of one training micro-batch, as the trainer feeds it to
    the model (a tensor or a number; 0 when the batch has nothing to count):

    - GRPO (``prompt_mask`` + ``completion_mask``): the prompt's and the sampled completion's;
    - ORPO (``chosen_attention_mask``, ``rejected_attention_mask``, each prompt + answer): both;
    - SFT, DPO (chosen and rejected rows concatenated), KTO (prompt + completion rows):
      the ``attention_mask``'s ones;
    - padding-free packing (no mask, ``position_ids``): every token of ``input_ids``.
    """
    if "prompt_mask" in inputs and "completion_mask" in inputs:
        return inputs["prompt_mask"].sum() + inputs["completion_mask"].sum()
    if "chosen_attention_mask" in inputs and "rejected_attention_mask" in inputs:
        return inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()
    if inputs.get("attention_mask") is not None:
        return inputs["attention_mask"].sum()
    if inputs.get("input_ids") is not None:
        return inputs["input_ids"].numel()
    return 0


class TokenCounter:
    """Counts the real tokens of every micro-batch a trainer trains on (:func:`batch_tokens`).

    ``attach(trainer)`` wraps the trainer's ``compute_loss``, the one call every TRL trainer
    makes per micro-batch with the batch as the model sees it (GRPO's after sampling); batches
    of an evaluation (the model in eval mode) are not counted. The count stays on the device
    until :meth:`total` reads it (once per optimizer step, not once per micro-batch), summed
    over every process of a multi-GPU run (:meth:`total` must then run on every process).
    """

    def __init__(self) -> None:
        self._pending: Any = 0  # counted since the last total(), possibly a device tensor
        self._total = 0
        self._accelerator: Any = None

    def attach(self, trainer) -> None:
        inner = trainer.compute_loss
        self._accelerator = getattr(trainer, "accelerator", None)

        def compute_loss(model, inputs, *args: Any, **kwargs: Any):
            if getattr(model, "training", True):
                self._pending = self._pending + batch_tokens(inputs)
            return inner(model, inputs, *args, **kwargs)

        trainer.compute_loss = compute_loss

    def total(self) -> int:
        """Real tokens trained so far by this run (every process)."""
        pending, self._pending = self._pending, 0
        accelerator = self._accelerator
        if accelerator is not None and getattr(accelerator, "num_processes", 1) > 1:
            import torch

            local = torch.as_tensor(pending, device=accelerator.device).reshape(1)
            pending = accelerator.reduce(local, reduction="sum")
        self._total += int(pending.item() if hasattr(pending, "item") else pending)
        return self._total
