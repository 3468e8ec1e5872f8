"""Evaluation and chat job specs, and relaying a chat job's tokens (transport-free, torch-free).

Both kinds run in worker processes under the GPU lock, like training (server.py):

* ``evaluate`` (eval_worker): after every (LoRA SFT) training job that has held-out data
  (:func:`spec_after_training`, the training job's own split), and on demand
  (:func:`spec_on_demand`, a registered adapter + optionally another dataset). Its result is
  ``{"report": {...}}``; the service then sends the report to the registry, which keeps it
  with the adapter version.
* ``chat`` (chat_worker): one reply (or two: base and adapter) to a conversation. The worker
  writes each decoded piece as a progress event; :func:`relay_chat` follows the job's event
  stream (the engine's replay + live follow, the same one JobService.Watch reads) and hands
  the pieces to the RPC as they come. The call's deadline goes to the worker (it stops
  generating there); a caller that goes away or runs out of time while the job is still
  queued behind a training job cancels it, so nothing runs for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import Code, TuneforgeError, invalid_argument
from tuneforge.runtime.jobs import Job, JobEngine

EVALUATE, CHAT = "evaluate", "chat"
DEFAULT_SAMPLES, MAX_SAMPLES = 20, 500
DEFAULT_CHAT_SECONDS, MAX_CHAT_SECONDS = 300.0, 3600.0
MAX_NEW_TOKENS = 4096
DEADLINE_GRACE_SECONDS = 5.0


def _samples(value: int) -> int:
    if value < 0:
        raise invalid_argument("samples", "must not be negative")
    if value > MAX_SAMPLES:
        raise invalid_argument("samples", f"at most {MAX_SAMPLES}")
    return value or DEFAULT_SAMPLES


def spec_after_training(job: Job) -> dict[str, Any] | None:
    """The evaluation of a finished training job, or None when it held nothing out."""
    params, result = job.params, job.result
    config = params.get("config") or {}
    split = float(config.get("validation_split") or 0)
    if not result.get("adapter_dir") or result.get("stopped") or result.get("artifact") == "model":
        return None
    if (config.get("method") or "lora") != "lora":  # preference pairs are not dialogs to replay
        return None
    if not params.get("validation_file") and split <= 0:
        return None
    registration = result.get("registration") or {}
    return {
        "base_model": params["base_model"], "adapter_dir": result["adapter_dir"],
        "adapter_name": params.get("adapter_name") or "",
        "adapter_version": int(registration.get("version") or 0),
        "dataset_name": params.get("dataset_name") or "",
        "validation_file": params.get("validation_file") or None,
        "train_file": params.get("train_file"), "validation_split": split,
        "seed": int(config.get("seed") or 0),
        "max_seq_length": int(config.get("max_seq_length") or 2048),
        "samples": DEFAULT_SAMPLES, "training_job_id": job.id,
    }


def spec_on_demand(*, adapter_name: str, adapter_dir: str, adapter_version: int, base_model: str,
                   dataset_name: str, data_file: str, validation_file: str = "", samples: int = 0,
                   max_new_tokens: int = 0) -> dict[str, Any]:
    """An evaluation of a registered adapter on a dataset's validation split (its whole data
    when it has none: the caller chose a dataset the adapter did not train on)."""
    if max_new_tokens < 0 or max_new_tokens > MAX_NEW_TOKENS:
        raise invalid_argument("max_new_tokens", f"between 0 (default) and {MAX_NEW_TOKENS}")
    if not Path(adapter_dir, "adapter_config.json").is_file():
        raise TuneforgeError(Code.FAILED_PRECONDITION, "ADAPTER_FILES_MISSING",
                             f"adapter {adapter_name} has no adapter files at {adapter_dir}")
    return {
        "base_model": base_model, "adapter_dir": adapter_dir, "adapter_name": adapter_name,
        "adapter_version": adapter_version, "dataset_name": dataset_name,
        "validation_file": validation_file or data_file, "samples": _samples(samples),
        "max_new_tokens": max_new_tokens or None,
    }


def chat_deadline(time_remaining: float | None, now: float | None = None) -> float:
    """Absolute deadline of a chat call: the caller's, capped; a default when it set none."""
    now = time.time() if now is None else now
    seconds = DEFAULT_CHAT_SECONDS if time_remaining is None else min(time_remaining, MAX_CHAT_SECONDS)
    return now + max(0.0, seconds)


