"""Job resources on the wire: conversions to ``tuneforge.common.v1`` and the job RPCs every
service exposes (Get/List/Cancel/Watch/StreamLogs), written once.

A servicer's job methods are one line each: ``return await self.jobs.get(request.id)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from tuneforge.common.v1 import common_pb2
from tuneforge.runtime import paging
from tuneforge.runtime.jobs import Event, Job, JobEngine

_STATES = {
    "QUEUED": common_pb2.Job.STATE_QUEUED,
    "RUNNING": common_pb2.Job.STATE_RUNNING,
    "SUCCEEDED": common_pb2.Job.STATE_SUCCEEDED,
    "FAILED": common_pb2.Job.STATE_FAILED,
    "CANCELLED": common_pb2.Job.STATE_CANCELLED,
}
_METRIC_FIELDS = ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second")


def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def struct(data: dict[str, Any] | None) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    if data:
        out.update(_jsonable(data))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def progress_pb(data: dict[str, Any]) -> common_pb2.Progress:
    msg = common_pb2.Progress(
        phase=str(data.get("phase") or ""),
        step=int(data.get("step") or 0),
        total=int(data.get("total") or 0),
        percent=float(data.get("percent") or 0.0),
        epoch=float(data.get("epoch") or 0.0),
        message=str(data.get("message") or ""),
    )
    eta = data.get("eta_seconds")
    if isinstance(eta, (int, float)) and eta >= 0:
        msg.eta.CopyFrom(duration_pb2.Duration(seconds=int(eta), nanos=int((eta % 1) * 1e9)))
    return msg


def metrics_pb(data: dict[str, Any]) -> common_pb2.Metrics:
    msg = common_pb2.Metrics(step=int(data.get("step") or 0), epoch=float(data.get("epoch") or 0.0))
    for name in _METRIC_FIELDS:
        value = data.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(msg, name, float(value))
    for key, value in data.items():
        if key in _METRIC_FIELDS or key in ("step", "epoch") or key.startswith("_"):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            msg.extra[key] = float(value)
    return msg


def job_pb(job: Job) -> common_pb2.Job:
    msg = common_pb2.Job(
        id=job.id,
        kind=job.kind,
        state=_STATES.get(job.state, common_pb2.Job.STATE_UNSPECIFIED),
        progress=progress_pb(job.progress),
        metrics=metrics_pb(job.metrics),
        error_reason=job.error_reason,
        error_message=job.error_message,
        params=struct(job.params),
        result=struct(job.result),
        last_checkpoint=job.last_checkpoint,
        cancel_requested=job.cancel_requested,
        queue_position=job.queue_position,
        last_seq=job.last_seq,
    )
    for name in ("create_time", "start_time", "end_time"):
        ts = timestamp(getattr(job, name))
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    return msg


def log_pb(event: Event) -> common_pb2.LogLine:
    return common_pb2.LogLine(
        seq=event.seq,
        time=timestamp(event.time),
        level=str(event.data.get("level", "info")),
        message=str(event.data.get("message", "")),
        source=str(event.data.get("source", "")),
    )


def event_pb(event: Event, engine: JobEngine, job_id: str) -> common_pb2.JobEvent:
    msg = common_pb2.JobEvent(seq=event.seq, time=timestamp(event.time))
    if event.type == "state":
        snapshot = engine.get(job_id)
        job = Job(**{**snapshot.__dict__, **{k: v for k, v in event.data.items() if k in snapshot.__dict__}})
        job.last_seq = event.seq
        msg.job.CopyFrom(job_pb(job))
    elif event.type == "progress":
        msg.progress.CopyFrom(progress_pb(event.data))
    elif event.type == "metrics":
        msg.metrics.CopyFrom(metrics_pb(event.data))
    elif event.type == "checkpoint":
        msg.checkpoint.CopyFrom(common_pb2.Checkpoint(step=int(event.data.get("step") or 0), path=str(event.data.get("path", ""))))
    else:
        msg.log.CopyFrom(log_pb(event))
    return msg


class JobRpcs:
    """The job RPCs of one service, over the shared engine."""

    def __init__(self, engine: JobEngine, service: str, kinds: list[str] | None = None) -> None:
        self.engine = engine
        self.service = service
        self.kinds = kinds

    def get(self, job_id: str) -> common_pb2.Job:
        return job_pb(self.engine.get(job_id, self.service))

    def list(self, page_size: int, page_token: str) -> tuple[list[common_pb2.Job], str, int]:
        scope = f"jobs:{self.service}"
        offset, limit = paging.page(page_size, page_token, scope)
        jobs, total = self.engine.list(self.service, offset, limit, self.kinds)
        return [job_pb(j) for j in jobs], paging.next_token(offset, limit, len(jobs), total, scope), total

    async def cancel(self, job_id: str) -> common_pb2.Job:
        return job_pb(await self.engine.cancel(job_id, self.service))

    async def watch(self, job_id: str, after_seq: int, include_logs: bool) -> AsyncIterator[common_pb2.JobEvent]:
        self.engine.get(job_id, self.service)
        types = None if include_logs else {"state", "progress", "metrics", "checkpoint"}
        async for event in self.engine.follow(job_id, after_seq, types=types):
            yield event_pb(event, self.engine, job_id)

    async def logs(self, job_id: str, after_seq: int, follow: bool) -> AsyncIterator[common_pb2.LogLine]:
        self.engine.get(job_id, self.service)
        async for event in self.engine.follow(job_id, after_seq, types={"log"}, follow=follow):
            yield log_pb(event)

    def metrics(self, job_id: str) -> list[common_pb2.Metrics]:
        self.engine.get(job_id, self.service)
        return [metrics_pb(m) for m in self.engine.metric_series(job_id)]
