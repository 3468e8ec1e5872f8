"""The job engine shared by every service (DESIGN.md, "Jobs").

A job is a row in ``jobs`` (SQLite) plus a directory ``jobs/<id>/`` holding ``spec.json``
(what the worker reads), ``events.jsonl`` (the per-job event log: state changes, progress,
metrics, checkpoints, log lines, each with a ``seq``), and the worker's raw ``worker.out`` /
``worker.err``.

Lifecycle ``QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED``. A dispatcher starts queued
jobs in order: jobs whose kind needs the GPU take the GPU lock (a ``flock`` on a file in the
data root, so it is shared by the trainer and tts services even in separate processes);
others run up to ``max_parallel_jobs`` at once. The worker is a child process in its own
session whose stdout and stderr go to files, which the engine tails: so a service restart
does not lose a running worker — :meth:`JobEngine.start` re-attaches to a worker that still
runs and fails (resumably) one that died while nobody watched.

Watchers read a 10,000-event in-memory ring per job and fall back to ``events.jsonl`` for
older events, so ``after_seq`` replay is exact however far back a client reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.executors import LocalExecutor, Started
from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument, not_found
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.store import Store

log = get_logger("tuneforge.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
RING_SIZE = 10_000
POLL_SECONDS = 0.2

MIGRATIONS = [
    (
        "jobs_0001_jobs",
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            result TEXT NOT NULL DEFAULT '{}',
            progress TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}',
            error_reason TEXT NOT NULL DEFAULT '',
            error_message TEXT NOT NULL DEFAULT '',
            create_time REAL NOT NULL,
            start_time REAL,
            end_time REAL,
            last_checkpoint TEXT NOT NULL DEFAULT '',
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            pid_start TEXT,
            last_seq INTEGER NOT NULL DEFAULT 0,
            request_key TEXT UNIQUE
        );
        CREATE INDEX jobs_by_service ON jobs(service, create_time);
        CREATE INDEX jobs_by_state ON jobs(state, create_time);
        """,
    ),
    (
        "jobs_0002_executor",
        """
        ALTER TABLE jobs ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
        ALTER TABLE jobs ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
        """,
    ),
]


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

    @property
    def spec_path(self) -> Path:
        return self.job_dir / "spec.json"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

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

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "time": self.time, "type": self.type, "data": self.data},
            ensure_ascii=False,
            default=str,
        )


