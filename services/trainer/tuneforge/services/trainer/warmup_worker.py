"""The warm-up worker: time a few real steps of a training job, for its wall-time estimate.

    python -m tuneforge.services.trainer.warmup_worker --spec SPEC.json

Spec: a training job's inputs (``base_model``, ``train_file``, ``validation_file``, ``config``,
``dataset_name``; see train_worker) plus ``warmup_steps`` and the engine's ``job_dir``.

It runs the training worker's own code (model load, LoRA, tokenizing with the chat template,
TRL's trainer for the method) on the device the job would get, for ``warmup_steps`` optimizer
steps into ``<job_dir>/scratch`` (removed at the end: nothing is saved or tracked). The first
step is not timed: it pays for lazy initialisation (optimizer state, kernels, the allocator).

Result (``WarmupJobResult``): ``time`` with ``total_steps`` (the whole job's optimizer steps,
counted as the Trainer counts them: ceil(epochs × ceil(batches per epoch / accumulation))),
``seconds_per_step``, ``load_seconds`` (process start to the first step), ``estimated_seconds``
= load + total × per step, trained tokens/s, and the peak memory seen (GPU memory allocated,
or the process's peak RSS on a CPU). Evaluation passes and checkpoint saves are not timed.
Stop (SIGTERM): ends after the current step, exit 0 with ``stopped: true``.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the heavy imports: they are part of what a job waits for

import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from tuneforge.runtime import worker_events as ev  # noqa: E402
from tuneforge.runtime.errors import invalid_argument  # noqa: E402
from tuneforge.services.trainer import peft_setup, train_worker  # noqa: E402
from tuneforge.services.trainer.config import from_dict  # noqa: E402
from tuneforge.services.trainer.warmup_jobs import DEFAULT_STEPS, MAX_STEPS  # noqa: E402

NOTE = "evaluation passes and checkpoint saves are not included"


def steps_of(spec: dict) -> int:
    steps = int(spec.get("warmup_steps") or DEFAULT_STEPS)
    if not 1 <= steps <= MAX_STEPS:
        raise invalid_argument("warmup_steps", f"between 1 and {MAX_STEPS}, got {steps}")
    return steps


def total_steps(batches_per_epoch: int, accumulation: int, epochs: float) -> int:
    """Optimizer steps of the whole job, as transformers' Trainer counts them (one process)."""
    per_epoch = max(batches_per_epoch // accumulation + int(batches_per_epoch % accumulation > 0), 1)
    return math.ceil(epochs * per_epoch)


def timing(step_ends: list[tuple[float, float]], began: float) -> dict[str, float]:
    """Seconds per step and tokens/s from (end time, trained tokens so far) per step; the
    first step is left out when there are others."""
    if not step_ends:
        return {"seconds_per_step": 0.0, "tokens_per_second": 0.0, "timed_steps": 0}
    if len(step_ends) == 1:
        (end, tokens), = step_ends
        seconds = end - began
        return {"seconds_per_step": seconds, "timed_steps": 1,
                "tokens_per_second": tokens / seconds if tokens and seconds > 0 else 0.0}
    (first, first_tokens), (last, last_tokens) = step_ends[0], step_ends[-1]
    timed = len(step_ends) - 1
    seconds = last - first
    tokens = last_tokens - first_tokens
    return {"seconds_per_step": seconds / timed, "timed_steps": timed,
            "tokens_per_second": tokens / seconds if tokens > 0 and seconds > 0 else 0.0}


def peak_bytes(cuda: bool) -> int:
    if cuda:
        import torch

        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def _callback():
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """End time and trained-token count of every step; a stop request ends the run."""

        def __init__(self) -> None:
            self.began = 0.0
            self.ends: list[tuple[float, float]] = []
            self.tokens = 0.0
            self.stopped = False

        def on_train_begin(self, args, state, control, **kw: Any):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kw: Any):
            self.ends.append((time.perf_counter(), self.tokens))
            ev.progress(phase="warmup", step=state.global_step, total=state.max_steps,
                        percent=round(100.0 * state.global_step / max(state.max_steps, 1), 2))
            if ev.stop_requested():
                self.stopped = control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kw: Any):
            if isinstance((logs or {}).get("num_tokens"), (int, float)) and self.ends:
                self.tokens = float(logs["num_tokens"])  # logged after the step it counts
                self.ends[-1] = (self.ends[-1][0], self.tokens)

    return StepClock()


def main(spec: dict) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    for key in ("base_model", "train_file", "job_dir"):
        if not spec.get(key):
            raise invalid_argument(key, "required in the worker spec")
    steps = steps_of(spec)
    cfg = from_dict(spec.get("config") or {})
    peft_setup.check_installed(cfg)
    scratch = Path(spec["job_dir"]) / "scratch"
    run = {**spec, "output_dir": str(scratch), "max_steps": steps, "job_id": None,
           "config": {**cfg.to_dict(), "report_to": "none", "save_steps": 100_000_000}}
    try:
        result = _measure(run, from_dict(run["config"]))
        result["time"]["job_id"] = spec.get("job_id") or ""
        ev.result(result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _measure(run: dict, cfg) -> dict[str, Any]:
    ev.progress(phase="loading_model", message=f"loading {run['base_model']}")
    import datasets
    import torch

    datasets.disable_progress_bars()
    cuda = torch.cuda.is_available()
    precision = train_worker.resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported())
    model, tokenizer = train_worker.load_model(run, cfg, precision, cuda)
    ev.progress(phase="tokenizing", message="tokenizing the dataset with the chat template")
    train_ds, _, _ = train_worker.tokenize(run, cfg, tokenizer)
    clock = _callback()
    trainer = train_worker.build_trainer(run, cfg, model, tokenizer, train_ds, None, precision,
                                         cuda, clock)
    accumulation = trainer.args.gradient_accumulation_steps
    total = total_steps(len(trainer.get_train_dataloader()), accumulation, cfg.epochs)
    load_seconds = time.time() - STARTED
    if not ev.stop_requested():
        trainer.train()
    measured = timing(clock.ends, clock.began)
    device = f"cuda {torch.cuda.get_device_name()}" if cuda else "cpu"
    timed = measured["timed_steps"]
    ev.log(f"warm-up on {device}: {len(clock.ends)} steps, "
                      f"{measured['seconds_per_step']:.3f} s/step over {timed}; the job runs "
                      f"{total} steps")
    return {"stopped": clock.stopped or ev.stop_requested(), "time": {
        "measured": timed > 0, "note": NOTE if timed else "stopped before a step ran",
        "total_steps": total, "warmup_steps": len(clock.ends), "timed_steps": timed,
        "seconds_per_step": measured["seconds_per_step"], "load_seconds": load_seconds,
        "estimated_seconds": load_seconds + total * measured["seconds_per_step"],
        "tokens_per_second": measured["tokens_per_second"],
        "measured_peak_bytes": peak_bytes(cuda), "device": device}}


if __name__ == "__main__":
    ev.run_main(main)
