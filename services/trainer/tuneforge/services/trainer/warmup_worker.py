"""The warm-up worker: time a few real batches of a training job, for its wall-time estimate.

    python -m tuneforge.services.trainer.warmup_worker --spec SPEC.json

Spec: a training job's inputs (``base_model``, ``train_file``, ``validation_file``, ``config``,
``dataset_name``; see train_worker) plus ``warmup_batches`` and the engine's ``job_dir``.

It runs the training worker's own code (model load, LoRA, tokenizing with the chat template,
TRL's trainer for the method, the job's batch size and gradient accumulation) on the device the
job would get, into ``<job_dir>/scratch`` (removed at the end: nothing is saved or tracked),
and stops after ``warmup_batches`` batches — micro-steps, not optimizer steps: the presets
accumulate 32–128 batches per optimizer step, and a warm-up of whole steps would take minutes
on a large model. The first batch is not timed (it pays for lazy initialisation). Each
optimizer update that falls inside the warm-up is timed on its own (``on_pre_optimizer_step``
→ ``on_optimizer_step``) and taken out of the batch it follows. Chat lengths are long-tailed,
so a handful of batches is rarely typical: each timed batch's padded tokens are counted, a
fixed cost per batch plus a cost per padded token is fitted to them (:func:`batch_cost`), and
applied to the job's padded tokens (its records batched as the job batches them, each batch
padded to its longest); preference pairs, tokenized inside TRL, use the timed batches' mean.

Result (``WarmupJobResult``): ``time`` with the whole job's ``total_batches`` (epochs × batches
per epoch) and ``total_steps`` (as the Trainer counts them: ceil(epochs × ceil(batches per epoch
/ accumulation))), ``seconds_per_batch``, ``optimizer_seconds``, ``load_seconds`` (process start
to the first batch), ``estimated_seconds`` = load + batches × per batch + steps × per update, and
the peak memory seen (GPU memory allocated, or the process's peak RSS on a CPU). Evaluation
passes and checkpoint saves are not timed. Stop (SIGTERM): ends after the current batch, exit
0 with ``stopped: true``.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the heavy imports: they are part of what a job waits for

import math  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from tuneforge.runtime import worker_events as ev  # noqa: E402
from tuneforge.runtime.errors import invalid_argument  # noqa: E402
from tuneforge.services.trainer import peft_setup, train_worker  # noqa: E402
from tuneforge.services.trainer.config import from_dict  # noqa: E402
from tuneforge.services.trainer.warmup_jobs import (  # noqa: E402
    DEFAULT_BATCHES,
    MAX_BATCHES,
    wall_seconds,
)

NOTE = "evaluation passes and checkpoint saves are not included"


def batches_of(spec: dict) -> int:
    batches = int(spec.get("warmup_batches") or DEFAULT_BATCHES)
    if not 1 <= batches <= MAX_BATCHES:
        raise invalid_argument("warmup_batches", f"between 1 and {MAX_BATCHES}, got {batches}")
    return batches


def total_steps(batches_per_epoch: int, accumulation: int, epochs: float) -> int:
    """Optimizer steps of the whole job, as transformers' Trainer counts them (one process)."""
    per_epoch = max(batches_per_epoch // accumulation + int(batches_per_epoch % accumulation > 0), 1)
    return math.ceil(epochs * per_epoch)


def timing(batch_ends: list[float], updates: list[tuple[int, float]], began: float,
           tokens: list[int] | None = None) -> dict[str, Any]:
    """Seconds per batch and per optimizer update, and each timed batch's (padded tokens, seconds).

    ``batch_ends``: when each batch ended (an update, when one follows the batch, ends inside
    it); ``updates``: (index of the batch it followed, seconds) per optimizer update;
    ``tokens``: each batch's padded tokens. The first batch is left out when there are others,
    and so is the first update (the optimizer's state is allocated then) when there are
    others."""
    if not batch_ends:
        return {"seconds_per_batch": 0.0, "optimizer_seconds": 0.0, "timed_batches": 0, "samples": []}
    spent = dict(updates)
    starts = [began, *batch_ends[:-1]]
    pure = [end - start - spent.get(i, 0.0) for i, (start, end) in enumerate(zip(starts, batch_ends))]
    first = 1 if len(pure) > 1 else 0
    timed = pure[first:]
    update_times = [t for _, t in updates]
    update_times = update_times[1:] if len(update_times) > 1 else update_times
    sizes = (tokens or [])[first:len(pure)]
    return {"seconds_per_batch": sum(timed) / len(timed), "timed_batches": len(timed),
            "optimizer_seconds": sum(update_times) / len(update_times) if update_times else 0.0,
            "samples": list(zip(sizes, timed)) if len(sizes) == len(timed) else []}


def batch_cost(samples: list[tuple[int, float]]) -> tuple[float, float]:
    """(seconds a batch costs whatever its size, seconds per padded token), fitted to the timed
    batches by least squares. A batch has a fixed cost (launches, the adapter's layers, Python)
    besides its tokens, so scaling by tokens alone under-counts many short batches. When the
    sizes hardly vary, or the fit comes out negative (noise), the cost is per token only."""
    if not samples:
        return 0.0, 0.0
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    var = sum((x - mean_x) ** 2 for x, _ in samples)
    if n >= 4 and var > (0.05 * mean_x) ** 2 * n:
        slope = sum((x - mean_x) * (y - mean_y) for x, y in samples) / var
        fixed = mean_y - slope * mean_x
        if slope > 0 and fixed >= 0:
            return fixed, slope
    return 0.0, (mean_y / mean_x if mean_x else 0.0)


def expected_padded_tokens(lengths: list[int], batch: int, epochs: float, seed: int) -> int:
    """Padded tokens the whole job's batches hold: each batch is padded to its longest record,
    so long-tailed lengths cost more than their sum. Batched as the job would (shuffled, in
    ``batch`` records), averaged over three shuffles."""
    if not lengths or batch < 1:
        return 0
    rng, per_epoch = random.Random(seed), []
    for _ in range(3):
        order = rng.sample(lengths, len(lengths))
        chunks = (order[i:i + batch] for i in range(0, len(order), batch))
        per_epoch.append(sum(len(chunk) * max(chunk) for chunk in chunks))
    return round(sum(per_epoch) / len(per_epoch) * epochs)


def peak_bytes(cuda: bool) -> int:
    if cuda:
        import torch

        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def _callback(batches: int):
    from transformers import TrainerCallback

    class BatchClock(TrainerCallback):
        """When each batch and each optimizer update ends; stops after ``batches`` batches
        or on a stop request."""

        def __init__(self) -> None:
            self.began = 0.0
            self.ends: list[float] = []
            self.updates: list[tuple[int, float]] = []
            self.tokens: list[int] = []  # padded tokens of each batch, recorded by _count_tokens
            self._update_began = 0.0
            self.stopped = False

        def on_train_begin(self, args, state, control, **kw: Any):
            self.began = time.perf_counter()

        def on_pre_optimizer_step(self, args, state, control, **kw: Any):
            self._update_began = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kw: Any):
            self.updates.append((len(self.ends), time.perf_counter() - self._update_began))

        def _batch_done(self, control):
            self.ends.append(time.perf_counter())
            ev.progress(phase="warmup", step=len(self.ends), total=batches,
                        percent=round(100.0 * len(self.ends) / batches, 2))
            if ev.stop_requested():
                self.stopped = True
            control.should_training_stop = self.stopped or len(self.ends) >= batches
            return control

        def on_substep_end(self, args, state, control, **kw: Any):
            return self._batch_done(control)

        def on_step_end(self, args, state, control, **kw: Any):
            return self._batch_done(control)

    return BatchClock()


