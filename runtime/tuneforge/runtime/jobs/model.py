"""What a job is: its states, its row (:class:`Job`), how a kind runs (:class:`JobKind`) and
one entry of its event log (:class:`Event`). Plain data, no I/O."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass
class JobKind:
    """How to run one kind of job.

    ``command(job)`` returns the worker's argv (the spec path is ``job.spec_path``) and
    ``env(job)`` extra environment. ``on_success(job)`` runs in the service after a worker
    exited 0 with a result (register the dataset, the adapter, ...); an exception there
    fails the job with its reason. ``gpu`` jobs take the GPU lock named by ``gpu_devices``.
    ``params_type`` and ``result_type`` are the proto message classes (declared in the
    service's proto, AIP-151 style) that the wire Job's ``params``/``result`` Any pack; the
    stored dicts are converted by :func:`tuneforge.runtime.job_rpcs.to_message`.
    """

    name: str
    service: str
    command: Callable[[Job], list[str]]
    gpu: bool = False
    gpu_devices: str = ""
    env: Callable[[Job], dict[str, str]] | None = None
    on_success: Callable[[Job], Awaitable[None]] | None = None
    on_end: Callable[[Job], Awaitable[None]] | None = None
    executor: str = "local"
    params_type: type | None = None
    result_type: type | None = None
    # Awaited right before the worker starts (GPU lock held); an exception fails the job
    # (WORKER_START_FAILED) and on_end still runs — e.g. vLLM sleeping around GPU work.
    before_start: Callable[[Job], Awaitable[None]] | None = None


@dataclass
class Job:
    id: str
    service: str
    kind: str
    state: str
    params: dict[str, Any]
    create_time: float
    result: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error_reason: str = ""
    error_message: str = ""
    start_time: float | None = None
    end_time: float | None = None
    last_checkpoint: str = ""
    cancel_requested: bool = False
    pid: int | None = None
    pid_start: str | None = None
    last_seq: int = 0
    queue_position: int = 0
    job_dir: Path = Path()
    executor: str = "local"
    external_id: str = ""
    owner: str = ""  # the replica supervising it (jobs.store.JobStore.owner)
    lease_until: float = 0.0
    worker_host: str = ""

    @property
    def spec_path(self) -> Path:
        return self.job_dir / "spec.json"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def worker_ref(self) -> str:
        """How the executor names the worker: a Job name, or the pid ("0" when none yet)."""
        return self.external_id or str(self.pid or 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": self.progress,
            "metrics": self.metrics,
            "error_reason": self.error_reason,
            "error_message": self.error_message,
            "create_time": self.create_time,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "last_checkpoint": self.last_checkpoint,
            "cancel_requested": self.cancel_requested,
        }


@dataclass
class Event:
    seq: int
    time: float
    type: str  # state, progress, metrics, checkpoint, log, result
    data: dict[str, Any]
    wire: Any = field(default=None, repr=False, compare=False)  # its JobEvent, made once for every watcher

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "time": self.time, "type": self.type, "data": self.data},
            ensure_ascii=False,
            default=str,
        )
