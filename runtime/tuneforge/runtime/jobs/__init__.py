"""The job engine shared by every service (DESIGN.md, "Jobs").

A job is a row in ``jobs`` (SQLite) plus a directory ``jobs/<id>/`` holding ``spec.json``
(what the worker reads), ``events.jsonl`` (the per-job event log: state changes, progress,
metrics, checkpoints, log lines, each with a ``seq``), and the worker's raw ``worker.out`` /
``worker.err``.

Lifecycle ``QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED``. The parts, one concern each:

- ``model``: the states, :class:`Job`, :class:`JobKind`, :class:`Event` (plain data);
- ``store``: :class:`JobStore`, the only code that touches the ``jobs`` table;
- ``events``: :class:`EventLog`, events.jsonl plus an in-memory ring per job for watchers;
- ``scheduler``: what starts next, in order, and the cross-process GPU lock;
- ``supervisor``: a worker from start through its output to a settled end, re-attached
  after a service restart; ``outcome.decide`` is the pure rule for how a job ended;
- ``engine``: :class:`JobEngine`, the public face the services use.
"""

from tuneforge.runtime.jobs.engine import JobEngine
from tuneforge.runtime.jobs.events import RING_SIZE
from tuneforge.runtime.jobs.model import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, Event, Job, JobKind
from tuneforge.runtime.jobs.scheduler import GpuLock
from tuneforge.runtime.jobs.store import MIGRATIONS, JobStore
from tuneforge.runtime.jobs.supervisor import POLL_SECONDS

__all__ = [
    "CANCELLED", "FAILED", "MIGRATIONS", "POLL_SECONDS", "QUEUED", "RING_SIZE", "RUNNING", "SUCCEEDED",
    "TERMINAL", "Event", "GpuLock", "Job", "JobEngine", "JobKind", "JobStore",
]  # fmt: skip