class _JobChannel:
    """In-memory ring of a job's recent events plus a wake-up for followers."""

    def __init__(self) -> None:
        self.ring: collections.deque[Event] = collections.deque(maxlen=RING_SIZE)
        self.changed = asyncio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class GpuLock:
    """A cross-process lock (``flock``) on ``<data root>/locks/gpu-<devices>.lock``."""

    def __init__(self, root: Path, devices: str) -> None:
        label = devices.replace(",", "_") or "default"
        self.path = root / "locks" / f"gpu-{label}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class JobEngine:
    def __init__(
        self,
        store: Store,
        root: Path,
        *,
        max_parallel_jobs: int = 2,
        stop_timeout: float = 300.0,
        worker_python: str = "",
        executors: dict[str, Any] | None = None,
    ) -> None:
        self.executors: dict[str, Any] = {"local": LocalExecutor(), **(executors or {})}
        self.store = store
        self.root = root
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.max_parallel = max(1, max_parallel_jobs)
        self.stop_timeout = stop_timeout
        self.worker_python = worker_python or sys.executable
        self.kinds: dict[str, JobKind] = {}
        self._channels: dict[str, _JobChannel] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, GpuLock] = {}
        self._held: dict[str, GpuLock] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._closing = False
        self._killed: set[str] = set()  # jobs we killed after the stop timeout
        self._timers: set[asyncio.Task[None]] = set()
        store.migrate(MIGRATIONS)

    # ------------------------------------------------------------------ set-up
    def register_kind(self, kind: JobKind) -> None:
        self.kinds[kind.name] = kind

    async def start(self) -> None:
        """Start dispatching; jobs left RUNNING by an earlier process are reconciled first."""
        await self._reconcile_running()
        self._dispatcher = asyncio.create_task(self._dispatch_loop())

    async def _reconcile_running(self) -> None:
        """Re-attach to RUNNING jobs of our kinds that this process does not supervise (left
        by an earlier process) when their worker still runs; otherwise end them."""
        for row in self.store.query("SELECT * FROM jobs WHERE state = ?", (RUNNING,)):
            job = self._from_row(row)
            if job.kind not in self.kinds or job.id in self._running:
                continue
            if not await self._worker_alive(job):
                await self._finish_orphan(job)
                continue
            kind = self.kinds[job.kind]
            if kind.gpu and job.executor == "local":
                lock = self._gpu_lock(kind.gpu_devices)
                lock.try_acquire()
                self._held[job.id] = lock
            await self._append(job, "log", {"level": "info", "message": "service restarted; re-attached to the running worker", "source": "service"})
            self._running[job.id] = asyncio.create_task(self._supervise(job, reattach=True))
            log.info("job_reattached", job_id=job.id, pid=job.pid, executor=job.executor)

    async def close(self, stop_workers: bool = False) -> None:
        """Stop dispatching. Workers keep running (re-attached on the next start) unless
        ``stop_workers``, which stops them gracefully first."""
        self._closing = True
        if stop_workers:
            for job_id in list(self._running):
                with contextlib.suppress(TuneforgeError):
                    await self.cancel(job_id)
            if self._running:
                await asyncio.wait(list(self._running.values()), timeout=self.stop_timeout + 10)
        if self._dispatcher:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for task in [*self._running.values(), *self._timers]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for lock in self._held.values():
            lock.release()
        self._held.clear()

    # ------------------------------------------------------------------ API
    async def create(
        self, kind: str, params: dict[str, Any], *, request_id: str = ""
    ) -> Job:
        if kind not in self.kinds:
            raise invalid_argument("kind", f"unknown job kind {kind!r}")
        spec = self.kinds[kind]
        request_key = f"{spec.service}:{request_id}" if request_id else None
        if request_key:
            row = self.store.query_one("SELECT * FROM jobs WHERE request_key = ?", (request_key,))
            if row:
                return self._from_row(row)
        job_id = "job-" + uuid.uuid4().hex[:12]
        now = time.time()
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True)
        job = Job(job_id, spec.service, kind, QUEUED, params, now, job_dir=job_dir)
        spec_doc = {**params, "job_id": job_id, "job_dir": str(job_dir), "data_root": str(self.root)}
        tmp = job.spec_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(spec_doc, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(job.spec_path)
        self.store.execute(
            "INSERT INTO jobs(id, service, kind, state, params, create_time, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, spec.service, kind, QUEUED, json.dumps(params), now, request_key),
        )
        await self._append(job, "state", job.snapshot())
        log.info("job_created", job_id=job_id, kind=kind, service=spec.service)
        self._wake.set()
        return self.get(job_id)

    def get(self, job_id: str, service: str | None = None) -> Job:
        if not isinstance(job_id, str) or not job_id or len(job_id) > 64 or "/" in job_id or ".." in job_id:
            raise invalid_argument("id", "not a valid job id", reason="INVALID_JOB_ID")
        row = self.store.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None or (service and row["service"] != service):
            raise not_found("job", job_id)
        job = self._from_row(row)
        if job.state == QUEUED:
            job.queue_position = self._queue_position(job)
        return job

    def list(
        self, service: str | Sequence[str], offset: int, limit: int, kinds: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> tuple[list[Job], int]:
        """Jobs of ``service`` (one name or several), newest first; optionally only ``kinds``
        and ``states``."""
        services = [service] if isinstance(service, str) else list(service)
        where, args = f"service IN ({','.join('?' * len(services))})", list(services)
        if kinds:
            where += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        if states:
            where += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        total = self.store.query_one(f"SELECT COUNT(*) AS n FROM jobs WHERE {where}", args)["n"]
        rows = self.store.query(
            f"SELECT * FROM jobs WHERE {where} ORDER BY create_time DESC, rowid DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        jobs = [self._from_row(r) for r in rows]
        for job in jobs:
            if job.state == QUEUED:
                job.queue_position = self._queue_position(job)
        return jobs, total

    async def cancel(self, job_id: str, service: str | None = None) -> Job:
        job = self.get(job_id, service)
        if job.terminal:
            raise failed_precondition(
                "JOB_FINISHED", f"job {job_id} already ended {job.state}", job=job_id
            )
        if job.state == QUEUED:
            claimed = self.store.execute(
                "UPDATE jobs SET state = ?, cancel_requested = 1, end_time = ? WHERE id = ? AND state = ?",
                (CANCELLED, time.time(), job_id, QUEUED),
            ).rowcount
            if claimed:
                job = self.get(job_id)
                await self._append(job, "state", job.snapshot())
                await self._ended(job)
                return self.get(job_id)
            job = self.get(job_id)
        if job.state == RUNNING and not job.cancel_requested:
            self.store.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            await self._append(job, "log", {"level": "info", "message": "stop requested: the worker saves a checkpoint and exits", "source": "service"})
            self._signal(job, signal.SIGTERM)
            timer = asyncio.create_task(self._kill_after_timeout(job_id))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
        return self.get(job_id)

    def events_after(self, job_id: str, after_seq: int) -> list[Event]:
        """Stored events with seq > after_seq (ring first, file when the ring lacks them)."""
        channel = self._channels.get(job_id)
        if channel and channel.ring and channel.ring[0].seq <= after_seq + 1:
            return [e for e in channel.ring if e.seq > after_seq]
        return [e for e in self._read_events_file(job_id) if e.seq > after_seq]

    async def follow(
        self, job_id: str, after_seq: int = 0, *, types: set[str] | None = None, follow: bool = True
    ) -> AsyncIterator[Event]:
        """Replay events after ``after_seq``, then follow live until the job ends."""
        job = self.get(job_id)
        if after_seq < 0:
            raise invalid_argument("after_seq", "must be >= 0")
        channel = self._channel(job_id)
        last = after_seq
        while True:
            waiter = channel.changed
            for event in self.events_after(job_id, last):
                last = event.seq
                if types is None or event.type in types:
                    yield event
            job = self.get(job_id)
            if not follow or (job.terminal and job.last_seq <= last):
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=1.0)

    def metric_series(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
        return [e.data for e in self._read_events_file(job_id) if e.type == "metrics"]

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
        return [e.data for e in self._read_events_file(job_id) if e.type == "checkpoint"]

    # ------------------------------------------------------------------ dispatch
    def _gpu_lock(self, devices: str) -> GpuLock:
        if devices not in self._locks:
            self._locks[devices] = GpuLock(self.root, devices)
        return self._locks[devices]

    def _queue_position(self, job: Job) -> int:
        row = self.store.query_one(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = ? AND (create_time < ? OR (create_time = ? AND id <= ?))",
            (QUEUED, job.create_time, job.create_time, job.id),
        )
        return int(row["n"])

    async def _dispatch_loop(self) -> None:
        while not self._closing:
            try:
                await self._reconcile_running()
                self._dispatch_once()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("dispatch_failed")
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    def _dispatch_once(self) -> None:
        rows = self.store.query(
            "SELECT * FROM jobs WHERE state = ? ORDER BY create_time, rowid", (QUEUED,)
        )
        cpu_running = sum(
            1 for row in self.store.query("SELECT kind FROM jobs WHERE state = ?", (RUNNING,))
            if row["kind"] in self.kinds and not self.kinds[row["kind"]].gpu
        )
        blocked_gpu: set[str] = set()
        for row in rows:
            job = self._from_row(row)
            kind = self.kinds.get(job.kind)
            if kind is None:
                continue  # served by another process
            lock = None
            if kind.gpu and kind.executor != "local":
                pass  # the cluster schedules its own GPUs
            elif kind.gpu:
                if kind.gpu_devices in blocked_gpu:
                    continue
                lock = self._gpu_lock(kind.gpu_devices)
                if not lock.try_acquire():
                    blocked_gpu.add(kind.gpu_devices)  # keep FIFO order per GPU
                    continue
            elif cpu_running >= self.max_parallel:
                continue
            claimed = self.store.execute(
                "UPDATE jobs SET state = ?, start_time = ? WHERE id = ? AND state = ?",
                (RUNNING, time.time(), job.id, QUEUED),
            ).rowcount
            if not claimed:
                if lock:
                    lock.release()
                continue
            if lock:
                self._held[job.id] = lock
            elif not kind.gpu:
                cpu_running += 1
            self._running[job.id] = asyncio.create_task(self._run(job.id))

    async def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        kind = self.kinds[job.kind]
        executor = self.executors.get(kind.executor)
        try:
            if executor is None:
                raise RuntimeError(f"executor {kind.executor!r} is not configured")
            if kind.before_start:
                await kind.before_start(job)
            argv = kind.command(job)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNEFORGE_JOB_ID": job.id}
            if kind.gpu_devices:
                env["CUDA_VISIBLE_DEVICES"] = kind.gpu_devices
            if kind.env:
                env.update(kind.env(job))
            started: Started = await executor.start(job.id, argv, env, job.job_dir, job.job_dir / "worker.out", job.job_dir / "worker.err")
        except Exception as exc:  # noqa: BLE001
            await self._finalize(job.id, FAILED, "WORKER_START_FAILED", f"could not start the worker: {exc}")
            return
        local = executor.name == "local"
        self.store.execute(
            "UPDATE jobs SET pid = ?, pid_start = ?, executor = ?, external_id = ? WHERE id = ?",
            (int(started.ref) if local else None, started.start_marker, executor.name, started.ref, job.id),
        )
        job = self.get(job.id)
        await self._append(job, "state", job.snapshot())
        where = f"pid {started.ref}" if local else f"{executor.name} {started.ref}"
        await self._append(job, "log", {"level": "info", "message": f"worker started ({where}): {' '.join(argv)}", "source": "service"})
        log.info("job_started", job_id=job.id, kind=job.kind, executor=executor.name, ref=started.ref)
        await self._supervise(job)

    async def _supervise(self, job: Job, reattach: bool = False) -> None:
        out, err = self._tails(job, resume=reattach)
        seen = _Seen()
        executor = self.executors[job.executor]
        while True:
            done, returncode = await executor.poll(job.id, job.external_id or str(job.pid or 0), job.pid_start, POLL_SECONDS)
            await self._drain(job, out, err, seen)
            if done:
                break
        await self._settle(self.get(job.id), returncode, seen.result, seen.error, reattached=reattach)

    def _tails(self, job: Job, resume: bool) -> tuple[_Tail, _Tail]:
        """Readers of the worker's stdout/stderr, from where the event log left off if resuming."""
        return tuple(  # type: ignore[return-value]
            _Tail(job.job_dir / f"worker.{stream}", self._resume_offset(job, stream) if resume else 0)
            for stream in ("out", "err")
        )

    async def _drain(self, job: Job, out: _Tail, err: _Tail, seen: _Seen) -> None:
        """Store what the worker wrote since the last call: events, its result, its error."""
        for line, offset in out.read_lines():
            kind_, data = _parse_worker_line(line)
            if kind_ == "result":
                seen.result = True
                self.store.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(data.get("data", {})), job.id))
                kind_, data = "log", {"level": "info", "message": "worker reported its result", "source": "service"}
            elif kind_ == "error":
                seen.error = data
                message = f"{data.get('reason', 'WORKER_ERROR')}: {data.get('message', '')}"
                kind_, data = "log", {"level": "error", "message": message, "source": "worker"}
            await self._ingest(job, kind_, data, ("out", offset))
        for line, offset in err.read_lines():
            await self._ingest(job, "log", {"level": "info", "message": line, "source": "stderr"}, ("err", offset))

    async def _settle(self, job: Job, rc: int | None, saw_result: bool, error: dict[str, Any] | None, reattached: bool) -> None:
        cancel = job.cancel_requested
        if cancel and (rc == 0 or rc is None or rc < 0):
            if job.id in self._killed:
                self._killed.discard(job.id)
                await self._finalize(job.id, CANCELLED, "STOP_TIMEOUT", f"the worker did not stop within {self.stop_timeout:.0f}s and was killed")
            elif rc == 0 or rc is None:
                await self._finalize(job.id, CANCELLED, "", "stopped on request")
            else:
                await self._finalize(job.id, CANCELLED, "", f"stopped on request before the worker could save (it ended on signal {-rc})")
            return
        if rc == 0 or (rc is None and saw_result):
            kind = self.kinds[job.kind]
            if kind.on_success:
                try:
                    await kind.on_success(self.get(job.id))
                except TuneforgeError as exc:
                    await self._finalize(job.id, FAILED, exc.reason, str(exc))
                    return
                except Exception as exc:  # noqa: BLE001
                    log.exception("on_success_failed", job_id=job.id)
                    await self._finalize(job.id, FAILED, "RESULT_HANDLING_FAILED", f"{type(exc).__name__}: {exc}")
                    return
            await self._finalize(job.id, SUCCEEDED, "", "")
            return
        if error:
            reason, message = error.get("reason") or "WORKER_ERROR", error.get("message") or "the worker failed"
        elif rc is None:
            reason, message = "WORKER_LOST", "the worker ended while the service was not watching it"
        elif rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            reason = "WORKER_KILLED"
            message = f"worker killed by {name}" + (" (out of memory, or killed by hand)" if rc == -signal.SIGKILL else "")
        else:
            reason, message = "WORKER_EXITED", f"worker exited with code {rc}"
        ckpt = self.get(job.id).last_checkpoint
        if ckpt:
            message += f"; last checkpoint {ckpt} (resumable)"
        await self._finalize(job.id, FAILED, reason, message)

    async def _finish_orphan(self, job: Job) -> None:
        """A job found RUNNING at start whose worker is gone: read what it left, then end it."""
        out, err = self._tails(job, resume=True)
        seen = _Seen()
        await self._drain(job, out, err, seen)
        await self._append(job, "log", {"level": "warning", "message": "service restarted and found the worker gone", "source": "service"})
        await self._settle(self.get(job.id), None, seen.result, seen.error, reattached=True)

    async def _kill_after_timeout(self, job_id: str) -> None:
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if self.get(job_id).terminal:
                return
        job = self.get(job_id)
        if not job.terminal:
            await self._append(job, "log", {"level": "warning", "message": "stop timeout reached: killing the worker", "source": "service"})
            self._killed.add(job_id)
            self._signal(job, signal.SIGKILL)

    def _signal(self, job: Job, sig: int) -> None:
        executor = self.executors.get(job.executor)
        if executor is not None:
            asyncio.create_task(executor.signal(job.external_id or str(job.pid or 0), job.pid_start, sig, self.stop_timeout))

    async def _worker_alive(self, job: Job) -> bool:
        executor = self.executors.get(job.executor)
        if executor is None or not (job.external_id or job.pid):
            return False
        return await executor.alive(job.external_id or str(job.pid), job.pid_start)

    # ------------------------------------------------------------------ events
    async def _ingest(self, job: Job, type_: str, data: dict[str, Any], source: tuple[str, int]) -> None:
        if type_ == "progress":
            progress = _with_percent(data)
            self.store.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job.id))
            data = progress
        elif type_ == "metrics":
            current = self.get(job.id).metrics
            current.update({k: v for k, v in data.items() if v is not None})
            self.store.execute("UPDATE jobs SET metrics = ? WHERE id = ?", (json.dumps(current), job.id))
        elif type_ == "checkpoint":
            self.store.execute("UPDATE jobs SET last_checkpoint = ? WHERE id = ?", (str(data.get("path", "")), job.id))
        data = {**data, f"_{source[0]}": source[1]}
        await self._append(job, type_, data)

    async def _append(self, job: Job, type_: str, data: dict[str, Any]) -> Event:
        with self.store.transaction() as conn:
            seq = conn.execute("SELECT last_seq FROM jobs WHERE id = ?", (job.id,)).fetchone()
            seq = (seq["last_seq"] if seq else 0) + 1
            conn.execute("UPDATE jobs SET last_seq = ? WHERE id = ?", (seq, job.id))
        event = Event(seq, time.time(), type_, data)
        job.job_dir.mkdir(parents=True, exist_ok=True)
        with open(job.job_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(event.to_json() + "\n")
        channel = self._channel(job.id)
        channel.ring.append(event)
        channel.notify()
        return event

    def _channel(self, job_id: str) -> _JobChannel:
        if job_id not in self._channels:
            self._channels[job_id] = _JobChannel()
        return self._channels[job_id]

    def _read_events_file(self, job_id: str) -> list[Event]:
        path = self.jobs_dir / job_id / "events.jsonl"
        events = []
        if not path.exists():
            return events
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-write
                events.append(Event(raw["seq"], raw["time"], raw["type"], raw["data"]))
        return events

    def _resume_offset(self, job: Job, stream: str) -> int:
        key = f"_{stream}"
        offset = 0
        for event in self._read_events_file(job.id):
            offset = max(offset, int(event.data.get(key, 0)))
        return offset

    async def _finalize(self, job_id: str, state: str, reason: str, message: str) -> None:
        self.store.execute(
            "UPDATE jobs SET state = ?, end_time = ?, error_reason = ?, error_message = ?, pid = NULL"
            " WHERE id = ? AND state NOT IN (?, ?, ?)",
            (state, time.time(), reason, message, job_id, *TERMINAL),
        )
        job = self.get(job_id)
        await self._append(job, "state", job.snapshot())
        log.info("job_ended", job_id=job_id, state=state, reason=reason)
        await self._ended(job)

    async def _ended(self, job: Job) -> None:
        lock = self._held.pop(job.id, None)
        if lock:
            lock.release()
        self._running.pop(job.id, None)
        kind = self.kinds.get(job.kind)
        if kind and kind.on_end:
            with contextlib.suppress(Exception):
                await kind.on_end(self.get(job.id))
        self._wake.set()

    def _from_row(self, row: Any) -> Job:
        return Job(
            id=row["id"], service=row["service"], kind=row["kind"], state=row["state"],
            params=json.loads(row["params"]), create_time=row["create_time"],
            result=json.loads(row["result"]), progress=json.loads(row["progress"]),
            metrics=json.loads(row["metrics"]), error_reason=row["error_reason"],
            error_message=row["error_message"], start_time=row["start_time"],
            end_time=row["end_time"], last_checkpoint=row["last_checkpoint"],
            cancel_requested=bool(row["cancel_requested"]), pid=row["pid"],
            pid_start=row["pid_start"], last_seq=row["last_seq"],
            job_dir=self.jobs_dir / row["id"], executor=row["executor"], external_id=row["external_id"],
        )


@dataclass
class _Seen:
    """What a worker has reported so far that decides how its job ends."""

    result: bool = False
    error: dict[str, Any] | None = None


class _Tail:
    """Reads complete new lines of a growing file from a byte offset."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset

    def read_lines(self) -> list[tuple[str, int]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(8 * 1024 * 1024)
        except FileNotFoundError:
            return []
        lines = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            raw = data[start:nl]
            start = nl + 1
            for piece in raw.replace(b"\r", b"\n").split(b"\n"):
                text = piece.decode("utf-8", errors="replace").rstrip()
                if text:
                    lines.append((text, self.offset + start))
        self.offset += start
        return lines


def _parse_worker_line(line: str) -> tuple[str, dict[str, Any]]:
    if line.startswith("{"):
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            raw = None
        if isinstance(raw, dict) and isinstance(raw.get("event"), str):
            kind = raw.pop("event")
            raw.pop("time", None)
            if kind == "log":
                return "log", {"level": str(raw.get("level", "info")), "message": str(raw.get("message", "")), "source": "worker"}
            if kind in {"progress", "metrics", "checkpoint", "result", "error"}:
                return kind, raw
    return "log", {"level": "info", "message": line, "source": "worker"}


def _with_percent(progress: dict[str, Any]) -> dict[str, Any]:
    out = dict(progress)
    step, total = out.get("step"), out.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        out["percent"] = round(100.0 * min(step, total) / total, 2)
    return out