def main(spec: dict) -> None:
    ev.offline_hub()
    ev.require(spec, "base_model", "train_file", "job_dir")
    batches = batches_of(spec)
    cfg = from_dict(spec.get("config") or {})
    peft_setup.check_installed(cfg)
    scratch = Path(spec["job_dir"]) / "scratch"
    run = {**spec, "output_dir": str(scratch), "job_id": None,
           "config": {**cfg.to_dict(), "report_to": "none", "save_steps": 100_000_000}}
    try:
        ev.result(_measure(run, from_dict(run["config"]), batches))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _lengths(train_ds) -> list[int]:
    """Each record's (or packed row's) tokens, when the dataset is tokenized up front (SFT)."""
    if "input_ids" not in (train_ds.column_names or []):
        return []
    return [len(ids) for ids in train_ds["input_ids"]]


def _count_tokens(trainer, clock) -> None:
    """Note each batch's padded tokens (every ``*input_ids`` tensor) as the trainer runs it."""
    step = trainer.training_step

    def counted(model, inputs, *args, **kwargs):
        clock.tokens.append(sum(int(v.numel()) for k, v in inputs.items()
                                if k.endswith("input_ids") and hasattr(v, "numel")))
        return step(model, inputs, *args, **kwargs)

    trainer.training_step = counted


