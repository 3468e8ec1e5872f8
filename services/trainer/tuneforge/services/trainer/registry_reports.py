"""A finished evaluation or leak-audit job hands its report to the registry.

The registry reads the report back from the job itself (services/registry/job_reports.py); the
job succeeds either way, since the report is in its result, and ``recorded`` /
``record_message`` in that result say whether the registry has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from tuneforge.runtime.jobs import Job
from tuneforge.runtime.peers import describe
from tuneforge.runtime.server import ServiceContext

CALL_TIMEOUT_SECONDS = 30.0


async def hand_report(ctx: ServiceContext, job: Job, call: Callable[..., Awaitable[Any]], request: Any,
                      log: Any, event: str) -> None:
    """``call(request)`` on the registry; the outcome goes into the job's result, a refusal
    also into the log as ``event``."""
    try:
        await call(request, metadata=ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)
        outcome = {"recorded": True, "record_message": ""}
    except grpc.aio.AioRpcError as exc:
        outcome = {"recorded": False, "record_message": describe(exc)}
        log.warning(event, job_id=job.id, error=outcome["record_message"])
    ctx.engine.job_store.update_result(job.id, lambda result: result.update(outcome))
