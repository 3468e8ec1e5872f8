"""Fine-tuning of a causal LM — the training worker: LoRA / QLoRA / DoRA / rsLoRA / LoRA+ or
full SFT on chats, DPO / ORPO on preference pairs, KTO on labelled answers, GRPO on the prompts
of chats with declared rewards (``config.method``; see trainers.py).

    python -m tuneforge.services.trainer.train_worker --spec SPEC.json
    python -m tuneforge.runtime.dist_launch --nproc-per-node N -- -m tuneforge.services.trainer.train_worker --spec S
    accelerate launch [--num_processes N] -m tuneforge.services.trainer.train_worker --spec S

Ranks (torchrun, docs/distributed.md): only rank 0 reports (events, metrics, checkpoints, the
result, the config files); the ranks agree on a stop at a step end (callbacks.stop_agreed), so
with several ranks a stop before training began is taken at the first step.

Spec (JSON object):
    base_model               hub id (already in the local HF cache) or local directory
    train_file               JSONL of {"messages": [...]} records (method lora/full) or of
                             {"prompt", "chosen", "rejected"} pairs (dpo/orpo; preference_data)
                             or {"prompt", "completion", "label"} answers (kto; preference_data)
    validation_file          optional JSONL; else ``config.validation_split`` holds some out
    config                   TrainingConfig keys (typed or text); validated here again
    output_dir               <data_root>/adapters/<name>; gets checkpoints/ and final/
    adapter_name, dataset_name   recorded in the result
    resume_from_checkpoint   optional checkpoint directory (of this or an earlier job)
    resumed_from_job         optional; the job that checkpoint came from (echoed in the result)
    continue_from_adapter    optional adapter directory whose weights a new plan starts from
    dataset_sha256           optional; written beside each checkpoint (a resume checks the plan)
    max_steps                optional hard cap on optimizer steps (tests, smoke runs)
    full_max_parameters      optional; method=full is refused above it (FULL_FINETUNE_TOO_LARGE)
    job_dir, job_id          added by the engine; tracking (report_to) writes under job_dir
    logging_steps            optional, default 1

Story: setup (load tokenizer + model, LoRA) → tokenize (assistant-only labels, checked; see
chat_data) → train (TRL SFTTrainer; events from callbacks.EventsCallback) → save
(``final/`` written to a temp dir and renamed: an adapter, or with method=full a whole model
directory) → ``result`` (with ``method``, ``variant`` and ``artifact`` = adapter | model).

Events: progress phases ``loading_model``, ``tokenizing``, ``training``, ``saving``; after
tokenizing, before the first step, the truncation report (chat_data) as a log line and as a
``result`` holding only ``truncation`` (the final result repeats it); metrics
(loss, eval_loss, learning_rate, grad_norm, tokens_per_second, ...); a checkpoint event after
every complete checkpoint (``output_dir/checkpoints/checkpoint-<step>``, holding adapter,
optimizer, scheduler, RNG and trainer_state + ``training_config.json``). A save cut short (a
full disk, a kill) leaves a partial ``checkpoint-<step>``: never reported, removed when the
run fails and when the next one starts.

Stop (SIGTERM): at the end of the current optimizer step a checkpoint is saved and reported,
``result`` says ``stopped: true``, exit 0. A stop before training began exits 0 with no
checkpoint. Raises/reports: INVALID_TRAINING_CONFIG, EMPTY_ASSISTANT_MASK, END_OF_TURN_NOT_TRAINED,
INVALID_TRAINING_RECORD, CHAT_TEMPLATE_UNSUPPORTED, BASE_MODEL_NOT_AVAILABLE,
RESUME_CHECKPOINT_INVALID, ADAPTER_ALREADY_EXISTS (exit 1).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.checksums import write_checksums
from tuneforge.runtime.errors import already_exists, failed_precondition, invalid_argument
from tuneforge.services.trainer import chat_data, peft_setup, preference_data, tracking, trainers
from tuneforge.services.trainer import best_checkpoint, throughput  # issue 27
from tuneforge.services.trainer.config import TrainingConfig, from_dict, save_config
from tuneforge.services.trainer.jobs import is_complete_checkpoint, remove_incomplete_checkpoints

PREFERENCE_METHODS = ("dpo", "orpo", "kto")  # TRL tokenizes their records (preference_data)

CONFIG_FILE = "training_config.json"
RESULT_FILE = "training_result.json"


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _say(message: str, level: str = "info") -> None:
    if _is_main():
        ev.log(message, level=level)


def _phase(phase: str, message: str) -> None:
    if _is_main():
        ev.progress(phase=phase, message=message)


# ---- setup ---------------------------------------------------------------------------------
def resolve_precision(cfg: TrainingConfig, cuda: bool, bf16_ok: bool) -> str:
    """auto → bf16 (fp16 without bf16 support) on a GPU, fp32 on CPU; fp16 on CPU → fp32."""
    if cfg.precision == "auto":
        return ("bf16" if bf16_ok else "fp16") if cuda else "fp32"
    if cfg.precision == "fp16" and not cuda:
        _say("precision fp16 needs a GPU; training in fp32 on this CPU", "warning")
        return "fp32"
    return cfg.precision


def load_model(spec: dict, cfg: TrainingConfig, precision: str, cuda: bool):
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from transformers import set_seed

    set_seed(cfg.seed)  # before get_peft_model: the LoRA A matrices are drawn from this RNG
    base = spec["base_model"]
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if cfg.method == "full":
        dtype = torch.float32  # fp32 master weights; bf16/fp16 run as autocast
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        kwargs: dict[str, Any] = {"dtype": dtype, **peft_setup.model_kwargs(cfg, cuda)}
        if cfg.quantization == "nf4":
            if not cuda:
                _say("4-bit QLoRA on CPU: bitsandbytes runs it, but expect it to be many times "
                     "slower than on a GPU (and slower than plain LoRA in fp32 on this CPU); "
                     "fine for a smoke test, not for a real dataset", "warning")
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16 if precision == "bf16" else
                (torch.float16 if precision == "fp16" else torch.float32))
            if cuda:
                kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except OSError as exc:
        raise invalid_argument("base_model", f"cannot load {base!r} offline: {exc}",
                               reason="BASE_MODEL_NOT_AVAILABLE") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    if cfg.method == "full":
        _check_full_size(spec, model)
        return model, tokenizer
    if cfg.quantization == "nf4":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        model = get_peft_model(model, peft_setup.lora_config(cfg))
    except ValueError as exc:
        raise invalid_argument("config.target_modules", str(exc).splitlines()[0],
                               reason="INVALID_TRAINING_CONFIG") from None
    return model, tokenizer


def _check_full_size(spec: dict, model) -> None:
    """method=full is refused above ``full_max_parameters`` (a service setting in the spec)."""
    limit = int(spec.get("full_max_parameters") or 0)
    count = sum(p.numel() for p in model.parameters())
    if limit and count > limit:
        raise failed_precondition(
            "FULL_FINETUNE_TOO_LARGE",
            f"full fine-tuning of {spec['base_model']} ({count:,} parameters) is refused above "
            f"full_max_parameters = {limit:,}: train an adapter (--set method=lora, or "
            f"quantization=nf4) or raise full_max_parameters in the service config")


def tokenize(spec: dict, cfg: TrainingConfig, tokenizer):
    from datasets import Dataset

    if cfg.method in PREFERENCE_METHODS:
        return load_preference(spec, cfg)
    if cfg.method == "grpo":
        return load_grpo_prompts(spec, cfg)

    train_records = chat_data.load_records(Path(spec["train_file"]), "train")
    train_idx, val_idx = list(range(len(train_records))), None  # indices in the train file
    if spec.get("validation_file"):
        val_records = chat_data.load_records(Path(spec["validation_file"]), "validation")
    else:
        train_idx, val_idx = chat_data.split_validation(train_idx, cfg.validation_split, cfg.seed)
        train_records, val_records = ([train_records[i] for i in train_idx],
                                      [train_records[i] for i in val_idx])
    train = chat_data.encode_records(tokenizer, train_records, cfg.max_seq_length, "train",
                                     cfg.truncation, train_idx)
    val = (chat_data.encode_records(tokenizer, val_records, cfg.max_seq_length,
                                    "validation" if val_idx is None else "train", cfg.truncation,
                                    val_idx, allow_empty=val_idx is not None)
           if val_records else None)
    if val is not None and val_idx is not None:  # the report covers the whole train file
        train.report = train.report.merged(val.report)
    _say(train.report.summary(), "warning" if train.report.records_over_limit else "info")
    if _is_main():  # typed (TrainingJobResult.truncation) before training starts
        ev.result({"truncation": train.report.to_dict()})
    _say(f"train: {len(train.input_ids)} records, {train.tokens} tokens "
         f"({train.assistant_tokens} assistant), {train.truncated} truncated to "
         f"{cfg.max_seq_length}")
    cut = train.turns - train.turns_ending
    _say(f"end-of-turn coverage: {train.turns_ending}/{train.turns} trained assistant turns "
         f"({100 * train.end_of_turn_coverage:.1f}%) end with the end-of-turn token in the labels"
         + (f"; {cut} lost it to max_seq_length={cfg.max_seq_length}, the model learns to stop "
            "from the others" if cut else ""), "warning" if cut else "info")
    if train.dropped:
        _say(f"dropped {len(train.dropped)} train records left with no assistant token by "
             f"max_seq_length={cfg.max_seq_length}, truncation={cfg.truncation} (records "
             f"{', '.join(map(str, train.dropped[:20]))}{' ...' if len(train.dropped) > 20 else ''})",
             "warning")
    eval_ds = None
    if val is not None and val.input_ids:
        eval_ds = Dataset.from_dict(val.as_columns())
        _say(f"validation: {len(val.input_ids)} records")
    return Dataset.from_dict(train.as_columns()), eval_ds, train


def load_preference(spec: dict, cfg: TrainingConfig):
    """Preference pairs (or, method=kto, labelled answers) as datasets (TRL tokenizes them);
    stats count records, not tokens."""
    from datasets import Dataset

    load = preference_data.load_labelled if cfg.method == "kto" else preference_data.load_pairs
    train = load(Path(spec["train_file"]), "train")
    if spec.get("validation_file"):
        val = load(Path(spec["validation_file"]), "validation")
    else:
        train, val = chat_data.split_validation(train, cfg.validation_split, cfg.seed)
    what = "labelled answers" if cfg.method == "kto" else "preference pairs"
    _say(f"train: {len(train)} {what}; validation: {len(val)}")
    return Dataset.from_list(train), (Dataset.from_list(val) if val else None), None


# ---- GRPO (issue 27) -------------------------------------------------------------------------
def load_grpo_prompts(spec: dict, cfg: TrainingConfig):
    """Prompts + the owner's real replies (grpo_data). No held-out set: GRPO has no eval loss.

    TRL samples one generation batch per optimizer update: batch_size x
    gradient_accumulation_steps x processes replies, num_generations per distinct prompt. A
    dataset with fewer prompts than that yields no batch at all, and transformers then stops
    with "args.max_steps must be set ..."; this says what to change instead."""
    from datasets import Dataset

    from tuneforge.services.trainer import grpo_data

    rows, skipped = grpo_data.load(Path(spec["train_file"]), "train")
    processes = int(os.environ.get("WORLD_SIZE", "1") or 1)
    needed = cfg.batch_size * cfg.gradient_accumulation_steps * processes // max(cfg.num_generations, 1)
    if len(rows) < needed:
        raise invalid_argument(
            "config.gradient_accumulation_steps",
            f"GRPO samples {needed} distinct prompts per optimizer update (batch_size {cfg.batch_size} x "
            f"gradient_accumulation_steps {cfg.gradient_accumulation_steps} x {processes} processes / "
            f"num_generations {cfg.num_generations}) and the dataset has {len(rows)}: lower "
            f"gradient_accumulation_steps or batch_size", reason="GRPO_TOO_FEW_PROMPTS")
    _say(f"train: {len(rows)} prompts (each with the owner's real reply as reference)"
         + (f"; {len(skipped)} records without a prompt before their last reply skipped"
            if skipped else ""), "warning" if skipped else "info")
    if spec.get("validation_file"):
        _say("GRPO does not evaluate on held-out data; the validation file is not used", "warning")
    return Dataset.from_list(rows), None, None


def grpo_summary(last_metrics: dict[str, float]) -> dict[str, Any]:
    """The result's reward (weighted, last logged step) and each component by name."""
    return {"reward": last_metrics.get("reward"),
            "reward_components": {k.removeprefix("reward/"): v for k, v in last_metrics.items()
                                  if k.startswith("reward/")}}


