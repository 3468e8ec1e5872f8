"""The TRL trainer of a run: SFT (lora, full), DPO / ORPO on preference pairs, or KTO on
labelled answers.

Imported only by the training worker. Every method shares the same arguments (batching,
schedule, checkpoints, precision, tracking) so stop, resume and events behave alike; the
methods differ only in the TRL class, its config class, and the data it reads:

| method    | TRL                      | data                             | reference model            |
|-----------|--------------------------|----------------------------------|----------------------------|
| lora/full | SFTTrainer               | tokenized chats (chat_data)      | —                          |
| dpo       | DPOTrainer               | prompt / chosen / rejected pairs | the base, adapter disabled |
| orpo      | ORPOTrainer (experimental) | the same pairs                 | none (odds-ratio term)     |
| kto       | KTOTrainer               | prompt / completion / label      | the base, adapter disabled |
| grpo      | GRPOTrainer              | prompt + reference (grpo_data)   | none (beta 0: no KL term)  |

DPO, ORPO and KTO tokenize the records themselves with the chat template (``max_length`` =
``max_seq_length``). KTO estimates its KL term from mismatched (prompt, answer) pairs of the
same micro-batch, so it needs ``batch_size`` >= 2 (config.py refuses less) and trains in the
file's order (TRL's sequential sampler; the pairs are fixed per batch). GRPO samples
``num_generations`` replies of up to ``max_completion_length`` tokens per prompt with the
policy itself and scores them with the declared rewards (rewards.py); it has no eval loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge.services.trainer import peft_setup, tracking
from tuneforge.services.trainer.config import TrainingConfig


def common_args(spec: dict, cfg: TrainingConfig, batch: int, accum: int, precision: str,
                cuda: bool, evaluating: bool, early: bool) -> dict[str, Any]:
    job_dir = Path(spec["job_dir"]) if spec.get("job_dir") else None
    return dict(
        output_dir=str(Path(spec["output_dir"]) / "checkpoints"),
        per_device_train_batch_size=batch, per_device_eval_batch_size=batch,
        gradient_accumulation_steps=accum, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=int(spec.get("max_steps") or -1),
        warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay,
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=not cuda,
        save_strategy="steps", save_steps=cfg.save_steps,
        eval_strategy=("steps" if cfg.eval_steps else "epoch") if evaluating else "no",
        eval_steps=cfg.eval_steps or None,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        logging_steps=int(spec.get("logging_steps") or 1),
        seed=cfg.seed, data_seed=cfg.seed, max_length=cfg.max_seq_length,
        use_liger_kernel=cfg.use_liger_kernel, disable_tqdm=True, dataloader_num_workers=0,
        **tracking.trainer_kwargs(cfg.report_to, job_dir, spec.get("job_id")),
    )


def build(cfg: TrainingConfig, args: dict[str, Any], model, tokenizer, train_ds, eval_ds,
          callbacks: list):
    """The trainer for ``cfg.method``, with LoRA+'s optimizer when asked for."""
    from transformers import PrinterCallback

    optimizer = peft_setup.loraplus_optimizer(model, cfg)
    kwargs = dict(model=model, train_dataset=train_ds, eval_dataset=eval_ds,
                  processing_class=tokenizer, callbacks=callbacks,
                  optimizers=(optimizer, None))
    if cfg.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(args=DPOConfig(**args, beta=cfg.preference_beta), **kwargs)
    elif cfg.method == "orpo":
        import warnings

        with warnings.catch_warnings():  # "experimental" notice on import
            warnings.simplefilter("ignore")
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer
        trainer = ORPOTrainer(args=ORPOConfig(**args, beta=cfg.preference_beta), **kwargs)
    elif cfg.method == "kto":
        from trl import KTOConfig, KTOTrainer

        trainer = KTOTrainer(args=KTOConfig(**args, beta=cfg.preference_beta,
                                            desirable_weight=cfg.desirable_weight,
                                            undesirable_weight=cfg.undesirable_weight), **kwargs)
    elif cfg.method == "grpo":
        trainer = _grpo(cfg, args, kwargs, tokenizer)
    else:
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(args=SFTConfig(**args, packing=cfg.packing), **kwargs)
    trainer.remove_callback(PrinterCallback)  # our events replace its dict prints on stdout
    return trainer


# GRPO (issue 27)
def _grpo(cfg: TrainingConfig, args: dict[str, Any], kwargs: dict[str, Any], tokenizer):
    from trl import GRPOConfig, GRPOTrainer

    from tuneforge.services.trainer import rewards

    args = {k: v for k, v in args.items() if k != "max_length"}  # GRPO limits the completion
    # generate() refuses inputs the model does not take (a tokenizer that also returns
    # token_type_ids, like the tiny test model's); a causal LM samples from ids + mask
    names = list(getattr(tokenizer, "model_input_names", []) or [])
    if "token_type_ids" in names:
        tokenizer.model_input_names = [n for n in names if n != "token_type_ids"]
    config = GRPOConfig(**args, num_generations=cfg.num_generations,
                        max_completion_length=cfg.max_completion_length,
                        reward_weights=[rewards.weight(s) for s in cfg.rewards])
    return GRPOTrainer(reward_funcs=rewards.functions(cfg.rewards, tokenizer), args=config,
                       **kwargs)
