"""The ``jobs`` table: the only code that reads or writes it.

Every other module — the engine's parts, the servicers, the metrics, the housekeeping — asks
this store a question by name (``live_job_with_param``, ``counts_by_state``, ...) instead of
writing SQL against the table, so the schema can change in one place.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tuneforge.runtime.jobs.model import QUEUED, RUNNING, TERMINAL, Event, Job
from tuneforge.runtime.store import IntegrityError, Store

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
    (
        # Replicas on PostgreSQL: who supervises a RUNNING job, until when (renewed while it
        # runs), and on which host its local worker runs (another host cannot re-attach).
        "jobs_0003_leases",
        """
        ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN worker_host TEXT NOT NULL DEFAULT '';
        """,
    ),
    (
        # The event log on PostgreSQL (every replica reads it; SQLite keeps events.jsonl).
        "jobs_0004_events",
        """
        CREATE TABLE job_events (
            job_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            time REAL NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (job_id, seq)
        );
        """,
    ),
]
_LIVE = (QUEUED, RUNNING)


class JobStore:
    """``owner`` names this process among replicas (host:pid:random); ``lease_seconds`` is how
    long its hold on a job it supervises lasts unrenewed (``shared``: PostgreSQL only)."""

    def __init__(self, store: Store, jobs_dir: Path, lease_seconds: float = 15.0) -> None:
        self.db = store
        self.jobs_dir = jobs_dir
        self.shared = getattr(store, "dialect", "sqlite") == "postgresql"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.host = socket.gethostname()
        self.lease_seconds = lease_seconds
        store.migrate(MIGRATIONS)

    # ------------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job | None:
        row = self.db.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(row) if row else None

    def by_request_key(self, request_key: str) -> Job | None:
        row = self.db.query_one("SELECT * FROM jobs WHERE request_key = ?", (request_key,))
        return self._job(row) if row else None

    def page(self, services: Sequence[str], offset: int, limit: int, kinds: Sequence[str] | None = None,
             states: Sequence[str] | None = None) -> tuple[list[Job], int]:  # fmt: skip
        """One page of the jobs of ``services`` (optionally only ``kinds``, ``states``), newest
        first, and the total count."""
        where, args = f"service IN ({','.join('?' * len(services))})", list(services)
        for column, values in (("kind", kinds), ("state", states)):
            if values:
                where += f" AND {column} IN ({','.join('?' * len(values))})"
                args += list(values)
        total = self.db.query_one(f"SELECT COUNT(*) AS n FROM jobs WHERE {where}", args)["n"]
        rows = self.db.query(
            f"SELECT * FROM jobs WHERE {where} ORDER BY create_time DESC, rowid DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [self._job(r) for r in rows], total

    def in_state(self, state: str) -> list[Job]:
        """Jobs in one state, oldest first (the dispatch order for QUEUED)."""
        rows = self.db.query("SELECT * FROM jobs WHERE state = ? ORDER BY create_time, rowid", (state,))
        return [self._job(r) for r in rows]

    def running_kinds(self) -> list[str]:
        return [r["kind"] for r in self.db.query("SELECT kind FROM jobs WHERE state = ?", (RUNNING,))]

    def queue_position(self, job: Job) -> int:
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = ? AND (create_time < ? OR (create_time = ? AND id <= ?))",
            (QUEUED, job.create_time, job.create_time, job.id),
        )
        return int(row["n"])

    def last_seq(self, job_id: str) -> int:
        row = self.db.query_one("SELECT last_seq FROM jobs WHERE id = ?", (job_id,))
        return int(row["last_seq"]) if row else 0

    # ------------------------------------------------------------------ questions other modules ask
    def live_job_with_param(self, service: str, key: str, value: str, kind: str | None = None) -> str | None:
        """Id of a QUEUED/RUNNING job of ``service`` (and ``kind``) whose params[key] == value."""
        sql = (f"SELECT id FROM jobs WHERE service = ? AND state IN (?, ?) AND json_extract(params, ?) = ?"
               + (" AND kind = ?" if kind else ""))  # fmt: skip
        args: list[Any] = [service, *_LIVE, f"$.{key}", value] + ([kind] if kind else [])
        row = self.db.query_one(sql, args)
        return row["id"] if row else None

    def has_running(self, service: str) -> bool:
        return self.db.query_one("SELECT 1 FROM jobs WHERE service = ? AND state = ? LIMIT 1", (service, RUNNING)) is not None

    def live_params_text(self) -> list[str]:
        """The raw params JSON of every QUEUED/RUNNING job (to keep the uploads they name)."""
        return [r["params"] for r in self.db.query("SELECT params FROM jobs WHERE state IN (?, ?)", _LIVE)]

    def ids_with_result_value(self, service: str, kind: str, key_path: str, value: str) -> list[str]:
        """Ids of a kind's jobs whose result at ``key_path`` ("registration.state") equals value."""
        rows = self.db.query(
            "SELECT id FROM jobs WHERE service = ? AND kind = ? AND json_extract(result, ?) = ? ORDER BY create_time",
            (service, kind, f"$.{key_path}", value),
        )
        return [r["id"] for r in rows]

    def counts_by_state(self) -> list[tuple[str, str, str, int]]:
        rows = self.db.query("SELECT service, kind, state, COUNT(*) AS n FROM jobs GROUP BY service, kind, state")
        return [(r["service"], r["kind"], r["state"], int(r["n"])) for r in rows]

    def running_metrics(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r["id"], json.loads(r["metrics"])) for r in self.db.query("SELECT id, metrics FROM jobs WHERE state = ?", (RUNNING,))]

    # ------------------------------------------------------------------ writing
    def insert(self, job: Job, request_key: str | None) -> bool:
        """Add a QUEUED job; False when another job already holds ``request_key``."""
        try:
            self.db.execute(
                "INSERT INTO jobs(id, service, kind, state, params, create_time, request_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.service, job.kind, job.state, json.dumps(job.params), job.create_time, request_key),
            )
        except IntegrityError:
            if request_key and self.by_request_key(request_key):
                return False
            raise
        return True

    def claim_start(self, job_id: str) -> bool:
        """QUEUED → RUNNING, held by this process's lease, unless another dispatcher (another
        replica: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) or a cancel got there first."""
        now = time.time()
        pick = "SELECT id FROM jobs WHERE id = ? AND state = ?" + (" FOR UPDATE SKIP LOCKED" if self.shared else "")
        return bool(self.db.execute(
            f"UPDATE jobs SET state = ?, start_time = ?, owner = ?, lease_until = ? WHERE id = ({pick}) AND state = ?",
            (RUNNING, now, self.owner, now + self.lease_seconds, job_id, QUEUED, QUEUED),
        ).rowcount)  # fmt: skip

    def renew_leases(self, job_ids: Sequence[str]) -> set[str]:
        """Extend this process's hold on ``job_ids``; the ids it still holds (a job taken over
        by another replica while this one could not renew is not among them)."""
        if not job_ids:
            return set()
        marks = ",".join("?" * len(job_ids))
        self.db.execute(
            f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND state = ? AND id IN ({marks})",
            (time.time() + self.lease_seconds, self.owner, RUNNING, *job_ids),
        )
        rows = self.db.query(f"SELECT id FROM jobs WHERE owner = ? AND id IN ({marks})", (self.owner, *job_ids))
        return {r["id"] for r in rows}

    def release_leases(self) -> None:
        """A replica stopping cleanly hands its running jobs to the others at once."""
        self.db.execute("UPDATE jobs SET lease_until = 0 WHERE owner = ? AND state = ?", (self.owner, RUNNING))

    def take_over(self, job_id: str) -> bool:
        """Hold a RUNNING job whose lease ran out (its replica died) or that this process held."""
        now = time.time()
        return bool(self.db.execute(
            "UPDATE jobs SET owner = ?, lease_until = ? WHERE id = ? AND state = ? AND (lease_until < ? OR owner = ?)",
            (self.owner, now + self.lease_seconds, job_id, RUNNING, now, self.owner),
        ).rowcount)  # fmt: skip

    # ------------------------------------------------------------------ events (PostgreSQL)
    def add_event(self, job_id: str, write: Callable[[int], Event]) -> Event:
        """Store one event under the next seq of its job (the job row's lock orders writers on
        every replica); ``write(seq)`` makes it (and writes events.jsonl) inside the same
        transaction, so a failed write consumes no seq. Watchers on every replica are woken
        (NOTIFY, delivered at commit)."""
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
                               (job_id,)).fetchone()  # fmt: skip
            event = write(int(row["last_seq"]))
            conn.execute("INSERT INTO job_events(job_id, seq, time, type, data) VALUES (?, ?, ?, ?, ?)",
                         (job_id, event.seq, event.time, event.type,
                          json.dumps(event.data, ensure_ascii=False, default=str)))  # fmt: skip
            conn.execute("SELECT pg_notify('tuneforge_job_events', ?)", (f"{job_id}:{event.seq}",))
        return event

    def events_after(self, job_id: str, after_seq: int) -> list[Event]:
        rows = self.db.query("SELECT seq, time, type, data FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq",
                             (job_id, after_seq))  # fmt: skip
        return [Event(int(r["seq"]), float(r["time"]), r["type"], json.loads(r["data"])) for r in rows]

    def cancel_queued(self, job_id: str) -> bool:
        return bool(self.db.execute(
            "UPDATE jobs SET state = 'CANCELLED', cancel_requested = 1, end_time = ? WHERE id = ? AND state = ?",
            (time.time(), job_id, QUEUED),
        ).rowcount)  # fmt: skip

    def request_cancel(self, job_id: str) -> None:
        self.db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))

    def set_worker(self, job_id: str, pid: int | None, pid_start: str | None, executor: str, external_id: str) -> None:
        self.db.execute(
            "UPDATE jobs SET pid = ?, pid_start = ?, executor = ?, external_id = ?, worker_host = ? WHERE id = ?",
            (pid, pid_start, executor, external_id, self.host, job_id),
        )

    def set_result(self, job_id: str, result: dict[str, Any]) -> None:
        self.db.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result), job_id))

    def update_result(self, job_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Read-modify-write of a job's result in one transaction."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
            result = json.loads(row["result"]) if row else {}
            change(result)
            conn.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result), job_id))

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self.db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))

    def merge_metrics(self, job_id: str, metrics: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT metrics FROM jobs WHERE id = ?", (job_id,)).fetchone()
            current = json.loads(row["metrics"]) if row else {}
            current.update({k: v for k, v in metrics.items() if v is not None})
            conn.execute("UPDATE jobs SET metrics = ? WHERE id = ?", (json.dumps(current), job_id))

    def set_last_checkpoint(self, job_id: str, path: str) -> None:
        self.db.execute("UPDATE jobs SET last_checkpoint = ? WHERE id = ?", (path, job_id))

    def set_last_seq(self, job_id: str, seq: int) -> None:
        """Count events up to ``seq`` as stored (never lowers the count)."""
        self.db.execute("UPDATE jobs SET last_seq = ? WHERE id = ? AND last_seq < ?", (seq, job_id, seq))

    def finish(self, job_id: str, state: str, reason: str, message: str) -> bool:
        """End a job that has not ended yet; False when it already had."""
        return bool(self.db.execute(
            "UPDATE jobs SET state = ?, end_time = ?, error_reason = ?, error_message = ?, pid = NULL"
            " WHERE id = ? AND state NOT IN (?, ?, ?)",
            (state, time.time(), reason, message, job_id, *TERMINAL),
        ).rowcount)  # fmt: skip

    # ------------------------------------------------------------------ rows
    def _job(self, row: Any) -> Job:
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
            owner=row["owner"], lease_until=row["lease_until"], worker_host=row["worker_host"],
        )  # fmt: skip


