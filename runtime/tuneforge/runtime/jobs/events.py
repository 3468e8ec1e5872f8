"""A job's event log: ``jobs/<id>/events.jsonl`` on disk plus an in-memory ring per live job.

Every event has a ``seq`` (1, 2, 3, ... per job, kept in the job's row as ``last_seq``).
Watchers read the ring (the last :data:`RING_SIZE` events) and fall back to the file for
older ones, so an ``after_seq`` replay is exact however far back a client reconnects.

Storage can fail (a full disk). An event's line is written whole or not at all, and
``last_seq`` is committed only after it is written, so the row never counts an event the
log lacks and watchers never wait for one. An event that must reach watchers though it
cannot be stored (a job's final state on a full disk) goes to the ring only.

Rings cost memory (up to 10,000 events each), so only live jobs keep one: a job's ring is
dropped :data:`RING_LINGER_SECONDS` after it ends (time for its followers to read the end
from memory), and finished jobs are replayed from ``events.jsonl``.

On PostgreSQL (replicas) the ``job_events`` table is the log: the seq comes from the job's
row (locked while the event is stored, so two replicas never number one twice), events.jsonl
is still written in the same transaction. Rings fill from the table, never at append: a
listener thread (``LISTEN tuneforge_job_events``) hears each committed event of any replica
and one read brings the job's ring up to date for all of this replica's followers (a
follower whose ring does not reach back far enough reads the table). A notification missed
while the listener reconnects is caught up on by its reconnect and by the followers'
once-a-second check.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tuneforge.runtime.jobs.model import TERMINAL, Event, Job
from tuneforge.runtime.jobs.store import JobStore
from tuneforge.runtime.storage import append_line

RING_SIZE = 10_000
RING_LINGER_SECONDS = 2.0
_TAIL_BYTES = 64 * 1024


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
        self._seqs: dict[str, int] = {}  # last seq given out, per live job
        self._listener: threading.Thread | None = None
        self._stop_listening = threading.Event()

    def append(self, job: Job, type_: str, data: dict[str, Any]) -> Event:
        """Store one event and hand it to watchers; raises the storage error if the line
        cannot be written (nothing is counted then)."""
        if self.store.shared:
            return self._append_shared(job, type_, data)
        event = Event(self._next_seq(job.id), time.time(), type_, data)
        job.job_dir.mkdir(parents=True, exist_ok=True)
        append_line(job.job_dir / "events.jsonl", event.to_json() + "\n")
        self._seqs[job.id] = event.seq
        self._publish(job.id, event)
        self.store.set_last_seq(job.id, event.seq)
        return event

    def _append_shared(self, job: Job, type_: str, data: dict[str, Any]) -> Event:
        def write(seq: int) -> Event:
            event = Event(seq, time.time(), type_, data)
            job.job_dir.mkdir(parents=True, exist_ok=True)
            append_line(job.job_dir / "events.jsonl", event.to_json() + "\n")
            return event

        event = self.store.add_event(job.id, write)
        self._seqs[job.id] = event.seq  # the ring fills from the table once committed (NOTIFY)
        return event

    # ------------------------------------------------------------------ LISTEN (PostgreSQL)
    def start_listening(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake this replica's followers whenever any replica stores an event."""
        if not self.store.shared or self._listener is not None:
            return
        self._stop_listening.clear()
        self._listener = threading.Thread(target=self._listen, args=(loop,), name="tuneforge-job-events", daemon=True)
        self._listener.start()

    def stop_listening(self) -> None:
        self._stop_listening.set()
        if self._listener is not None:
            self._listener.join(5)
            self._listener = None

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop_listening.is_set():
            try:
                conn = self.store.db.connect()
            except Exception:  # noqa: BLE001 - the database is down: followers poll meanwhile
                self._stop_listening.wait(1.0)
                continue
            try:
                conn.execute("LISTEN tuneforge_job_events")
                with contextlib.suppress(RuntimeError):  # (re)connected: catch up on what was missed
                    loop.call_soon_threadsafe(self._refresh_all)
                while not self._stop_listening.is_set():
                    for note in conn.notifies(timeout=0.2):
                        job_id, _, seq = note.payload.rpartition(":")
                        with contextlib.suppress(RuntimeError, ValueError):  # the loop closed
                            loop.call_soon_threadsafe(self._wake_followers, job_id, int(seq))
            except Exception:  # noqa: BLE001 - a dropped connection: listen again
                self._stop_listening.wait(0.5)
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def _wake_followers(self, job_id: str, seq: int) -> None:
        """An event ``seq`` of ``job_id`` was committed (by any replica): bring the job's ring
        up to date with one read of the table, for all of this replica's followers at once."""
        channel = self._channels.get(job_id)
        if channel is not None and (not channel.ring or channel.ring[-1].seq < seq):
            self.refresh(job_id, seq - 1)

    def refresh(self, job_id: str, start_after: int | None = None) -> None:
        """Append the job's committed events newer than its ring (PostgreSQL), wake followers."""
        channel = self._channels.get(job_id)
        if channel is None:
            return
        ring = channel.ring
        last = ring[-1].seq if ring else start_after
        if last is not None:
            with contextlib.suppress(Exception):  # the database is down: followers poll on
                ring.extend(self.store.events_after(job_id, last))
        channel.notify()

    def _refresh_all(self) -> None:
        for job_id in list(self._channels):
            self.refresh(job_id)

    def publish_only(self, job: Job, type_: str, data: dict[str, Any]) -> Event:
        """Hand an event to live watchers without storing it (the log keeps a gap there)."""
        event = Event(self._next_seq(job.id), time.time(), type_, data)
        self._seqs[job.id] = event.seq
        self._publish(job.id, event)
        return event

    def release_later(self, job_id: str) -> None:
        """Drop an ended job's ring once its followers have had time to read the end."""
        channel = self._channels.get(job_id)
        if channel is not None:
            channel.notify()
        asyncio.get_running_loop().call_later(RING_LINGER_SECONDS, self.release, job_id)

    def release(self, job_id: str) -> None:
        channel = self._channels.pop(job_id, None)
        self._seqs.pop(job_id, None)
        if channel is not None:
            channel.notify()

    def _publish(self, job_id: str, event: Event) -> None:
        channel = self._channel(job_id)
        channel.ring.append(event)
        channel.notify()

    def _next_seq(self, job_id: str) -> int:
        if job_id not in self._seqs:
            self._seqs[job_id] = max(self.store.last_seq(job_id), self._last_seq_in_file(job_id))
        return self._seqs[job_id] + 1

    def _last_seq_in_file(self, job_id: str) -> int:
        """The highest seq at the end of events.jsonl (a line written there after the row's
        ``last_seq`` could not be updated must not be numbered twice)."""
        path = self.jobs_dir / job_id / "events.jsonl"
        try:
            with open(path, "rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - _TAIL_BYTES))
                tail = fh.read()
        except OSError:
            return 0
        for line in reversed(tail.splitlines()):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return int(json.loads(line)["seq"])
        return 0

    def after(self, job_id: str, after_seq: int) -> list[Event]:
        """Stored events with seq > after_seq (ring first, file when the ring lacks them).
        From the ring it costs the new events only, not the ring's length: one call per
        watcher per wake-up, with a hundred watchers."""
        channel = self._channels.get(job_id)
        ring = channel.ring if channel else None
        if ring and ring[0].seq <= after_seq + 1:
            newer: list[Event] = []
            for event in reversed(ring):
                if event.seq <= after_seq:
                    break
                newer.append(event)
            newer.reverse()
            return newer
        return [e for e in self.read_file(job_id) if e.seq > after_seq]

    async def follow(self, job_id: str, after_seq: int, get: Callable[[str], Job],
                     types: set[str] | None, follow: bool) -> AsyncIterator[Event]:  # fmt: skip
        """Replay events after ``after_seq``, then follow live until the job ends: until its
        final state event, or — for an ended job whose ring is gone — the end of its log."""
        last = after_seq
        while True:
            channel = self._channels.get(job_id)
            if channel is None and not get(job_id).terminal:
                channel = self._channel(job_id)
            waiter = channel.changed if channel else None
            ended = False
            for event in self.after(job_id, last):
                last = event.seq
                ended = event.type == "state" and event.data.get("state") in TERMINAL
                if types is None or event.type in types:
                    yield event
            if ended and self.store.shared and job_id in self._channels:
                self.release_later(job_id)  # a job another replica supervised: its ring goes too
            if not follow or ended or waiter is None:
                return
            try:
                await asyncio.wait_for(waiter.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                if self.store.shared:
                    self.refresh(job_id)  # a notification missed (the listener reconnecting)
                job = get(job_id)  # a safety net: an end this log will never show
                if job.terminal and job.last_seq <= last:
                    return

    def read_file(self, job_id: str) -> list[Event]:
        """Every stored event of a job (the table on PostgreSQL, events.jsonl on SQLite)."""
        if self.store.shared:
            return self.store.events_after(job_id, 0)
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