def _check_resume(path: str | None) -> str | None:
    if not path:
        return None
    ckpt = Path(path)
    if not is_complete_checkpoint(ckpt):
        raise invalid_argument("resume_from_checkpoint",
                               f"{path} is not a complete training checkpoint (weights and trainer_state.json)",
                               reason="RESUME_CHECKPOINT_INVALID")
    return str(ckpt)


def packed_batching(cfg: TrainingConfig, attn_implementation: str | None) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) to train with.

    TRL packs padding-free: a batch of packed rows is flattened into one long sequence. Flash
    attention then attends within each chat, but sdpa/eager compute attention over the whole
    flattened batch (masked), i.e. batch_size² times the work — packing got 2x *slower* than
    padding on a CPU with batch 8. Without flash attention, packed rows therefore go one per
    micro-step and the batch moves into gradient accumulation: the same tokens per optimizer
    step and the same (token-averaged) update.
    """
    if cfg.packing and cfg.batch_size > 1 and "flash" not in (attn_implementation or ""):
        _say(f"packing with {attn_implementation or 'default'} attention: training "
             f"{cfg.batch_size} packed rows per step as gradient accumulation "
             f"({cfg.gradient_accumulation_steps} x {cfg.batch_size}) instead of one "
             f"flattened batch (same update, far less attention work)")
        return 1, cfg.gradient_accumulation_steps * cfg.batch_size
    return cfg.batch_size, cfg.gradient_accumulation_steps


def build_trainer(spec, cfg, model, tokenizer, train_ds, eval_ds, precision, cuda, events):
    from transformers import EarlyStoppingCallback

    evaluating = eval_ds is not None
    early = evaluating and cfg.early_stopping_patience > 0
    batch, accum = packed_batching(cfg, getattr(model.config, "_attn_implementation", None))
    args = trainers.common_args(spec, cfg, batch, accum, precision, cuda, evaluating, early)
    # best checkpoint (issue 27): evaluate at every save, load the best at the end
    args.update(best_checkpoint.trainer_args(cfg.best_checkpoint_metric, evaluating, cfg.save_steps,
                                             cfg.eval_steps, cfg.save_total_limit))
    callbacks = [events]
    if early:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    return trainers.build(cfg, args, model, tokenizer, train_ds, eval_ds, callbacks)


# ---- save ----------------------------------------------------------------------------------
def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
    os.replace(tmp, path)


def save_final(trainer, output_dir: Path, summary: dict) -> Path:
    """Adapter + tokenizer + config + result into ``final/`` atomically (temp dir, rename).
    A whole model (method=full) also gets ``SHA256SUMS``: the registry's model catalog
    verifies the directory against it."""
    final = output_dir / "final"
    tmp = Path(tempfile.mkdtemp(prefix=".final-", dir=output_dir))
    try:
        trainer.model.save_pretrained(tmp, safe_serialization=True)
        trainer.processing_class.save_pretrained(tmp)
        _write_json(tmp / RESULT_FILE, summary)
        if summary.get("artifact") == "model":
            write_checksums(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# ---- main ----------------------------------------------------------------------------------
def main(spec: dict) -> None:
    ev.offline_hub()
    ev.require(spec, "base_model", "train_file", "output_dir")
    cfg = from_dict(spec.get("config") or {})
    peft_setup.check_installed(cfg)
    output_dir = Path(spec["output_dir"])
    if _finished_before_requeue(output_dir):
        return
    if (output_dir / "final").exists():
        raise already_exists("adapter", spec.get("adapter_name") or str(output_dir))
    resume = _check_resume(spec.get("resume_from_checkpoint"))
    output_dir.mkdir(parents=True, exist_ok=True)
    resume = _after_requeue(output_dir) or resume
    meta = {"base_model": spec["base_model"], "dataset": spec.get("dataset_name"),
            "adapter_name": spec.get("adapter_name")}
    if _is_main():
        save_config(cfg, output_dir / CONFIG_FILE, **meta)

    _phase("loading_model", f"loading {spec['base_model']}")
    import datasets
    import torch

    datasets.disable_progress_bars()

    cuda = torch.cuda.is_available()
    precision = resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported())
    model, tokenizer = load_model(spec, cfg, precision, cuda)
    continued = _continue_from(spec, model)  # issue 27: continue training
    trainable, total = _parameter_counts(model)
    _say(f"model {spec['base_model']} on {'cuda' if cuda else 'cpu'}, {precision}, "
         f"quantization {cfg.quantization}; {peft_setup.describe(cfg, trainable, total)}")

    _phase("tokenizing", "tokenizing the dataset with the chat template")
    train_ds, eval_ds, stats = tokenize(spec, cfg, tokenizer)
    if ev.stop_requested() and _world_size() == 1:  # several ranks agree at the first step
        _say("stop requested before training began; nothing to save")
        ev.result({"stopped": True, "checkpoint": None, "global_step": 0})
        return

    os.environ.update(tracking.environment(cfg.report_to, spec.get("job_dir"),
                                           spec.get("adapter_name")))
    tokens = throughput.TokenCounter()  # real tokens of every method (issue 27)
    events = callbacks_mod().EventsCallback(
        on_checkpoint=lambda p: save_config(cfg, p / CONFIG_FILE, **meta, job_id=spec.get("job_id"),
                                            dataset_sha256=spec.get("dataset_sha256")),
        evaluate_on_save=best_checkpoint.chooses_best(cfg.best_checkpoint_metric, eval_ds is not None),
        flops_per_token=throughput.flops_per_token(total, cfg.method, cfg.gradient_checkpointing),
        peak_flops=throughput.peak_flops(torch.cuda.get_device_name(), precision) if cuda else None,
        cuda=cuda, tokens=tokens)
    trainer = build_trainer(spec, cfg, model, tokenizer, train_ds, eval_ds, precision, cuda,
                            events)
    tokens.attach(trainer)
    if resume:
        _say(f"resuming from {resume}")
        if not cuda and _world_size() > 1:
            _optimizer_state_to_cpu(trainer)
    started = time.time()
    _drop_incomplete_checkpoints(output_dir)  # a kill mid-save in an earlier run
    try:
        out = trainer.train(resume_from_checkpoint=resume)
    except BaseException:
        _drop_incomplete_checkpoints(output_dir)  # a save cut short (a full disk) is never kept
        raise
    state = trainer.state
    metrics = dict(out.metrics)
    num_tokens = events.num_tokens  # this run's real tokens (throughput.TokenCounter)
    runtime = metrics.get("train_runtime")
    summary = {
        **meta,
        "config": cfg.to_dict(),
        "method": cfg.method,
        "variant": peft_setup.variant_name(cfg),
        "artifact": "model" if cfg.method == "full" else "adapter",
        "precision": precision,
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "epoch": state.epoch,
        "train_loss": metrics.get("train_loss"),
        "last_loss": events.last_metrics.get("loss"),
        "eval_loss": events.last_metrics.get("eval_loss"),
        "best_eval_loss": state.best_metric,
        "num_tokens": num_tokens,
        "train_runtime": runtime,
        "tokens_per_second": (num_tokens / runtime) if num_tokens and runtime else None,
        "train_records": len(train_ds),
        "dropped_records": len(stats.dropped) if stats else 0,
        "end_of_turn_coverage": stats.end_of_turn_coverage if stats else None,
        "truncation": stats.report.to_dict() if stats and stats.report else None,
        "early_stopped": bool(eval_ds is not None and cfg.early_stopping_patience > 0
                              and state.global_step < state.max_steps
                              and not events.stopped_by_request),
        "wall_seconds": time.time() - started,
    }
    if cfg.method == "grpo":
        summary.update(grpo_summary(events.last_metrics))
    summary.update(_issue27_summary(spec, cfg, trainer, events, precision, total,
                                    summary["tokens_per_second"]), continued_from=continued)
    if not _is_main():
        return
    if events.stopped_by_request:
        ckpt = events.last_checkpoint
        _say(f"stopped on request at step {state.global_step}; checkpoint {ckpt}")
        ev.result({**summary, "stopped": True,
                   "checkpoint": str(ckpt.resolve()) if ckpt else None})
        return

    _phase("saving", f"saving the {summary['artifact']}")
    _say(summary["best"]["reason"])
    final = save_final(trainer, output_dir, summary)
    summary.update(stopped=False, adapter_dir=str(final.resolve()),
                   output_dir=str(output_dir.resolve()),
                   checkpoint=str(events.last_checkpoint.resolve())
                   if events.last_checkpoint else None)
    _write_json(output_dir / RESULT_FILE, summary)
    ev.progress(phase="saving", step=state.global_step, total=state.max_steps, percent=100.0,
                message=f"{summary['artifact']} saved to {final}")
    ev.result(summary)


# ---- best checkpoint, honest resume loss, throughput (issue 27) -------------------------------
def _issue27_summary(spec: dict, cfg: TrainingConfig, trainer, events, precision: str,
                     parameters: int, tokens_per_second: float | None) -> dict[str, Any]:
    """Result fields: which checkpoint is registered and why (best_checkpoint), the mean loss
    of every logged step including a resumed job's original steps, MFU and peak GPU memory."""
    state = trainer.state
    history = list(state.log_history)
    loss, steps = best_checkpoint.mean_step_loss(history)
    last = events.last_checkpoint
    saved = [int(p.name.rsplit("-", 1)[-1]) for p in Path(trainer.args.output_dir).glob("checkpoint-*")
             if p.name.rsplit("-", 1)[-1].isdigit()]
    best = best_checkpoint.choose(
        cfg.best_checkpoint_metric, history,
        state.best_model_checkpoint if trainer.args.load_best_model_at_end else None,
        state.global_step, str(last.resolve()) if last else None, saved)
    if best.get("path"):
        best["path"] = str(Path(best["path"]).resolve())
    out: dict[str, Any] = {"best": best, "best_step": best["step"],
                           "resumed_from_job": spec.get("resumed_from_job") or ""}
    if best.get("value") is not None:  # the eval loss of what final/ holds, not of the last step
        out["eval_loss"] = best["value"]
    if loss is not None:
        out.update(train_loss=loss, train_loss_steps=steps)
        if spec.get("resume_from_checkpoint"):
            _say(f"train loss {loss:.4f}: the mean of {steps} logged steps, the resumed job's "
                 f"original steps included (transformers' own figure, "
                 f"{trainer_loss(history)}, divides only this run's losses by all the steps)")
    per_token = throughput.flops_per_token(parameters, cfg.method, cfg.gradient_checkpointing)
    out["flops_per_token"] = per_token
    gpu = throughput.gpu_stats(precision)
    out.update(gpu)
    value = throughput.mfu(tokens_per_second, per_token, gpu.get("peak_flops"))  # type: ignore[arg-type]
    if value is not None:
        out["mfu"] = value
        _say(f"throughput {tokens_per_second:,.0f} tokens/s on {gpu.get('gpu')}: MFU "
             f"{100 * value:.1f}% ({throughput.flops_factor(cfg.method, cfg.gradient_checkpointing)} "
             f"x {parameters:,} parameters per token), peak memory "
             f"{int(gpu.get('peak_gpu_memory_bytes', 0)) / 2**30:.1f} GiB")
    return out


