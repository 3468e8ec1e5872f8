"""The activation manager's state and the bookkeeping every transition shares.

``ActivationState`` holds what the registry believes (the active adapter, vLLM's state,
retry attempts, the last change) and the small steps that keep it true everywhere at once:
the marker files for the launcher, a history row, an event for the watchers. It is the base
of the manager (activation.py) and of its two halves, serving-set changes
(activation_serving.py) and the hot-mode reconcile loop (activation_reconcile.py), so that
each of those reads as one story on top of the same state.

Loading repairs what a previous run may have left: a marker naming an unregistered
adapter, served rows for deleted adapters, and a PENDING activation that the reconcile
loop must finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone

from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument
from tuneforge.runtime.store_locks import StoreLock
from tuneforge.services.registry import marker
from tuneforge.services.registry.activation_records import (
    MIGRATIONS, TAKEN, ActivationEvent, ActivationStatus, Broadcaster, HistoryEntry, VllmState,
)
from tuneforge.services.registry.adapters import Adapter, AdapterCatalog, utc_now
from tuneforge.services.registry.staging import ServingCheck
from tuneforge.services.registry.vllm import VllmController, VllmMode


class ActivationState:
    def __init__(
        self,
        catalog: AdapterCatalog,
        controller: VllmController,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        reconcile_interval: float = 30.0,
        admit: Callable[[str], None] | None = None,
        retracted: Callable[[Adapter], None] | None = None,
        serving_check: ServingCheck | None = None,
        require_conformance: bool = False,
        conformance_timeout: float = 300.0,
    ) -> None:
        """``admit(name)``: the operator's policy (the evaluation gate, eval_gate.py), raising
        when ``name`` may not be put in front of users; checked by every change that does."""
        self.catalog = catalog
        self.admit = admit
        # ``retracted(adapter)``: raises for a version trained on data since removed (lineage.py);
        # unlike ``admit``, a request's ``force`` passes it.
        self.retracted = retracted
        self.controller = controller
        # Stage/check/fingerprint through vLLM (staging.py): None when no vLLM is configured.
        # ``require_conformance``: every activation and serve stages and checks the version first.
        self.serving_check = serving_check
        self.require_conformance = require_conformance and serving_check is not None
        self.conformance_timeout = conformance_timeout
        self.on_mismatch: Callable[[str], None] | None = None  # a metric per fingerprint mismatch
        self._verify_due = False
        self.store = catalog.store
        self.store.migrate(MIGRATIONS)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.reconcile_interval = reconcile_interval
        # One change at a time per vLLM target, across replicas too (PostgreSQL); a replica
        # that takes it reads the marker again (another may have changed it).
        target = getattr(controller, "url", "") or str(catalog.adapters_dir)
        self._lock = StoreLock(self.store, f"tuneforge-activation:{target}", on_acquire=self._reload_active)
        self._events = Broadcaster()
        self._seq = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._active = catalog.active_name()
        if self._active is not None and not catalog.exists(self._active):
            # A marker naming an unknown adapter (edited by hand, or a crash mid-delete).
            self._record("repair", self._active, None, "MARKER_ONLY", "marker named an unregistered adapter", "")
            self._active = None
        self.store.execute("DELETE FROM registry_served WHERE name NOT IN (SELECT name FROM registry_adapters)")
        self.write_files()  # markers written by older releases lack the served name
        mode = controller.mode
        self._state = {VllmMode.HOT: VllmState.PENDING, VllmMode.RESTART: VllmState.APPLIED,
                       VllmMode.NONE: VllmState.NOT_CONFIGURED}[mode]
        self._detail = "not yet confirmed with vLLM" if mode is VllmMode.HOT else ""
        self._attempts = 0
        self._next_retry: float | None = None
        self._pending_row: int | None = None
        self._update_time = utc_now()
        marks = ",".join("?" * len(TAKEN))
        last = self.store.query_one(
            f"SELECT id, action, from_name, to_name, time, outcome FROM registry_activation_history"
            f" WHERE outcome IN ({marks}) ORDER BY id DESC LIMIT 1", TAKEN,
        )
        if last is not None and last["outcome"] == "PENDING" and last["to_name"] == self._active:
            self._pending_row = last["id"]  # left pending by the previous run; finished by reconcile
        self._last: tuple[int | None, str, str | None, str | None] = (
            (last["id"], last["action"], last["from_name"], last["time"]) if last else (None, "", None, None)
        )

    def _reload_active(self) -> None:
        """Another replica may have changed the active adapter: the marker says which it is."""
        self._active = self.catalog.active_name()

    def check_replace(self, name: str) -> None:
        """Refuse (FAILED_PRECONDITION ``ADAPTER_LIVE``) to replace the files of the active or a
        served adapter while the operator's policy (``admit``) is on: the new version would
        go live without passing it. Without a policy a live adapter's new version goes live."""
        if self.admit is None or (name != self._active and name not in self.served_names()):
            return
        raise failed_precondition(
            "ADAPTER_LIVE",
            f"adapter {name!r} is {'active' if name == self._active else 'served'} and activation has checks "
            f"to pass (activation_requires_eval / activation_requires_audit): a new version would go live "
            f"unchecked; register it under another name and check it, or take {name!r} off first", adapter=name)

    def wake(self) -> None:
        """Reconcile soon (e.g. after the active adapter was re-registered with new files)."""
        if self._wake is not None:
            self._wake.set()

    # --------------------------------------------------------------- reads
    def status(self) -> ActivationStatus:
        adapter = self._adapter_or_none(self._active)
        nxt = None
        if self._state is VllmState.PENDING and self._next_retry is not None:
            nxt = datetime.fromtimestamp(
                time.time() + max(0.0, self._next_retry - time.monotonic()), timezone.utc
            ).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return ActivationStatus(
            active=self._active,
            version=adapter.version if adapter else None,
            served_name=adapter.served_name if adapter else None,
            mode=self.controller.mode.value,
            vllm_state=self._state,
            detail=self._detail,
            attempts=self._attempts,
            next_retry_time=nxt,
            update_time=self._update_time,
            history_id=self._last[0],
            action=self._last[1],
            previous=self._last[2],
            activate_time=self._last[3],
        )

    def get_active(self) -> Adapter | None:
        return self._adapter_or_none(self._active)

    def history(self, offset: int = 0, limit: int = 50) -> tuple[list[HistoryEntry], int]:
        """Newest first; ``(page, total)``."""
        if offset < 0 or limit <= 0:
            raise invalid_argument("offset" if offset < 0 else "limit", "out of range")
        total = self.store.query_one("SELECT COUNT(*) FROM registry_activation_history")[0]
        rows = self.store.query(
            "SELECT * FROM registry_activation_history ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
        )
        return [HistoryEntry(**dict(r)) for r in rows], total

    async def watch(self) -> AsyncIterator[ActivationEvent]:
        """A SNAPSHOT of the current state, then every change, until ``close``."""
        q = self._events.subscribe()
        try:
            yield self._event("SNAPSHOT", None)
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        finally:
            self._events.unsubscribe(q)

    def served_names(self) -> list[str]:
        """The adapters kept loaded beside the active one (oldest first)."""
        return [r["name"] for r in self.store.query("SELECT name FROM registry_served ORDER BY serve_time, name")]

    # ----------------------------------------------------------- bookkeeping
    def _revert(self, previous: str | None) -> None:
        self._active = previous
        self.write_files()

    def write_files(self) -> None:
        """Write ``.active`` (name + served name) and ``.serving`` for the launcher."""
        active = self._adapter_or_none(self._active)
        marker.write_active(self.catalog.adapters_dir, active.name if active else None,
                            active.served_name if active else None)
        marker.write_serving(self.catalog.adapters_dir, [(a.name, a.served_name) for a in self._extras()])

    def _extras(self) -> list[Adapter]:
        return [a for a in map(self._adapter_or_none, self.served_names()) if a is not None]

    def _set_state(self, state: VllmState, detail: str) -> None:
        self._state, self._detail = state, detail
        if state is not VllmState.PENDING:
            self._attempts, self._next_retry = 0, None
        self._update_time = utc_now()

    def _set_pending(self, detail: str, reset: bool = False) -> None:
        if reset:
            self._attempts = 0
        was = self._state
        self._state, self._detail = VllmState.PENDING, detail
        self._attempts += 1
        delay = min(self.retry_max, self.retry_initial * 2 ** (self._attempts - 1))
        self._next_retry = time.monotonic() + delay
        self._update_time = utc_now()
        if was is not VllmState.PENDING and not reset:
            self._publish("PENDING", None)
        self.wake()

    def _record(self, action, previous, adapter, outcome, detail, output, reason="", actor="") -> int:
        cur = self.store.execute(
            "INSERT INTO registry_activation_history(time, actor, reason, action, from_name, to_name,"
            " served_name, mode, outcome, detail, output, applied_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                utc_now(), actor, reason, action, previous,
                adapter.name if isinstance(adapter, Adapter) else None,
                adapter.served_name if isinstance(adapter, Adapter) else None,
                self.controller.mode.value, outcome, detail, output,
                utc_now() if outcome in ("APPLIED", "MARKER_ONLY") else None,
            ),
        )
        return cur.lastrowid

    def _adapter_or_none(self, name: str | None) -> Adapter | None:
        if name is None:
            return None
        try:
            return self.catalog.get(name)
        except TuneforgeError:
            return None

    def _event(self, kind: str, previous: str | None) -> ActivationEvent:
        self._seq += 1
        return ActivationEvent(self._seq, kind, self.status(), previous, utc_now())

    def _publish(self, kind: str, previous: str | None) -> None:
        self._events.publish(self._event(kind, previous))


__all__ = ["ActivationState"]