def _batch_seconds(t: dict, lengths: list[int], trainer, cfg, total_batches: int) -> tuple[float, str]:
    """The job's average batch: a fixed cost per batch plus a cost per padded token, fitted to
    the timed batches and applied to the job's padded tokens, when those are known (SFT); else
    the timed batches' mean."""
    padding_free = bool(getattr(trainer.args, "padding_free", False))
    job_tokens = (round(sum(lengths) * cfg.epochs) if padding_free else
                  expected_padded_tokens(lengths, trainer.args.per_device_train_batch_size,
                                         cfg.epochs, cfg.seed))
    fixed, per_token = batch_cost(t["samples"])
    if not (job_tokens and per_token and total_batches):
        return t["seconds_per_batch"], ""
    seconds = fixed + per_token * job_tokens / total_batches
    timed_tokens = sum(x for x, _ in t["samples"]) / len(t["samples"])
    return seconds, (f"scaled from the {t['timed_batches']} timed batches to the job's by padded "
                     f"tokens ({timed_tokens:,.0f} vs {job_tokens / total_batches:,.0f} a batch)")


def _measure(run: dict, cfg, batches: int) -> dict[str, Any]:
    ev.progress(phase="loading_model", message=f"loading {run['base_model']}")
    import datasets
    import torch

    datasets.disable_progress_bars()
    cuda = torch.cuda.is_available()
    precision = train_worker.resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported())
    model, tokenizer = train_worker.load_model(run, cfg, precision, cuda)
    ev.progress(phase="tokenizing", message="tokenizing the dataset with the chat template")
    train_ds, _, _ = train_worker.tokenize(run, cfg, tokenizer)
    clock = _callback(batches)
    trainer = train_worker.build_trainer(run, cfg, model, tokenizer, train_ds, None, precision,
                                         cuda, clock)
    _count_tokens(trainer, clock)
    accumulation = trainer.args.gradient_accumulation_steps
    per_epoch = len(trainer.get_train_dataloader())
    steps, total_batches = total_steps(per_epoch, accumulation, cfg.epochs), math.ceil(per_epoch * cfg.epochs)
    trainer.args.max_steps = math.ceil(batches / accumulation) + 1  # the clock stops it first
    load_seconds = time.time() - STARTED
    if not ev.stop_requested():
        trainer.train()
    t = timing(clock.ends, clock.updates, clock.began, clock.tokens)
    lengths = _lengths(trainer.train_dataset)
    per_batch, scaled = _batch_seconds(t, lengths, trainer, cfg, total_batches)
    device = f"cuda {torch.cuda.get_device_name()}" if cuda else "cpu"
    notes = [NOTE] if t["timed_batches"] else ["stopped before a batch ran"]
    notes += [scaled] if scaled and t["timed_batches"] else []
    if t["timed_batches"] and not clock.updates:
        notes.append(f"no optimizer update fell inside the warm-up (gradient_accumulation_steps "
                     f"{accumulation} > {len(clock.ends)} batches), so updates are not included")
    tokens = round(sum(lengths) * cfg.epochs)
    step_seconds = wall_seconds(0.0, total_batches, per_batch, steps, t["optimizer_seconds"])
    ev.log(f"warm-up on {device}: {len(clock.ends)} batches, {t['seconds_per_batch']:.3f} s per "
           f"batch over {t['timed_batches']} ({per_batch:.3f} s for the job's average batch), "
           f"{len(clock.updates)} optimizer updates; the job runs {total_batches} batches in "
           f"{steps} steps")
    return {"stopped": clock.stopped or ev.stop_requested(), "time": {
        "measured": t["timed_batches"] > 0, "note": "; ".join(notes),
        "total_steps": steps, "total_batches": total_batches, "warmup_batches": len(clock.ends),
        "timed_batches": t["timed_batches"], "seconds_per_batch": per_batch,
        "optimizer_seconds": t["optimizer_seconds"],
        "seconds_per_step": accumulation * per_batch + t["optimizer_seconds"],
        "load_seconds": load_seconds, "estimated_seconds": load_seconds + step_seconds,
        "tokens_per_second": tokens / step_seconds if tokens and step_seconds > 0 else 0.0,
        "measured_peak_bytes": peak_bytes(cuda), "device": device}}


if __name__ == "__main__":
    ev.run_main(main)