def trainer_loss(history: list[dict[str, Any]]) -> str:
    value = next((e["train_loss"] for e in reversed(history) if "train_loss" in e), None)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "not reported"


def _continue_from(spec: dict, model) -> str:
    """Continue training: the new adapter starts from an earlier adapter's weights (a new plan:
    fresh optimizer and schedule, step 0). The servicer checked the shapes (jobs.check_continue_plan);
    a key that still does not load is CHECKPOINT_PLAN_MISMATCH."""
    source = spec.get("continue_from_adapter")
    if not source:
        return ""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(source) / "adapter_model.safetensors"
    weights = load_file(str(path))
    try:
        loaded = set_peft_model_state_dict(model, weights)
    except RuntimeError as exc:  # a shape mismatch
        raise failed_precondition("CHECKPOINT_PLAN_MISMATCH", f"cannot continue from {source}: "
                                  f"{str(exc).splitlines()[0]}") from None
    missing = [k for k in getattr(loaded, "unexpected_keys", []) if "lora_" in k]
    if missing:
        raise failed_precondition("CHECKPOINT_PLAN_MISMATCH", f"cannot continue from {source}: "
                                  f"{len(missing)} of its weights fit no module of this plan "
                                  f"(e.g. {missing[0]})")
    _say(f"continuing training from the adapter {source}: its weights, a fresh optimizer and "
         "schedule from step 0")
    return str(Path(source).resolve())


