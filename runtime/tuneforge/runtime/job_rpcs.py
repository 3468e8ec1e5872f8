"""Job resources on the wire: conversions to ``tuneforge.common.v1``.

The engine stores a job's params and result as JSON dicts (what the service put in the spec,
what the worker reported). On the wire they are ``google.protobuf.Any`` packing the kind's
typed message (``JobKind.params_type`` / ``result_type``), converted by :func:`to_message`:

* keys the message does not declare are dropped (specs carry internal paths such as
  ``job_dir``; a worker may report more than the contract promises), ``None`` = unset;
* an enum field takes the domain's lower-case word (``"bf16"`` → ``PRECISION_BF16``: the
  enum's prefix, upper-cased), a repeated field a single value as a one-item list;
* a value of the wrong type is a bug: conversion raises ``ParseError`` (INTERNAL), which the
  table test of every kind pins down.

A kind without a type gets an empty Any. The RPCs over these live in
:mod:`tuneforge.runtime.job_service`.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping

from google.protobuf import any_pb2, descriptor, duration_pb2, json_format, timestamp_pb2
from google.protobuf.message import Message

from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import Event, Job, JobEngine, JobKind

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


def _jsonable(value: Any, field: descriptor.FieldDescriptor | None = None) -> Any:
    """A stored value in the JSON form json_format parses for ``field``."""
    if isinstance(value, (list, tuple)) and field is not None and not field.is_repeated:
        return None
    if field is not None and field.is_repeated and not isinstance(value, (list, tuple, dict)):
        value = [value]
    if isinstance(value, dict):
        if field is not None and field.message_type is not None and not field.message_type.GetOptions().map_entry:
            return _normalised(value, field.message_type)
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, _element(field)) for v in value if v is not None]
    if field is not None and field.enum_type is not None and isinstance(value, str):
        names = field.enum_type.values_by_name
        if value in names:
            return value
        prefix = field.enum_type.values[0].name.removesuffix("UNSPECIFIED")
        return prefix + value.strip().upper().replace("-", "_")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class _Element:
    """A repeated field seen as one of its elements (for :func:`_jsonable`)."""

    def __init__(self, field: descriptor.FieldDescriptor) -> None:
        self.message_type = field.message_type
        self.enum_type = field.enum_type
        self.is_repeated = False


def _element(field: descriptor.FieldDescriptor | None) -> Any:
    return _Element(field) if field is not None else None


def _normalised(data: Mapping[str, Any], desc: descriptor.Descriptor) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        field = desc.fields_by_name.get(key)
        if field is None or value is None:
            continue
        converted = _jsonable(value, field)
        if converted is not None:
            out[key] = converted
    return out


def to_message(data: Mapping[str, Any] | None, cls: type[Message]) -> Message:
    """``data`` (a stored params/result dict) as a ``cls`` message; see the module docstring."""
    msg = cls()
    if data:
        json_format.ParseDict(_normalised(data, cls.DESCRIPTOR), msg)
    return msg


def pack(data: Mapping[str, Any] | None, cls: type[Message] | None) -> any_pb2.Any:
    out = any_pb2.Any()
    if cls is not None and data:
        out.Pack(to_message(data, cls))
    return out


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
    tokens = data.get("tokens_per_second")
    if isinstance(tokens, (int, float)) and not isinstance(tokens, bool):
        msg.tokens_per_second = float(tokens)
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


def job_pb(job: Job, kinds: Mapping[str, JobKind] | None = None) -> common_pb2.Job:
    """The wire Job; ``kinds`` (the engine's) gives the params/result types to pack."""
    kind = (kinds or {}).get(job.kind)
    msg = common_pb2.Job(
        id=job.id,
        service=job.service,
        kind=job.kind,
        state=_STATES.get(job.state, common_pb2.Job.STATE_UNSPECIFIED),
        progress=progress_pb(job.progress),
        metrics=metrics_pb(job.metrics),
        error_reason=job.error_reason,
        error_message=job.error_message,
        params=pack(job.params, kind.params_type if kind else None),
        result=pack(job.result, kind.result_type if kind else None),
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
        msg.job.CopyFrom(job_pb(job, engine.kinds))
    elif event.type == "progress":
        msg.progress.CopyFrom(progress_pb(event.data))
    elif event.type == "metrics":
        msg.metrics.CopyFrom(metrics_pb(event.data))
    elif event.type == "checkpoint":
        msg.checkpoint.CopyFrom(common_pb2.Checkpoint(step=int(event.data.get("step") or 0), path=str(event.data.get("path", ""))))
    else:
        msg.log.CopyFrom(log_pb(event))
    return msg
