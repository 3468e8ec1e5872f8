"""Running a worker and seeing it to its end: start it, drain its output into the event log
while it runs, stop it on request (SIGTERM, SIGKILL after the stop timeout), and settle the
job when it is gone (``outcome.decide``, then the kind's ``on_success``/``on_end``).

The worker's stdout/stderr go to files that survive the service, so a restarted service
re-attaches to a worker that still runs (reading on from where the event log left off) and
settles one that died while nobody watched.

Nothing short of a crash leaves a job RUNNING: any exception while supervising (a full disk
under the event log or the database, a bug) stops the worker, ends the job FAILED with a
stable reason (``DISK_FULL`` naming the path and the free space, else
``SUPERVISION_FAILED``), releases the GPU lock and lets the queue go on. When even the end
cannot be recorded (the database is full too), the outcome is kept in memory and recorded
by the next reconcile pass once space is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.executors import Executor, Started
from tuneforge.runtime.jobs.events import EventLog
from tuneforge.runtime.jobs.model import CANCELLED, FAILED, RUNNING, SUCCEEDED, Job, JobKind
from tuneforge.runtime.jobs.outcome import Ending, decide
from tuneforge.runtime.jobs.scheduler import Scheduler
from tuneforge.runtime.jobs.store import JobStore
from tuneforge.runtime.jobs.worker_output import Seen, Tail, parse_worker_line, with_percent
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.storage import DISK_FULL, disk_full_message, free_space, is_disk_full, nearly_full
from tuneforge.runtime.worker_env import worker_env

log = get_logger("tuneforge.jobs")
POLL_SECONDS = 0.2
FAULT_STOP_SECONDS = 10.0  # how long a worker gets to exit on SIGTERM after a supervision fault


def _service_log(message: str, level: str = "info") -> dict[str, Any]:
    return {"level": level, "message": message, "source": "service"}


class Supervisor:
    def __init__(self, store: JobStore, events: EventLog, scheduler: Scheduler, kinds: dict[str, JobKind],
                 executors: dict[str, Executor], stop_timeout: float, wake: Callable[[], None]) -> None:  # fmt: skip
        self.store = store
        self.events = events
        self.scheduler = scheduler
        self.kinds = kinds
        self.executors = executors
        self.stop_timeout = stop_timeout
        self.wake = wake
        self.running: dict[str, asyncio.Task[None]] = {}
        self._killed: set[str] = set()  # jobs we killed after the stop timeout
        self._timers: set[asyncio.Task[None]] = set()
        self._starting: dict[str, asyncio.Event] = {}  # job id -> set by a stop while its start runs
        self._unrecorded: dict[str, tuple[str, str, str]] = {}  # job → (state, reason, message) not yet stored

    def _get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        assert job is not None, job_id
        return job

    # ------------------------------------------------------------------ start / re-attach
    def launch(self, job: Job) -> None:
        self.running[job.id] = asyncio.create_task(self._guarded(job.id, self._run(job.id)))

    async def _guarded(self, job_id: str, work: Any) -> None:
        """Run one job's supervision; any exception ends the job instead of orphaning it.
        If even ending it fails, what the job held (the GPU lock, its place in ``running``)
        is let go now, and the next reconcile pass takes up a job still RUNNING (re-attached
        if its worker runs, else ended): the queue never waits on a supervision that is gone."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever broke, the job must end
            try:
                await self._fail_on_fault(job_id, exc)
            except Exception:  # noqa: BLE001 - a job still RUNNING is re-attached or ended by reconcile
                self._let_go(job_id)

    async def reconcile(self) -> None:
        """Re-attach to RUNNING jobs of our kinds that this process does not supervise (left
        by an earlier process) when their worker still runs; otherwise end them. On
        PostgreSQL only a job whose lease ran out (its replica died) is taken, by one replica;
        a local worker on another host cannot be re-attached: the job ends ``WORKER_LOST``,
        resumable from its last checkpoint."""
        for job in self.store.in_state(RUNNING):
            if job.kind not in self.kinds or job.id in self.running:
                continue
            if job.id in self._unrecorded:
                await self.finalize(job.id, *self._unrecorded[job.id])
                continue
            if self.store.shared:
                if job.owner != self.store.owner and job.lease_until >= time.time():
                    continue  # another replica supervises it
                if not self.store.take_over(job.id):
                    continue
                log.info("job_taken_over", job_id=job.id, previous_owner=job.owner)
                if job.executor == "local" and job.worker_host and job.worker_host != self.store.host:
                    self.events.append(job, "log", _service_log(
                        f"the replica supervising this job is gone and its worker ran on {job.worker_host}", "warning"))
                    resumable = f"; resume from {job.last_checkpoint}" if job.last_checkpoint else ""
                    await self.finalize(job.id, FAILED, "WORKER_LOST",
                                        f"the worker's host {job.worker_host} is out of reach{resumable}")
                    continue
            if not await self._worker_alive(job):
                await self._guarded(job.id, self._finish_orphan(job))
                continue
            self.scheduler.hold_for(job)
            self.events.append(job, "log", _service_log("service restarted; re-attached to the running worker"))
            self.running[job.id] = asyncio.create_task(self._guarded(job.id, self._supervise(job, reattach=True)))
            log.info("job_reattached", job_id=job.id, pid=job.pid, executor=job.executor)

    def overlay(self, job: Job) -> Job:
        """Show an end that could not be stored yet (the database is full) as the job's state."""
        if job.id in self._unrecorded and not job.terminal:
            job.state, job.error_reason, job.error_message = self._unrecorded[job.id]
        return job

    async def _run(self, job_id: str) -> None:
        job = self._get(job_id)
        if job.cancel_requested:  # stopped between the claim and here: never start it
            await self.finalize(job.id, CANCELLED, "", "stopped on request before the worker started")
            return
        kind = self.kinds[job.kind]
        executor = self.executors.get(kind.executor)
        try:
            if executor is None:
                raise RuntimeError(f"executor {kind.executor!r} is not configured")
            if kind.before_start:
                await kind.before_start(job)
            argv = kind.command(job)
            env = worker_env(os.environ, {"PYTHONUNBUFFERED": "1", "TUNEFORGE_JOB_ID": job.id})
            if kind.gpu_devices:
                env["CUDA_VISIBLE_DEVICES"] = kind.gpu_devices
            if kind.env:
                env.update(kind.env(job))
            if executor.name == "local" and self.store.db.url:  # workers that write catalog rows (PostgreSQL)
                env["TUNEFORGE_DATABASE_URL"] = self.store.db.url
            started = await self._start_unless_stopped(job, executor, argv, env)
            if started is None:
                await self.finalize(job.id, CANCELLED, "", "stopped on request while the worker was starting")
                return
        except Exception as exc:  # noqa: BLE001
            if is_disk_full(exc):
                raise
            await self.finalize(job.id, FAILED, "WORKER_START_FAILED", f"could not start the worker: {exc}")
            return
        local = executor.name == "local"
        self.store.set_worker(job.id, int(started.ref) if local else None, started.start_marker, executor.name, started.ref)
        job = self._get(job.id)
        if job.cancel_requested:  # the stop came while the worker was starting: its SIGTERM had no pid
            self._signal(job, signal.SIGTERM)
        self.events.append(job, "state", job.snapshot())
        where = f"pid {started.ref}" if local else f"{executor.name} {started.ref}"
        self.events.append(job, "log", _service_log(f"worker started ({where}): {' '.join(argv)}"))
        log.info("job_started", job_id=job.id, kind=job.kind, executor=executor.name, ref=started.ref)
        await self._supervise(job)

    async def _start_unless_stopped(self, job: Job, executor: Executor, argv: list[str],
                                    env: dict[str, str]) -> Started | None:
        """The executor's start, unless a stop comes first (None then): a start that hangs (a
        Kubernetes API that does not answer, retried for its whole budget) is abandoned at
        the stop, and the executor cleans up what a half-done start may have made."""
        stopped = self._starting[job.id] = asyncio.Event()
        start = asyncio.ensure_future(executor.start(
            job.id, argv, env, job.job_dir, job.job_dir / "worker.out", job.job_dir / "worker.err"))
        stop = asyncio.ensure_future(stopped.wait())
        try:
            await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            self._starting.pop(job.id, None)
            if not start.done():
                start.cancel()
                await asyncio.wait({start})  # its clean-up ends; an outer cancel still propagates
        return None if start.cancelled() else start.result()

    # ------------------------------------------------------------------ watching
    async def _supervise(self, job: Job, reattach: bool = False) -> None:
        out, err = self._tails(job, resume=reattach)
        seen = Seen()
        executor = self.executors[job.executor]
        stopping = job.cancel_requested
        while True:
            done, returncode = await executor.poll(job.id, job.worker_ref, job.pid_start, POLL_SECONDS)
            await self._drain_through_outages(job, out, err, seen, final=done)
            if done:
                break
            if self.store.shared and not stopping and self._get(job.id).cancel_requested:
                stopping = True  # the stop came through another replica: this one holds the worker
                self.stop(self._get(job.id))
        await self._settle(job.id, Ending(rc=returncode, saw_result=seen.result, error=seen.error, reattached=reattach))

    def _tails(self, job: Job, resume: bool) -> tuple[Tail, Tail]:
        """Readers of the worker's stdout/stderr, from where the event log left off if resuming."""
        return tuple(  # type: ignore[return-value]
            Tail(job.job_dir / f"worker.{stream}", self.events.resume_offset(job, stream) if resume else 0)
            for stream in ("out", "err")
        )

    async def _drain_through_outages(self, job: Job, out: Tail, err: Tail, seen: Seen, final: bool) -> None:
        """:meth:`_drain`, waiting out a database that is down (PostgreSQL restarting): the
        worker's output stays in its files and is stored, once, when the database is back."""
        while True:
            try:
                self._drain(job, out, err, seen, final)
                return
            except TuneforgeError as exc:
                if exc.reason != "DATABASE_UNAVAILABLE":
                    raise
                log.warning("job_waits_for_database", job_id=job.id, error=str(exc))
                await asyncio.sleep(1.0)

    def _drain(self, job: Job, out: Tail, err: Tail, seen: Seen, final: bool = False) -> None:
        """Store what the worker wrote since the last call: events, its result, its error.
        ``final`` (the worker is gone): read to the end, unended last lines included. A batch
        that could not be stored is read again next time (the offsets go back with it)."""
        while True:
            before = (out.offset, err.offset)
            try:
                with self.store.db.transaction():  # one commit per batch of lines, not per event
                    self._drain_once(job, out, err, seen, final)
            except BaseException:
                out.offset, err.offset = before
                raise
            if not final or (out.offset, err.offset) == before:
                return

    def _drain_once(self, job: Job, out: Tail, err: Tail, seen: Seen, final: bool) -> None:
        for line, offset in out.read_lines(final):
            kind_, data = parse_worker_line(line)
            if kind_ == "result":
                seen.result = True
                self.store.set_result(job.id, data.get("data", {}))
                kind_, data = "log", _service_log("worker reported its result")
            elif kind_ == "error":
                seen.error = data
                message = f"{data.get('reason', 'WORKER_ERROR')}: {data.get('message', '')}"
                kind_, data = "log", {"level": "error", "message": message, "source": "worker"}
            self._ingest(job, kind_, data, ("out", offset))
        for line, offset in err.read_lines(final):
            self._ingest(job, "log", {"level": "info", "message": line, "source": "stderr"}, ("err", offset))

    def _ingest(self, job: Job, type_: str, data: dict[str, Any], source: tuple[str, int]) -> None:
        if type_ == "progress":
            data = with_percent(data)
            self.store.set_progress(job.id, data)
        elif type_ == "metrics":
            self.store.merge_metrics(job.id, data)
        elif type_ == "checkpoint":
            self.store.set_last_checkpoint(job.id, str(data.get("path", "")))
        self.events.append(job, type_, {**data, f"_{source[0]}": source[1]})

    async def _finish_orphan(self, job: Job) -> None:
        """A job found RUNNING at start whose worker is gone: read what it left, then end it."""
        out, err = self._tails(job, resume=True)
        seen = Seen()
        self._drain(job, out, err, seen, final=True)
        self.events.append(job, "log", _service_log("service restarted and found the worker gone", "warning"))
        await self._settle(job.id, Ending(rc=None, saw_result=seen.result, error=seen.error, reattached=True))

    # ------------------------------------------------------------------ ending
    async def _settle(self, job_id: str, seen: Ending) -> None:
        job = self._get(job_id)
        killed = job_id in self._killed
        self._killed.discard(job_id)
        stored = job.result or {}  # the last result the worker reported, before a restart too
        ending = Ending(rc=seen.rc, saw_result=seen.saw_result or bool(stored), error=seen.error,
                        stopped=bool(stored.get("stopped")), reattached=seen.reattached,
                        cancel_requested=job.cancel_requested, killed_after_timeout=killed,
                        last_checkpoint=job.last_checkpoint, stop_timeout=self.stop_timeout,
                        disk_full=self._disk_full_note(job))  # fmt: skip
        outcome = decide(ending)
        if outcome.state == SUCCEEDED and (failure := await self._on_success(job_id)):
            await self.finalize(job_id, FAILED, *failure)
            return
        await self.finalize(job_id, outcome.state, outcome.reason, outcome.message)

    @staticmethod
    def _disk_full_note(job: Job) -> str:
        if not nearly_full(job.job_dir):
            return ""
        return f"disk full: the data root holding {job.job_dir} has {free_space(job.job_dir)}"

    async def _fail_on_fault(self, job_id: str, exc: Exception) -> None:
        """Supervision broke: stop the worker, end the job FAILED with why, free its GPU."""
        if is_disk_full(exc):
            reason, message = DISK_FULL, disk_full_message(exc, self.events.jobs_dir / job_id)
        else:
            reason, message = "SUPERVISION_FAILED", f"the service could not supervise the job: {type(exc).__name__}: {exc}"
        job = None
        with contextlib.suppress(Exception):
            job = self._get(job_id)
            self.events.append(job, "log", _service_log(f"{reason}: {message}; stopping the worker", "error"))
        if job is not None:
            await self._stop_now(job)
        outcome = decide(Ending(fault=(reason, message)))
        await self.finalize(job_id, outcome.state, outcome.reason, outcome.message)
        log.error("job_supervision_failed", job_id=job_id, reason=reason, error=message, exc_info=exc)

    async def _stop_now(self, job: Job) -> None:
        """SIGTERM, then SIGKILL after :data:`FAULT_STOP_SECONDS`: nobody records its work."""
        executor = self.executors.get(job.executor)
        if executor is None or not (job.external_id or job.pid):
            return
        with contextlib.suppress(Exception):
            await executor.signal(job.worker_ref, job.pid_start, signal.SIGTERM, FAULT_STOP_SECONDS)
            deadline = time.monotonic() + FAULT_STOP_SECONDS
            while time.monotonic() < deadline and await executor.alive(job.worker_ref, job.pid_start):
                await asyncio.sleep(0.1)
            if await executor.alive(job.worker_ref, job.pid_start):
                await executor.signal(job.worker_ref, job.pid_start, signal.SIGKILL, 0)
        executor.forget(job.id)

    async def _on_success(self, job_id: str) -> tuple[str, str] | None:
        """Run the kind's ``on_success``; (reason, message) when it failed."""
        kind = self.kinds[self._get(job_id).kind]
        if not kind.on_success:
            return None
        try:
            await kind.on_success(self._get(job_id))
        except TuneforgeError as exc:
            return exc.reason, str(exc)
        except Exception as exc:  # noqa: BLE001
            log.exception("on_success_failed", job_id=job_id)
            return "RESULT_HANDLING_FAILED", f"{type(exc).__name__}: {exc}"
        return None

    async def finalize(self, job_id: str, state: str, reason: str, message: str) -> None:
        """Record the end, tell watchers, free what the job held. Storage may be failing
        here too: an end that cannot be stored is retried by :meth:`reconcile`, and a final
        event that cannot be written still reaches live watchers."""
        try:
            self.store.finish(job_id, state, reason, message)
        except Exception as exc:  # noqa: BLE001
            first = job_id not in self._unrecorded  # logged once, not at every retry
            self._unrecorded[job_id] = (state, reason, message)
            self._let_go(job_id)
            if first:
                log.error("job_end_not_recorded", job_id=job_id, state=state, reason=reason, error=str(exc))
            return
        self._unrecorded.pop(job_id, None)
        try:
            job = self._get(job_id)
            try:
                self.events.append(job, "state", job.snapshot())
            except Exception as exc:  # noqa: BLE001
                self.events.publish_only(job, "state", job.snapshot())
                log.error("job_end_event_not_stored", job_id=job_id, error=str(exc))
            log.info("job_ended", job_id=job_id, state=state, reason=reason)
        except BaseException:
            self._let_go(job_id)  # the end is stored: whatever failed after it, free the queue
            raise
        await self.ended(job)

    def _let_go(self, job_id: str) -> None:
        """Free what a job held in this process (its GPU lock, its place in ``running``) and
        wake the dispatcher. Called first on every way out, so nothing after it can keep
        the queue blocked."""
        self.scheduler.release(job_id)
        self.running.pop(job_id, None)
        self.wake()

    def renew_leases(self) -> None:
        """PostgreSQL: extend this replica's hold on the jobs it supervises; a job another
        replica took over meanwhile (this one could not renew in time) is let go here,
        its worker untouched (the new holder supervises it)."""
        if not self.store.shared:
            return
        ids = list(self.running)
        held = self.store.renew_leases(ids)
        for job_id in ids:
            if job_id not in held and (task := self.running.pop(job_id, None)) is not None:
                log.warning("job_lease_lost", job_id=job_id)
                task.cancel()
                self.scheduler.release(job_id)

    def sweep(self) -> None:
        """The dispatcher's safety net, each tick: a supervision task that died is forgotten
        (reconcile takes its job up again) and a GPU lock held for a job nobody supervises
        is released."""
        for job_id, task in list(self.running.items()):
            if task.done():
                log.warning("job_supervision_lost", job_id=job_id)
                self.running.pop(job_id, None)
        for job_id in self.scheduler.held_for_others(set(self.running)):
            log.warning("gpu_lock_released", job_id=job_id, why="no supervision holds it")
            self.scheduler.release(job_id)

    async def ended(self, job: Job) -> None:
        self._let_go(job.id)
        self.events.release_later(job.id)
        kind = self.kinds.get(job.kind)
        if kind and kind.on_end:
            with contextlib.suppress(Exception):
                await kind.on_end(self._get(job.id))
        self.wake()

    # ------------------------------------------------------------------ stopping
    def stop(self, job: Job) -> None:
        """Graceful stop: SIGTERM now, SIGKILL when the stop timeout passes; a start still
        under way is abandoned (:meth:`_start_unless_stopped`)."""
        if (starting := self._starting.get(job.id)) is not None:
            starting.set()
        self.events.append(job, "log", _service_log("stop requested: the worker saves a checkpoint and exits"))
        self._signal(job, signal.SIGTERM)
        timer = asyncio.create_task(self._kill_after_timeout(job.id))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _kill_after_timeout(self, job_id: str) -> None:
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if self._get(job_id).terminal:
                return
        job = self._get(job_id)
        if not job.terminal:
            self.events.append(job, "log", _service_log("stop timeout reached: killing the worker", "warning"))
            self._killed.add(job_id)
            self._signal(job, signal.SIGKILL)

    def _signal(self, job: Job, sig: int) -> None:
        executor = self.executors.get(job.executor)
        if executor is not None:
            asyncio.create_task(executor.signal(job.worker_ref, job.pid_start, sig, self.stop_timeout))

    async def _worker_alive(self, job: Job) -> bool:
        executor = self.executors.get(job.executor)
        if executor is None or not (job.external_id or job.pid):
            return False
        return await executor.alive(job.worker_ref, job.pid_start)

    async def close(self) -> None:
        for task in [*self.running.values(), *self._timers]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
