"""The job engine's public face: create, read, cancel and follow jobs; start and stop the
dispatcher. The work is done by the parts it wires together — :class:`JobStore` (the table),
:class:`EventLog` (events.jsonl + rings), :class:`Scheduler` (what starts next, the GPU lock)
and :class:`Supervisor` (a worker from start to settled end)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument, not_found
from tuneforge.runtime.executors import Executor, LocalExecutor
from tuneforge.runtime.jobs.events import EventLog
from tuneforge.runtime.jobs.model import QUEUED, RUNNING, Event, Job, JobKind
from tuneforge.runtime.jobs.scheduler import Scheduler
from tuneforge.runtime.jobs.store import JobStore
from tuneforge.runtime.jobs.supervisor import Supervisor
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.storage import is_disk_full
from tuneforge.runtime.store import Store

log = get_logger("tuneforge.jobs")


class JobEngine:
    def __init__(
        self,
        store: Store,
        root: Path,
        *,
        max_parallel_jobs: int = 2,
        stop_timeout: float = 300.0,
        worker_python: str = "",
        executors: dict[str, Executor] | None = None,
        lease_seconds: float = 15.0,
    ) -> None:
        self.executors: dict[str, Executor] = {"local": LocalExecutor(), **(executors or {})}
        self.store = store
        self.root = root
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.stop_timeout = stop_timeout
        self.worker_python = worker_python or sys.executable
        self.kinds: dict[str, JobKind] = {}
        self.job_store = JobStore(store, self.jobs_dir, lease_seconds)
        self.events = EventLog(self.job_store, self.jobs_dir)
        self.scheduler = Scheduler(self.job_store, root, self.kinds, max_parallel_jobs)
        self.supervisor = Supervisor(self.job_store, self.events, self.scheduler, self.kinds, self.executors,
                                     stop_timeout, wake=self._wake_dispatcher)  # fmt: skip
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._closing = False

    # ------------------------------------------------------------------ set-up
    def register_kind(self, kind: JobKind) -> None:
        self.kinds[kind.name] = kind

    async def start(self) -> None:
        """Start dispatching; jobs left RUNNING by an earlier process are reconciled first."""
        self.events.start_listening(asyncio.get_running_loop())
        await self.supervisor.reconcile()
        self._dispatcher = asyncio.create_task(self._dispatch_loop())

    async def close(self, stop_workers: bool = False) -> None:
        """Stop dispatching. Workers keep running (re-attached on the next start) unless
        ``stop_workers``, which stops them gracefully first."""
        self._closing = True
        running = self.supervisor.running
        if stop_workers:
            for job_id in list(running):
                with contextlib.suppress(TuneforgeError):
                    await self.cancel(job_id)
            if running:
                await asyncio.wait(list(running.values()), timeout=self.stop_timeout + 10)
        if self._dispatcher:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        await self.supervisor.close()
        self.scheduler.release_all()
        self.events.stop_listening()
        if self.job_store.shared:
            with contextlib.suppress(Exception):  # the database is down: the leases run out by themselves
                self.job_store.release_leases()

    # ------------------------------------------------------------------ API
    async def create(self, kind: str, params: dict[str, Any], *, request_id: str = "") -> Job:
        if kind not in self.kinds:
            raise invalid_argument("kind", f"unknown job kind {kind!r}")
        spec = self.kinds[kind]
        request_key = f"{spec.service}:{request_id}" if request_id else None
        if request_key and (earlier := self.job_store.by_request_key(request_key)):
            return self.get(earlier.id)
        job_id = "job-" + uuid.uuid4().hex[:12]
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True)
        job = Job(job_id, spec.service, kind, QUEUED, params, time.time(), job_dir=job_dir)
        spec_doc = {**params, "job_id": job_id, "job_dir": str(job_dir), "data_root": str(self.root)}
        tmp = job.spec_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(spec_doc, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(job.spec_path)
        if not self.job_store.insert(job, request_key):  # another process took this request_id first
            shutil.rmtree(job_dir, ignore_errors=True)
            return self.get(self.job_store.by_request_key(request_key).id)  # type: ignore[arg-type, union-attr]
        self.events.append(job, "state", job.snapshot())
        log.info("job_created", job_id=job_id, kind=kind, service=spec.service)
        self._wake.set()
        return self.get(job_id)

    def get(self, job_id: str, service: str | None = None) -> Job:
        if not isinstance(job_id, str) or not job_id or len(job_id) > 64 or "/" in job_id or ".." in job_id:
            raise invalid_argument("id", "not a valid job id", reason="INVALID_JOB_ID")
        job = self.job_store.get(job_id)
        if job is None or (service and job.service != service):
            raise not_found("job", job_id)
        self.supervisor.overlay(job)
        if job.state == QUEUED:
            job.queue_position = self.job_store.queue_position(job)
        return job

    def list(
        self, service: str | Sequence[str], offset: int, limit: int, kinds: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> tuple[list[Job], int]:
        """Jobs of ``service`` (one name or several), newest first; optionally only ``kinds``
        and ``states``."""
        services = [service] if isinstance(service, str) else list(service)
        jobs, total = self.job_store.page(services, offset, limit, kinds, states)
        for job in jobs:
            self.supervisor.overlay(job)
            if job.state == QUEUED:
                job.queue_position = self.job_store.queue_position(job)
        return jobs, total

    async def cancel(self, job_id: str, service: str | None = None) -> Job:
        job = self.get(job_id, service)
        if job.terminal:
            raise failed_precondition("JOB_FINISHED", f"job {job_id} already ended {job.state}", job=job_id)
        if job.state == QUEUED:
            if self.job_store.cancel_queued(job_id):
                job = self.get(job_id)
                self.events.append(job, "state", job.snapshot())
                await self.supervisor.ended(job)
                return self.get(job_id)
            job = self.get(job_id)
        if job.state == RUNNING and not job.cancel_requested:
            self.job_store.request_cancel(job_id)
            if not self.job_store.shared or job.id in self.supervisor.running:
                self.supervisor.stop(job)  # else the replica holding the job stops it
        return self.get(job_id)

    def events_after(self, job_id: str, after_seq: int) -> list[Event]:
        """Stored events with seq > after_seq."""
        return self.events.after(job_id, after_seq)

    async def follow(
        self, job_id: str, after_seq: int = 0, *, types: set[str] | None = None, follow: bool = True
    ) -> AsyncIterator[Event]:
        """Replay events after ``after_seq``, then follow live until the job ends."""
        self.get(job_id)
        if after_seq < 0:
            raise invalid_argument("after_seq", "must be >= 0")
        async for event in self.events.follow(job_id, after_seq, self.get, types, follow):
            yield event

    def metric_series(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
        return self.events.of_type(job_id, "metrics")

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
        return self.events.of_type(job_id, "checkpoint")

    # ------------------------------------------------------------------ dispatch
    def _wake_dispatcher(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        """Start what may start, on every wake-up and at least once a second: a wake-up lost
        while the store could not write costs a second, never the queue."""
        while not self._closing:
            try:
                self.supervisor.renew_leases()
                self.supervisor.sweep()
                await self.supervisor.reconcile()
                for job in self.scheduler.next_jobs():
                    self.supervisor.launch(job)
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                with contextlib.suppress(Exception):  # a log line that cannot be written included
                    if is_disk_full(exc):
                        log.warning("dispatch_waits_for_disk_space", error=str(exc))
                    else:
                        log.exception("dispatch_failed")
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
