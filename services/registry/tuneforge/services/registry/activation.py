"""Activation: which adapter is in production, and getting vLLM to agree.

One transition at a time (an ``asyncio.Lock``): check the adapter against what vLLM
accepts, write ``adapters/.active`` atomically, then tell vLLM (see vllm.py). The outcome is
never half applied:

- vLLM refuses (rank, base model, bad files, restart command failed) → the marker is put
  back to what it was and the call raises; history records ``REJECTED``/``FAILED``.
- vLLM cannot be reached (hot mode) → the marker stays, the state is ``PENDING`` and a
  background task retries with exponential backoff until vLLM serves it (``APPLIED``). If
  vLLM then refuses, the marker reverts to the previous adapter (history ``REJECTED``).
- vLLM restarted and lost its runtime-loaded adapters → the periodic reconcile sees the
  served name missing from ``/v1/models`` and loads it again.
- restart mode: the restart command runs, then the registry waits until vLLM lists the
  served name. If it does not come up serving it, the previous marker is put back, vLLM is
  restarted again (and waited for) and the activation is reported FAILED with the tail of
  vLLM's output — vLLM ends up serving the previous adapter, not crash-looping on the new.

Besides the active adapter, a set of *served* adapters (``serve``/``unserve``; persisted in
``registry_served``, written to ``adapters/.serving`` for the launcher) stays loaded under
their own served names — a personal bot and a support bot on one vLLM — up to
``vllm_max_loras`` distinct adapters in all.

Every change is published to :meth:`ActivationManager.watch` subscribers, each of which
first receives a ``SNAPSHOT`` of the current state. Deleting an adapter must go through
:meth:`ActivationManager.delete_adapter` so it cannot race an activation.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone

from tuneforge.runtime.errors import Code, TuneforgeError, failed_precondition, invalid_argument, unavailable
from tuneforge.services.registry import marker
from tuneforge.services.registry.adapters import Adapter, AdapterCatalog, utc_now
from tuneforge.services.registry.vllm import VllmController, VllmMode, VllmRejected, VllmUnreachable

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
_TAKEN = ("APPLIED", "PENDING", "MARKER_ONLY")


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


class _Broadcaster:
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


class ActivationManager:
    def __init__(
        self,
        catalog: AdapterCatalog,
        controller: VllmController,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        reconcile_interval: float = 30.0,
    ) -> None:
        self.catalog = catalog
        self.controller = controller
        self.store = catalog.store
        self.store.migrate(MIGRATIONS)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.reconcile_interval = reconcile_interval
        self._lock = asyncio.Lock()
        self._events = _Broadcaster()
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
        marks = ",".join("?" * len(_TAKEN))
        last = self.store.query_one(
            f"SELECT id, action, from_name, to_name, time, outcome FROM registry_activation_history"
            f" WHERE outcome IN ({marks}) ORDER BY id DESC LIMIT 1", _TAKEN,
        )
        if last is not None and last["outcome"] == "PENDING" and last["to_name"] == self._active:
            self._pending_row = last["id"]  # left pending by the previous run; finished by reconcile
        self._last: tuple[int | None, str, str | None, str | None] = (
            (last["id"], last["action"], last["from_name"], last["time"]) if last else (None, "", None, None)
        )

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the retry/reconcile task (hot mode) and reconcile once right away."""
        if self.controller.mode is VllmMode.HOT and self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="registry-vllm-reconcile")
            await self.reconcile()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._events.publish(None)

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
        """A SNAPSHOT of the current state, then every change, until :meth:`close`."""
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

    # ------------------------------------------------------------- changes
    async def activate(self, name: str, actor: str = "", reason: str = "") -> ActivationStatus:
        """Make ``name`` the active adapter. NOT_FOUND, FAILED_PRECONDITION
        (``ADAPTER_INCOMPATIBLE``, ``VLLM_REJECTED``…), UNAVAILABLE ``VLLM_RESTART_FAILED``."""
        self.catalog.get(name)
        async with self._lock:
            self._check_lora_count(name, self.served_names())
            return await self._transition("activate", name, actor, reason)

    async def deactivate(self, actor: str = "", reason: str = "") -> ActivationStatus:
        async with self._lock:
            if self._active is None:
                return self.status()
            return await self._transition("deactivate", None, actor, reason)

    async def rollback(self, actor: str = "", reason: str = "") -> ActivationStatus:
        """Go back to the adapter active before the last change (none → deactivate).
        FAILED_PRECONDITION ``NO_PREVIOUS_ADAPTER`` / ``PREVIOUS_ADAPTER_GONE``."""
        async with self._lock:
            marks = ",".join("?" * len(_TAKEN))
            row = self.store.query_one(
                f"SELECT from_name, to_name FROM registry_activation_history WHERE outcome IN ({marks})"
                " AND action IN ('activate','deactivate','rollback') ORDER BY id DESC LIMIT 1",
                _TAKEN,
            )
            if row is None or row["to_name"] != self._active:
                raise failed_precondition("NO_PREVIOUS_ADAPTER", "there is no earlier activation to roll back to")
            target = row["from_name"]
            if target is not None and not self.catalog.exists(target):
                raise failed_precondition(
                    "PREVIOUS_ADAPTER_GONE", f"the previous adapter {target!r} was deleted", adapter=target
                )
            return await self._transition("rollback", target, actor, reason)

    async def serve(self, name: str) -> list[str]:
        """Keep ``name`` loaded under its served name beside the active adapter (idempotent).
        FAILED_PRECONDITION ``TOO_MANY_LORAS`` above ``vllm_max_loras``, or what vLLM's
        rules or vLLM itself refuse; the set is unchanged then. Returns the served set."""
        adapter = self.catalog.get(name)
        async with self._lock:
            names = self.served_names()
            if name in names:
                return names
            self._check_lora_count(name, [*names, *([self._active] if self._active else [])])
            await self.controller.precheck(adapter)
            self.store.execute("INSERT INTO registry_served(name, serve_time) VALUES (?, ?)", (name, utc_now()))
            try:
                await self._apply_serving(f"serve {name}")
            except Exception:
                self.store.execute("DELETE FROM registry_served WHERE name=?", (name,))
                self.write_files()
                if self.controller.mode is VllmMode.RESTART:  # bring vLLM back with the previous set
                    await self.controller.restart_and_wait(self._adapter_or_none(self._active), self._extras())
                raise
            return self.served_names()

    def _check_lora_count(self, name: str, others: list[str]) -> None:
        distinct = {*others, name}
        if len(distinct) > self.controller.max_loras:
            raise failed_precondition(
                "TOO_MANY_LORAS",
                f"{name!r} would make {len(distinct)} adapters on vLLM, above vllm_max_loras"
                f" {self.controller.max_loras} (unserve one, or raise vllm_max_loras and vLLM's --max-loras)",
                adapter=name,
            )

    async def unserve(self, name: str) -> list[str]:
        """Stop serving ``name`` beside the active adapter. NOT_FOUND ``ADAPTER_NOT_SERVED``."""
        async with self._lock:
            if name not in self.served_names():
                raise not_found_served(name)
            self.store.execute("DELETE FROM registry_served WHERE name=?", (name,))
            await self._apply_serving(f"unserve {name}")
            return self.served_names()

    async def _apply_serving(self, what: str) -> None:
        """Tell vLLM about a changed served set (files first, as for an activation)."""
        self.write_files()
        mode = self.controller.mode
        if mode is VllmMode.HOT:
            try:
                await self.controller.apply_hot(self._adapter_or_none(self._active), self._extras())
            except VllmUnreachable as exc:
                self._set_pending(str(exc))  # the reconcile loop applies it when vLLM is back
            except VllmRejected as exc:
                raise exc.to_error(what.split(" ", 1)[1]) from None
        elif mode is VllmMode.RESTART:
            res = await self.controller.restart_and_wait(self._adapter_or_none(self._active), self._extras())
            if not res.ok:
                raise unavailable("VLLM_RESTART_FAILED", f"{what} FAILED: {res.detail}", output_tail=res.output[-2000:])

    async def delete_adapter(self, name: str, force: bool = False, actor: str = "") -> None:
        """Delete an adapter; the active or a served one only with ``force`` (deactivated or
        unserved first, vLLM told)."""
        if name in self.served_names():
            if not force:
                raise failed_precondition(
                    "ADAPTER_SERVED", f"adapter {name!r} is served; unserve it or delete with force", adapter=name,
                )
            await self.unserve(name)
        async with self._lock:
            if self._active == name:
                if not force:
                    raise failed_precondition(
                        "ADAPTER_ACTIVE", f"adapter {name!r} is active; deactivate it or delete with force",
                        adapter=name,
                    )
                self.catalog.get(name)
                await self._transition("deactivate", None, actor, f"adapter {name!r} deleted")
            await asyncio.to_thread(self.catalog.delete, name, force)

    async def reconcile(self) -> ActivationStatus:
        """Hot mode: make vLLM serve what the marker names (loads it again after a vLLM
        restart, unloads stale versions). Called by the background task; safe to call."""
        if self.controller.mode is not VllmMode.HOT:
            return self.status()
        async with self._lock:
            adapter = self._adapter_or_none(self._active)
            try:
                result = await self.controller.apply_hot(adapter, self._extras())
            except VllmUnreachable as exc:
                self._set_pending(str(exc))
                return self.status()
            except (VllmRejected, TuneforgeError) as exc:
                await self._refused_later(exc)
                return self.status()
            was = self._state
            self._set_state(VllmState.APPLIED, "")
            if self._pending_row is not None:
                self.store.execute(
                    "UPDATE registry_activation_history SET outcome='APPLIED', applied_time=? WHERE id=?",
                    (utc_now(), self._pending_row),
                )
                self._pending_row = None
            if was is not VllmState.APPLIED:
                self._publish("APPLIED", None)
            elif result.loaded:
                self._publish("REAPPLIED", None)  # vLLM had lost it (restarted)
            return self.status()

    # ------------------------------------------------------------- internals
    async def _transition(self, action: str, target: str | None, actor: str, reason: str) -> ActivationStatus:
        previous = self._active
        adapter = self.catalog.get(target) if target is not None else None
        if adapter is not None:
            try:
                await self.controller.precheck(adapter)
            except TuneforgeError as exc:
                self._record(action, previous, adapter, "REJECTED", str(exc), "", reason, actor)
                raise
        self._active = target
        self.write_files()
        mode = self.controller.mode
        output = ""
        if mode is VllmMode.NONE:
            outcome = "MARKER_ONLY"
            self._set_state(VllmState.NOT_CONFIGURED, "")
        elif mode is VllmMode.RESTART:
            output = await self._restart_or_roll_back(action, previous, adapter, reason, actor)
            outcome = "APPLIED"
            self._set_state(VllmState.APPLIED, "")
        else:
            try:
                await self.controller.apply_hot(adapter, self._extras())
                outcome = "APPLIED"
                self._set_state(VllmState.APPLIED, "")
            except VllmUnreachable as exc:
                outcome = "PENDING"
                self._set_pending(str(exc), reset=True)
            except (VllmRejected, TuneforgeError) as exc:
                self._revert(previous)
                err = _as_error(exc, target)
                self._record(action, previous, adapter, "REJECTED", str(err), "", reason, actor)
                raise err from None
        row = self._record(action, previous, adapter, outcome, self._detail, output, reason, actor)
        self._pending_row = row if outcome == "PENDING" else None
        self._last = (row, action, previous, utc_now())
        kind = {"activate": "ACTIVATED", "deactivate": "DEACTIVATED", "rollback": "ROLLED_BACK"}[action]
        self._publish(kind, previous)
        if outcome == "PENDING":
            self._publish("PENDING", previous)
        return self.status()

    async def _restart_or_roll_back(self, action, previous, adapter, reason, actor) -> str:
        """Restart vLLM and wait until it serves ``adapter``; if it does not, put the
        previous marker back, restart and wait again, record FAILED and raise
        UNAVAILABLE ``VLLM_RESTART_FAILED`` with the tail of vLLM's output."""
        res = await self.controller.restart_and_wait(adapter, self._extras())
        if res.ok:
            return res.output
        self._revert(previous)
        back = await self.controller.restart_and_wait(self._adapter_or_none(previous), self._extras())
        detail = f"{res.detail}; put {previous or 'no adapter'!r} back"
        detail += " and vLLM serves it again" if back.ok else f", but vLLM did not come back either: {back.detail}"
        output = res.output + ("" if back.ok else "\n--- restart with the previous adapter ---\n" + back.output)
        self._set_state(VllmState.FAILED, detail)
        self._record(action, previous, adapter, "FAILED", detail, output, reason, actor)
        self._publish("FAILED", previous)
        raise unavailable("VLLM_RESTART_FAILED", f"activation FAILED: {detail}", output_tail=output[-2000:])

    async def _refused_later(self, exc: Exception) -> None:
        """vLLM came back and refused the pending adapter: revert to the previous one."""
        err = _as_error(exc, self._active)
        row = None
        if self._pending_row is not None:
            row = self.store.query_one(
                "SELECT from_name FROM registry_activation_history WHERE id=?", (self._pending_row,)
            )
        if row is not None and (row["from_name"] is None or self.catalog.exists(row["from_name"])):
            self.store.execute(
                "UPDATE registry_activation_history SET outcome='REJECTED', detail=? WHERE id=?",
                (str(err), self._pending_row),
            )
            previous = self._active
            self._revert(row["from_name"])
            target = self._adapter_or_none(row["from_name"])
            rid = self._record("revert", previous, target, "PENDING", f"vLLM refused {previous!r}: {err}", "")
            self._pending_row = rid
            self._last = (rid, "revert", previous, utc_now())
            self._set_pending(f"reverted: {err}", reset=True)  # apply the previous one next
            self._publish("REVERTED", previous)
            self.wake()
            return
        if self._state is not VllmState.FAILED or self._detail != str(err):
            self._set_state(VllmState.FAILED, str(err))
            self._publish("FAILED", None)

    def _revert(self, previous: str | None) -> None:
        self._active = previous
        self.write_files()

    def write_files(self) -> None:
        """Write ``.active`` (name + served name) and ``.serving`` for the launcher."""
        active = self._adapter_or_none(self._active)
        marker.write_active(self.catalog.adapters_dir, active.name if active else None,
                            active.served_name if active else None)
        marker.write_serving(self.catalog.adapters_dir, [(a.name, a.served_name) for a in self._extras()])

    def served_names(self) -> list[str]:
        """The adapters kept loaded beside the active one (oldest first)."""
        return [r["name"] for r in self.store.query("SELECT name FROM registry_served ORDER BY serve_time, name")]

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

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if self._state is VllmState.PENDING and self._next_retry is not None:
                timeout = max(0.0, self._next_retry - time.monotonic())
            else:
                timeout = self.reconcile_interval
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._state is VllmState.PENDING and self._next_retry is not None:
                if time.monotonic() < self._next_retry:
                    continue  # woken early; keep the backoff
            try:
                await self.reconcile()
            except Exception as exc:  # never let the loop die
                self._set_state(VllmState.FAILED, f"reconcile failed: {exc!r}")

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


def not_found_served(name: str) -> TuneforgeError:
    return TuneforgeError(Code.NOT_FOUND, "ADAPTER_NOT_SERVED", f"adapter {name!r} is not served", [],
                          {"adapter": name})


def _as_error(exc: Exception, adapter: str | None) -> TuneforgeError:
    return exc if isinstance(exc, TuneforgeError) else exc.to_error(adapter)


__all__ = [
    "MIGRATIONS", "ActivationEvent", "ActivationManager", "ActivationStatus", "HistoryEntry", "VllmState",
]