def _optimizer_state_to_cpu(trainer) -> None:
    """Resuming DDP on CPU: transformers 4.57 loads the optimizer state with
    ``map_location=args.device`` when ``world_size > 1``, and torch cannot restore storage to
    ``cpu:0`` ("don't know how to restore data location"). Load it on "cpu", as it does for one
    process."""
    import torch

    load_state = trainer._load_optimizer_and_scheduler

    def on_cpu(checkpoint):
        real = torch.load

        def load(*args, **kwargs):
            if str(kwargs.get("map_location", "cpu")).startswith("cpu"):
                kwargs["map_location"] = "cpu"
            return real(*args, **kwargs)

        torch.load = load
        try:
            return load_state(checkpoint)
        finally:
            torch.load = real

    trainer._load_optimizer_and_scheduler = on_cpu


def _requeued() -> int:
    """How often Slurm ran this batch job again (preemption, requeue) — for a worker the slurm
    executor started (its script says so), never for a service that itself runs under Slurm."""
    if os.environ.get("TUNEFORGE_SLURM_REQUEUE_RESUMES") != "1":
        return 0
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def _finished_before_requeue(output_dir: Path) -> bool:
    """A Slurm job requeued after its worker had saved ``final/`` (preempted while exiting):
    report the saved result again instead of failing on the adapter that exists."""
    saved = output_dir / RESULT_FILE
    if _requeued() < 1 or not (output_dir / "final").is_dir() \
            or not saved.is_file():
        return False
    if _is_main():
        _say("requeued by Slurm after the adapter was saved: reporting the saved result")
        ev.result(json.loads(saved.read_text(encoding="utf-8")))
    return True


def _after_requeue(output_dir: Path) -> str | None:
    """A Slurm job run again (preempted and requeued, ``SLURM_RESTART_COUNT`` > 0) resumes from
    the latest complete checkpoint its earlier run saved, and says so."""
    restarts = _requeued()
    if restarts < 1:
        return None
    from tuneforge.services.trainer.jobs import list_checkpoints

    found = list_checkpoints(output_dir)
    if not found:
        _say(f"requeued by Slurm (restart {restarts}): no checkpoint yet, training from the start", "warning")
        return None
    _say(f"requeued by Slurm (restart {restarts}): resuming from {found[-1].name}", "warning")
    return str(found[-1])


def _drop_incomplete_checkpoints(output_dir: Path) -> None:
    if _is_main():
        for path in remove_incomplete_checkpoints(output_dir):
            _say(f"removed {path.name}: its save was cut short", level="warning")


def _parameter_counts(model) -> tuple[int, int]:
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def callbacks_mod():
    from tuneforge.services.trainer import callbacks

    return callbacks


if __name__ == "__main__":
    ev.run_main(main)