def spec_chat(*, base_model: str, adapter_dir: str | None, messages: list[dict[str, str]],
              sides: list[str], deadline: float, max_new_tokens: int = 0,
              temperature: float = 0.0, top_p: float = 0.0, seed: int = 0) -> dict[str, Any]:
    from tuneforge.services.trainer.chat_worker import check_messages

    if max_new_tokens < 0 or max_new_tokens > MAX_NEW_TOKENS:
        raise invalid_argument("max_new_tokens", f"between 0 (default 256) and {MAX_NEW_TOKENS}")
    if temperature < 0 or temperature > 5:
        raise invalid_argument("temperature", "between 0 (greedy) and 5")
    if top_p < 0 or top_p > 1:
        raise invalid_argument("top_p", "between 0 (= 1) and 1")
    return {"base_model": base_model, "adapter_dir": adapter_dir,
            "messages": check_messages(messages), "sides": sides, "deadline": deadline,
            "max_new_tokens": max_new_tokens or 256, "temperature": temperature,
            "top_p": top_p or 1.0, "seed": seed}


@dataclass
class ChatUpdate:
    """One thing to tell the caller: a piece of a reply, or the finished replies."""

    side: str = ""
    piece: str = ""
    replies: list[dict[str, Any]] = field(default_factory=list)
    job: Job | None = None


async def relay_chat(engine: JobEngine, job_id: str, deadline: float) -> AsyncIterator[ChatUpdate]:
    """Pieces of the chat job's replies as its worker writes them, then its replies.

    DEADLINE_EXCEEDED when the deadline passes before the job ends (the job is cancelled);
    the job's own error when it fails. Leaving early (the caller went away) cancels the job.
    """
    finished = False
    try:
        async for update in _follow(engine, job_id, deadline):
            yield update
        finished = True
    finally:
        if not finished:
            with contextlib.suppress(TuneforgeError):
                if not engine.get(job_id).terminal:
                    await engine.cancel(job_id)


async def _follow(engine: JobEngine, job_id: str, deadline: float) -> AsyncIterator[ChatUpdate]:
    events = engine.follow(job_id, 0, types={"progress", "state"})
    try:
        while True:
            # the worker stops itself at the deadline; the grace covers its last events
            remaining = deadline + DEADLINE_GRACE_SECONDS - time.time()
            if remaining <= 0:
                raise _late(engine.get(job_id))
            try:
                event = await asyncio.wait_for(events.__anext__(), timeout=remaining)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise _late(engine.get(job_id)) from None
            if event.type == "progress" and event.data.get("phase") == "generating":
                yield ChatUpdate(side=str(event.data.get("side") or ""),
                                 piece=str(event.data.get("piece") or ""))
    finally:
        await events.aclose()
    job = engine.get(job_id)
    if job.state != "SUCCEEDED":
        from tuneforge.services.trainer.chat_worker import CHAT_TOO_LONG

        if job.error_reason == CHAT_TOO_LONG:  # found by the worker: the prompt is past the model's context
            raise invalid_argument("messages", job.error_message.removeprefix("invalid messages: "), reason=CHAT_TOO_LONG)
        raise TuneforgeError(Code.ABORTED if job.state == "CANCELLED" else Code.INTERNAL,
                             job.error_reason or f"CHAT_JOB_{job.state}",
                             job.error_message or f"chat job {job.id} ended {job.state}")
    yield ChatUpdate(replies=list(job.result.get("replies") or []), job=job)


def _late(job: Job) -> TuneforgeError:
    where = "queued behind other GPU work" if job.state == "QUEUED" else "generating"
    return TuneforgeError(Code.DEADLINE_EXCEEDED, "CHAT_DEADLINE_EXCEEDED",
                          f"the deadline passed while the reply was {where} (job {job.id})")
