"""Which queued job starts next, and the GPU lock.

Queued jobs start in order. Jobs whose kind needs the GPU take the GPU lock (a ``flock`` on
``<data root>/locks/gpu-<devices>.lock``, so the trainer and tts services share it even in
separate processes); one blocked GPU job keeps later jobs of the same GPU waiting (FIFO per
GPU). Other jobs run up to ``max_parallel_jobs`` at once. Kinds run by a cluster executor
(Kubernetes) take no local lock: the cluster schedules its own GPUs.

On PostgreSQL (replicas, several hosts) the GPU lock is a session advisory lock of the
database keyed by host and devices (:class:`AdvisoryGpuLock`): it holds across replicas on
one host, and PostgreSQL drops it when the holding replica's connection dies (kill -9).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from tuneforge.runtime.jobs.model import QUEUED, Job, JobKind
from tuneforge.runtime.jobs.store import JobStore


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


class AdvisoryGpuLock:
    """The GPU lock on PostgreSQL: ``pg_try_advisory_lock`` on a connection of its own,
    held while the job runs; the key is ``tuneforge-gpu:<host>:<devices>``."""

    def __init__(self, db: Any, host: str, devices: str) -> None:
        self.db = db
        self.name = f"tuneforge-gpu:{host}:{devices or 'default'}"
        self.key = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big", signed=True)
        self._conn: Any = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return False
        conn = self.db.connect()
        try:
            taken = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0])
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing the session frees the lock anyway
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            with contextlib.suppress(Exception):
                conn.close()


class Scheduler:
    def __init__(self, store: JobStore, root: Path, kinds: dict[str, JobKind], max_parallel: int) -> None:
        self.store = store
        self.root = root
        self.kinds = kinds
        self.max_parallel = max(1, max_parallel)
        self._locks: dict[str, GpuLock | AdvisoryGpuLock] = {}
        self._held: dict[str, GpuLock | AdvisoryGpuLock] = {}

    def next_jobs(self) -> list[Job]:
        """Claim (QUEUED → RUNNING) every queued job that may start now, taking its lock."""
        cpu_running = sum(1 for k in self.store.running_kinds() if k in self.kinds and not self.kinds[k].gpu)
        blocked_gpu: set[str] = set()
        started = []
        for job in self.store.in_state(QUEUED):
            kind = self.kinds.get(job.kind)
            if kind is None:
                continue  # served by another process
            lock = None
            if kind.gpu and kind.executor == "local":
                if kind.gpu_devices in blocked_gpu:
                    continue
                lock = self.gpu_lock(kind.gpu_devices)
                if not lock.try_acquire():
                    blocked_gpu.add(kind.gpu_devices)  # keep FIFO order per GPU
                    continue
            elif not kind.gpu and cpu_running >= self.max_parallel:
                continue
            try:
                claimed = self.store.claim_start(job.id)
            except BaseException:
                if lock:
                    lock.release()  # a failed claim (a full database) must not keep the GPU
                raise
            if not claimed:
                if lock:
                    lock.release()
                continue
            if lock:
                self._held[job.id] = lock
            elif not kind.gpu:
                cpu_running += 1
            started.append(job)
        return started

    def hold_for(self, job: Job) -> None:
        """Take the job's GPU lock again for a worker re-attached after a restart (only when
        taken: a lock another job of this process holds stays that job's to release)."""
        kind = self.kinds[job.kind]
        if kind.gpu and job.executor == "local":
            lock = self.gpu_lock(kind.gpu_devices)
            if lock.try_acquire():
                self._held[job.id] = lock

    def held_for_others(self, supervised: set[str]) -> list[str]:
        """Jobs holding a GPU lock that are not among ``supervised`` (a lock nobody will free)."""
        return [job_id for job_id in self._held if job_id not in supervised]

    def release(self, job_id: str) -> None:
        lock = self._held.pop(job_id, None)
        if lock:
            lock.release()

    def release_all(self) -> None:
        for lock in self._held.values():
            lock.release()
        self._held.clear()

    def holds(self, job_id: str) -> bool:
        return job_id in self._held

    def gpu_lock(self, devices: str) -> GpuLock | AdvisoryGpuLock:
        if devices not in self._locks:
            self._locks[devices] = (AdvisoryGpuLock(self.store.db, self.store.host, devices) if self.store.shared
                                    else GpuLock(self.root, devices))  # fmt: skip
        return self._locks[devices]
