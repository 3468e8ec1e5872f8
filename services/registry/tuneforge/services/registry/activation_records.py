"""What an activation leaves behind: its tables, states, snapshots and events.

Kept apart from the manager (activation.py) because the servicer and the tests speak in
these types without needing the machinery that produces them: ``VllmState`` and
``ActivationStatus`` are what ``GetActiveAdapter`` returns, ``HistoryEntry`` is one row of
``registry_activation_history`` (``ListActivations``), ``ActivationEvent`` is what
``WatchActivations`` streams, fanned out by the ``Broadcaster``. ``registry_served`` holds the
served set (activation_serving.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass

from tuneforge.runtime.errors import Code, TuneforgeError

MIGRATIONS = [
    (
        "registry_0002_activation_history",
        """
        CREATE TABLE registry_activation_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            from_name TEXT,
            to_name TEXT,
            served_name TEXT,
            mode TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            output TEXT NOT NULL DEFAULT '',
            applied_time TEXT
        );
        """,
    ),
    (
        "registry_0003_served",
        """
        CREATE TABLE registry_served (
            name TEXT PRIMARY KEY,
            serve_time TEXT NOT NULL
        );
        """,
    ),
]

# Outcomes that changed the marker (a rollback target can come from these).
TAKEN = ("APPLIED", "PENDING", "MARKER_ONLY")


class VllmState(str, enum.Enum):
    NOT_CONFIGURED = "NOT_CONFIGURED"  # mode none: the marker is all there is
    APPLIED = "APPLIED"  # vLLM serves what the marker names
    PENDING = "PENDING"  # vLLM unreachable; retrying
    FAILED = "FAILED"  # vLLM refused; see detail


@dataclass(frozen=True)
class ActivationStatus:
    active: str | None
    version: int | None
    served_name: str | None
    mode: str
    vllm_state: VllmState
    detail: str
    attempts: int
    next_retry_time: str | None
    update_time: str
    # The change that made this state (proto Activation.id/action/previous/activate_time).
    history_id: int | None = None
    action: str = ""
    previous: str | None = None
    activate_time: str | None = None


@dataclass(frozen=True)
class ActivationEvent:
    seq: int
    kind: str  # SNAPSHOT ACTIVATED DEACTIVATED ROLLED_BACK APPLIED REAPPLIED PENDING FAILED REVERTED
    status: ActivationStatus
    previous: str | None
    time: str


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    time: str
    actor: str
    reason: str
    action: str  # activate | deactivate | rollback | revert (vLLM refused a pending one) | repair
    from_name: str | None
    to_name: str | None
    served_name: str | None
    mode: str
    outcome: str  # APPLIED | PENDING | MARKER_ONLY | REJECTED | FAILED
    detail: str
    output: str
    applied_time: str | None

    @property
    def vllm_state(self) -> "VllmState":
        return {"APPLIED": VllmState.APPLIED, "PENDING": VllmState.PENDING,
                "MARKER_ONLY": VllmState.NOT_CONFIGURED}.get(self.outcome, VllmState.FAILED)


class Broadcaster:
    """Fan-out to any number of subscribers; a slow one loses its oldest events, not others'."""

    def __init__(self, maxsize: int = 256) -> None:
        self._queues: set[asyncio.Queue] = set()
        self._maxsize = maxsize

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self._maxsize)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)

    def publish(self, item) -> None:
        for q in list(self._queues):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(item)


def not_found_served(name: str) -> TuneforgeError:
    return TuneforgeError(Code.NOT_FOUND, "ADAPTER_NOT_SERVED", f"adapter {name!r} is not served", [],
                          {"adapter": name})


def as_error(exc: Exception, adapter: str | None) -> TuneforgeError:
    """A vLLM refusal as the project's error (a TuneforgeError passes through as it is)."""
    return exc if isinstance(exc, TuneforgeError) else exc.to_error(adapter)


__all__ = [
    "MIGRATIONS", "TAKEN", "ActivationEvent", "ActivationStatus", "Broadcaster", "HistoryEntry", "VllmState",
    "as_error", "not_found_served",
]
