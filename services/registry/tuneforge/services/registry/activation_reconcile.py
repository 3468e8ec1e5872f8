"""Hot mode's background half: retry a PENDING activation and keep vLLM in step.

In hot mode vLLM may be unreachable when an adapter is activated (the marker stays, the
state is PENDING) or may restart and forget its runtime-loaded adapters. One task per
registry (``start``/``close``) reconciles: with exponential backoff while PENDING, every
``reconcile_interval`` otherwise, and at once when woken. If vLLM comes back and refuses the
pending adapter, the marker reverts to the previous one (history ``REJECTED`` + ``revert``)
and that one is applied next. Restart and none modes have nothing to reconcile. When a
reconcile had to load an adapter again (vLLM restarted), every live adapter is then probed
against its fingerprint (activation_verify.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.registry.activation_records import ActivationStatus, VllmState, as_error
from tuneforge.services.registry.activation_state import ActivationState
from tuneforge.services.registry.adapters import utc_now
from tuneforge.services.registry.vllm import VllmMode, VllmRejected, VllmUnreachable


class ActivationReconcile(ActivationState):
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

    async def reconcile(self) -> ActivationStatus:
        """Hot mode: make vLLM serve what the marker names (loads it again after a vLLM
        restart, unloads stale versions). Called by the background task; safe to call."""
        if self.controller.mode is not VllmMode.HOT:
            return self.status()
        async with self._lock:
            adapter = self._adapter_or_none(self._active)
            try:
                result = await self.controller.within_deadline(
                    self.controller.apply_hot(adapter, self._extras()), "answer the reconcile")
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
            if result.loaded and self.serving_check is not None:
                self._verify_due = True  # loaded again from the files: probe them (activation_verify.py)
                self.wake()
            return self.status()

    async def _refused_later(self, exc: Exception) -> None:
        """vLLM came back and refused the pending adapter: revert to the previous one."""
        err = as_error(exc, self._active)
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
                if self._verify_due:
                    await self.verify_serving()  # type: ignore[attr-defined] # activation_verify.py
            except Exception as exc:  # never let the loop die
                self._set_state(VllmState.FAILED, f"reconcile failed: {exc!r}")


__all__ = ["ActivationReconcile"]
