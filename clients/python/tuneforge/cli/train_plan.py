"""`tuneforge train plan` and `tuneforge train open-tensorboard`.

    tuneforge train plan --dataset D --base-model M [--preset P] [--set key=value ...]
                         [--warmup | --no-warmup] [--warmup-batches N]
    tuneforge train open-tensorboard JOB [--port 6006]

``plan`` prints the pre-flight estimate the trainer would check before queueing the job (peak
memory by part, the device and what it has free, what to change when it does not fit, the
truncation report: records over max_seq_length and what the truncation policy does) and
exits 1 when the job would not fit. On a GPU it also times a short warm-up (a few real batches
in a job of kind warmup, queued like training) and prints the job's estimated wall time;
``--warmup`` runs one on a CPU server too, ``--no-warmup`` skips it. The warm-up loads the
model, so the command waits up to 10 minutes by default (``--timeout``). ``open-tensorboard``
prints the command that shows a job's TensorBoard event files (or MLflow store): it runs on the
server's machine, where the files are.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuneforge.client import job_params, tracking, truncation
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.cli.common import connect, emit, parse_sets

PLAN_DEADLINE = 600.0  # a warm-up loads the model and may queue behind GPU work


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return (f"{hours} h {rest // 60} min" if hours else
            f"{rest // 60} min {rest % 60} s" if rest >= 60 else f"{rest} s")


def time_text(t: Any) -> str:
    if not t.measured:
        return f"time: {t.note or 'not measured'}"
    tokens = f", about {t.tokens_per_second:,.0f} tokens/s" if t.tokens_per_second else ""
    return (f"time: about {_duration(t.estimated_seconds)} = start-up {_duration(t.load_seconds)} + "
            f"{t.total_steps:,} steps x {t.seconds_per_step:.3g} s ({t.total_batches:,} batches x "
            f"{t.seconds_per_batch:.3g} s + {t.optimizer_seconds:.3g} s per update; timed over "
            f"{t.timed_batches} warm-up batches on {t.device}{tokens}; peak "
            f"{_gib(t.measured_peak_bytes)} seen; {t.note}; job {t.job_id})")


def truncation_text(report: Any) -> str:
    """A ``TruncationReport`` message in the words the training job logs it."""
    policy = trainer_pb2.TrainingConfig.Truncation.Name(report.truncation).removeprefix("TRUNCATION_").lower()
    return truncation.from_message(report, policy).summary()


def plan_text(plan: Any) -> str:
    m = plan.memory
    parts = (("weights", m.weights_bytes), ("trainable state", m.trainable_state_bytes),
             ("activations", m.activations_bytes), ("logits", m.logits_bytes),
             ("runtime", m.runtime_bytes))
    method = trainer_pb2.TrainingConfig.Method.Name(plan.config.method).removeprefix("METHOD_")
    lines = [
        f"model: {plan.parameters:,} parameters; {method.lower()} trains "
        f"{plan.trainable_parameters:,}",
        f"sequence length: {plan.seq_len} ({plan.seq_len_source})",
        f"peak memory: {_gib(m.total_bytes)} = " + " + ".join(f"{n} {_gib(b)}" for n, b in parts),
        f"device: {plan.device_name} ({plan.device_kind}), {_gib(plan.device_total_bytes)} total, "
        f"{_gib(plan.available_bytes)} available -> {'fits' if plan.fits else 'DOES NOT FIT'}",
    ]
    lines += [f"  change: {tip}" for tip in plan.advice]
    if plan.HasField("truncation"):
        lines.append(truncation_text(plan.truncation))
    lines.append(time_text(plan.time))
    return "\n".join(lines)


def _plan(args: argparse.Namespace) -> int:
    config, _ = parse_sets(trainer_pb2.TrainingConfig, args.set)
    warmup = trainer_pb2.PlanTrainingRequest.Warmup
    mode = {True: warmup.WARMUP_RUN, False: warmup.WARMUP_SKIP, None: warmup.WARMUP_UNSPECIFIED}
    plan = connect(args).trainer.plan_training(
        dataset=args.dataset, base_model=args.base_model, preset=args.preset, config=config,
        warmup=mode[args.warmup], warmup_batches=args.warmup_batches)
    emit(args, plan, plan_text(plan))
    return 0 if plan.fits else 1


def _open_tensorboard(args: argparse.Namespace) -> int:
    job = connect(args).jobs.get_job(id=args.job_id)
    params = job_params(job)
    if not isinstance(params, trainer_pb2.TrainingJobParams):
        raise SystemExit(f"error: job {job.id} is a {job.kind} job, not a training job")
    report_to = trainer_pb2.TrainingConfig.ReportTo.Name(params.config.report_to)
    report_to = report_to.removeprefix("REPORT_TO_").lower()
    if report_to in ("none", "unspecified"):
        raise SystemExit(f"error: job {job.id} was not tracked (report_to = none); start one with "
                         f"--set report_to=tensorboard")
    job_dir = Path(params.output_dir).parents[1] / "jobs" / job.id  # <data root>/adapters/<name>
    print(tracking.view_command(job_dir, report_to, args.port))
    return 0


def add_commands(cmds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = cmds.add_parser("plan", parents=[common],
                        help="the pre-flight memory estimate of a job, without starting it")
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--base-model", required=True, help="hub id (in the local HF cache) or model directory")
    p.add_argument("--preset", default="", choices=["", "quick", "standard", "thorough"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=None,
                   help="time a short warm-up for the wall-time estimate (default: on a GPU only)")
    p.add_argument("--warmup-batches", type=int, default=0,
                   help="batches the warm-up runs, the first untimed (default 16, at most 256)")
    p.set_defaults(func=_plan, default_timeout=PLAN_DEADLINE)
    p = cmds.add_parser("open-tensorboard", parents=[common],
                        help="print the command that shows a job's TensorBoard (or MLflow) data")
    p.add_argument("job_id")
    p.add_argument("--port", type=int, default=6006)
    p.set_defaults(func=_open_tensorboard)
