"""The adapter variant and the optimizer of a training run: LoRA, DoRA, rsLoRA, LoRA+, full.

Imported only by the training worker (it needs peft and torch). The variant is a config
choice, not a code path: ``use_dora`` and ``use_rslora`` are flags of PEFT's ``LoraConfig``;
LoRA+ is PEFT's ``create_loraplus_optimizer`` (AdamW with the B matrices' learning rate
``loraplus_lr_ratio`` times A's), handed to the Trainer as its optimizer so checkpoints keep
its state and a resume restores it. ``method=full`` has no adapter: every weight trains.

:func:`variant_name` is what the result (and so the registry) records, so a DoRA adapter that
vLLM cannot serve is recognisable without reading its files.
"""

from __future__ import annotations

from typing import Any

from tuneforge.services.trainer.config import TrainingConfig


def variant_name(cfg: TrainingConfig) -> str:
    """``full``, ``dora``, ``rslora`` or ``lora`` (quantization is recorded on its own)."""
    if cfg.method == "full":
        return "full"
    if cfg.use_dora:
        return "dora"
    if cfg.use_rslora:
        return "rslora"
    return "lora"


def lora_config(cfg: TrainingConfig):
    """PEFT's LoraConfig for ``cfg`` (target_modules may be 'all-linear')."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, bias="none", task_type="CAUSAL_LM",
                      use_dora=cfg.use_dora, use_rslora=cfg.use_rslora)


def loraplus_optimizer(model, cfg: TrainingConfig):
    """AdamW with LoRA+ parameter groups, or None when ``loraplus_lr_ratio`` is 0.

    The learning-rate scheduler the Trainer builds scales every group alike, so B keeps its
    ratio to A through warmup and decay.
    """
    if not cfg.loraplus_lr_ratio or cfg.method == "full":
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW,
                                     lr=cfg.learning_rate, loraplus_lr_ratio=cfg.loraplus_lr_ratio,
                                     weight_decay=cfg.weight_decay)


def model_kwargs(cfg: TrainingConfig, cuda: bool) -> dict[str, Any]:
    """``from_pretrained`` keywords for the attention implementation.

    auto: flash-attention 2 when the package is installed and a GPU is present (it is what
    makes padding-free packing exact and fast), else sdpa. An explicit choice is passed as
    given; transformers refuses one that is not installed with its own clear message.
    """
    choice = cfg.attn_implementation
    if choice == "auto":
        choice = "flash_attention_2" if cuda and _installed("flash_attn") else "sdpa"
    return {"attn_implementation": choice}


def check_installed(cfg: TrainingConfig) -> None:
    """INVALID_ARGUMENT naming the field when an option needs a package that is missing."""
    from tuneforge.runtime.errors import invalid_argument

    needs = [("use_liger_kernel", cfg.use_liger_kernel, "liger_kernel", "liger-kernel (GPU only)"),
             ("report_to", cfg.report_to == "tensorboard", "tensorboard", "tensorboard"),
             ("report_to", cfg.report_to == "mlflow", "mlflow", "mlflow-skinny")]
    for name, wanted, module, package in needs:
        if wanted and not _installed(module):
            raise invalid_argument(f"config.{name}", f"needs the package {package}, which is "
                                   f"not installed in the worker's environment",
                                   reason="INVALID_TRAINING_CONFIG")


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def describe(cfg: TrainingConfig, trainable: int, total: int) -> str:
    """One log line saying what trains."""
    if cfg.method == "full":
        return f"full fine-tuning trains all {total:,} parameters"
    extras = [name for name, on in (("DoRA", cfg.use_dora), ("rsLoRA", cfg.use_rslora),
                                    (f"LoRA+ x{cfg.loraplus_lr_ratio:g}", cfg.loraplus_lr_ratio))
              if on]
    kind = "LoRA" + (f" ({', '.join(extras)})" if extras else "")
    return f"{kind} trains {trainable:,} of {total:,} parameters"
