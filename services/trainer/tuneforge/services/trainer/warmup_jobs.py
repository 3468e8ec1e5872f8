"""The wall-time half of ``PlanTraining``: a short warm-up job, timed, within the call's deadline.

Whether it runs: ``WARMUP_RUN`` always, ``WARMUP_SKIP`` never, unset only on a GPU (on a CPU the
memory estimate is instant and the warm-up costs a model load for a figure few need). Never when
the job would be refused (it does not fit, or is a full fine-tune above the limit): the warm-up
would fail the same way.

The warm-up is a job of kind ``warmup`` (warmup_worker.py): it takes the GPU lock like training
(so it queues behind a running job rather than competing with it and timing the contention),
runs where training runs (``training_executor``), and with ``vllm_share_gpu`` puts vLLM to
sleep too. The call waits for it until shortly before its own deadline; a warm-up still queued
or running then is cancelled and the plan says so, as it does when the warm-up failed, rather
than failing the whole plan: the memory estimate stands on its own. A caller that hangs up
cancels the warm-up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.errors import TuneforgeError, invalid_argument
from tuneforge.runtime.job_rpcs import to_message
from tuneforge.runtime.jobs import Job, JobEngine
from tuneforge.services.trainer import preflight
from tuneforge.services.trainer.config import TrainingConfig

WARMUP = "warmup"
DEFAULT_BATCHES, MAX_BATCHES = 16, 256
WARMUP_MODULE = "tuneforge.services.trainer.warmup_worker"
NO_DEADLINE_WAIT_SECONDS = 900.0  # a call without a deadline still gets an answer
_Warmup = pb.PlanTrainingRequest.Warmup


def wall_seconds(load: float, batches: int, per_batch: float, steps: int, per_update: float) -> float:
    """The estimate: start-up, then every batch's forward and backward pass and every update."""
    return load + batches * per_batch + steps * per_update


def check_batches(batches: int) -> int:
    if batches < 0 or batches > MAX_BATCHES:
        raise invalid_argument("warmup_batches",
                               f"between 0 (= {DEFAULT_BATCHES}) and {MAX_BATCHES}, got {batches}")
    return batches


def skipped_because(mode: int, plan: preflight.Plan, full_max_parameters: int) -> str:
    """Why no warm-up runs for this plan; empty when one should."""
    if mode == _Warmup.WARMUP_SKIP:
        return "not measured: the warm-up was skipped"
    try:
        preflight.check(plan, full_max_parameters)
    except TuneforgeError as exc:
        return f"not measured: the job would be refused ({exc.reason}), so a warm-up would fail too"
    if plan.settings.method == "grpo":  # GRPO (issue 27)
        return ("not measured: a GRPO step is mostly sampling replies, which the warm-up's "
                "training batches do not time")
    if mode == _Warmup.WARMUP_UNSPECIFIED and plan.device.kind != "cuda":
        return ("not measured: no GPU here; a warm-up on this CPU runs on request "
                "(tuneforge train plan --warmup, or warmup = WARMUP_RUN)")
    return ""


def spec(*, base_model: str, cfg: TrainingConfig, train_file: str, validation_file: str,
         dataset_name: str, batches: int) -> dict[str, Any]:
    return {"base_model": base_model, "train_file": train_file,
            "validation_file": validation_file or None, "config": cfg.to_dict(),
            "dataset_name": dataset_name, "warmup_batches": batches or None}


async def measure(engine: JobEngine, params: dict[str, Any], time_remaining: float | None,
                  processes: int = 1) -> pb.TimeEstimate:
    """Run the warm-up job and return its estimate, or why there is none. ``processes``: the
    training job's data-parallel processes (``train_num_processes``); the warm-up runs one."""
    wait = NO_DEADLINE_WAIT_SECONDS if time_remaining is None else time_remaining
    stop_at = time.monotonic() + wait - min(2.0, wait * 0.1)  # answer before the caller gives up
    job = await engine.create(WARMUP, params)
    finished = False
    try:
        finished = await _wait_until_ended(engine, job.id, stop_at)
    finally:
        if not finished:
            with contextlib.suppress(TuneforgeError):
                if not engine.get(job.id).terminal:
                    await engine.cancel(job.id)
    return for_processes(outcome(engine.get(job.id), finished), processes)


def for_processes(estimate: pb.TimeEstimate, processes: int) -> pb.TimeEstimate:
    """A one-process warm-up scaled to a data-parallel job: each of its processes trains a
    share of the batches, so there are about ``processes`` times fewer batches and steps per
    process, each about as long (gradient synchronisation aside)."""
    if processes <= 1 or not estimate.measured:
        return estimate
    estimate.total_steps = math.ceil(estimate.total_steps / processes)
    estimate.total_batches = math.ceil(estimate.total_batches / processes)
    estimate.estimated_seconds = wall_seconds(estimate.load_seconds, estimate.total_batches,
                                              estimate.seconds_per_batch, estimate.total_steps,
                                              estimate.optimizer_seconds)
    estimate.note += (f"; timed in one process, the job's {processes} data-parallel processes "
                      f"share its batches (gradient synchronisation not included)")
    return estimate


async def _wait_until_ended(engine: JobEngine, job_id: str, stop_at: float) -> bool:
    events = engine.follow(job_id, 0, types={"state"})
    try:
        while True:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(events.__anext__(), timeout=remaining)
            except StopAsyncIteration:
                return True
            except asyncio.TimeoutError:
                return False
    finally:
        await events.aclose()


def outcome(job: Job, finished: bool) -> pb.TimeEstimate:
    if finished and job.state == "SUCCEEDED" and (job.result.get("time") or {}).get("measured"):
        estimate = to_message(job.result["time"], pb.TimeEstimate)
        estimate.job_id = job.id
        return estimate
    if not finished:
        where = "queued behind other GPU work" if job.state == "QUEUED" else "still running"
        note = (f"not measured: the warm-up (job {job.id}) was {where} when the call's deadline "
                f"neared, and was cancelled; plan again with a longer deadline (--timeout)")
    elif job.state == "SUCCEEDED":
        note = f"not measured: the warm-up (job {job.id}) ran no batch"
    else:
        why = f"{job.error_reason}: {job.error_message}" if job.error_reason else job.state.lower()
        note = f"not measured: the warm-up (job {job.id}) ended {job.state}: {why}"
    return pb.TimeEstimate(measured=False, note=note, job_id=job.id)
