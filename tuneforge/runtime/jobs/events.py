"""A job's event log: ``jobs/<id>/events.jsonl`` on disk plus an in-memory ring per job.

Every event has a ``seq`` (1, 2, 3, ... per job, kept in the job's row as ``last_seq``).
Watchers read the ring (the last :data:`RING_SIZE` events) and fall back to the file for
older ones, so an ``after_seq`` replay is exact however far back a client reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tuneforge.runtime.jobs.model import Event, Job
from tuneforge.runtime.jobs.store import JobStore

RING_SIZE = 10_000


class _JobChannel:
    """In-memory ring of a job's recent events plus a wake-up for followers."""

    def __init__(self) -> None:
        self.ring: collections.deque[Event] = collections.deque(maxlen=RING_SIZE)
        self.changed = asyncio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class EventLog:
    def __init__(self, store: JobStore, jobs_dir: Path) -> None:
        self.store = store
        self.jobs_dir = jobs_dir
        self._channels: dict[str, _JobChannel] = {}

    def append(self, job: Job, type_: str, data: dict[str, Any]) -> Event:
        seq = self.store.next_seq(job.id)
        event = Event(seq, time.time(), type_, data)
        job.job_dir.mkdir(parents=True, exist_ok=True)
        with open(job.job_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(event.to_json() + "\n")
        channel = self._channel(job.id)
        channel.ring.append(event)
        channel.notify()
        return event

    def after(self, job_id: str, after_seq: int) -> list[Event]:
        """Stored events with seq > after_seq (ring first, file when the ring lacks them)."""
        channel = self._channels.get(job_id)
        if channel and channel.ring and channel.ring[0].seq <= after_seq + 1:
            return [e for e in channel.ring if e.seq > after_seq]
        return [e for e in self.read_file(job_id) if e.seq > after_seq]

    async def follow(self, job_id: str, after_seq: int, get: Callable[[str], Job],
                     types: set[str] | None, follow: bool) -> AsyncIterator[Event]:  # fmt: skip
        """Replay events after ``after_seq``, then follow live until the job ends."""
        channel = self._channel(job_id)
        last = after_seq
        while True:
            waiter = channel.changed
            for event in self.after(job_id, last):
                last = event.seq
                if types is None or event.type in types:
                    yield event
            job = get(job_id)
            if not follow or (job.terminal and job.last_seq <= last):
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=1.0)

    def read_file(self, job_id: str) -> list[Event]:
        path = self.jobs_dir / job_id / "events.jsonl"
        events: list[Event] = []
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

    def of_type(self, job_id: str, type_: str) -> list[dict[str, Any]]:
        return [e.data for e in self.read_file(job_id) if e.type == type_]

    def resume_offset(self, job: Job, stream: str) -> int:
        """How far into ``worker.<stream>`` the log already reached (to re-attach without
        losing or repeating a line)."""
        key = f"_{stream}"
        offset = 0
        for event in self.read_file(job.id):
            offset = max(offset, int(event.data.get(key, 0)))
        return offset

    def _channel(self, job_id: str) -> _JobChannel:
        if job_id not in self._channels:
            self._channels[job_id] = _JobChannel()
        return self._channels[job_id]
