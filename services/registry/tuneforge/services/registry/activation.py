"""Activation: which adapter is in production, and getting vLLM to agree.

One transition at a time (an ``asyncio.Lock``): check the adapter against what vLLM
accepts, tell vLLM (see vllm.py) and write ``adapters/.active`` atomically — in hot mode
only once vLLM confirmed, in restart mode before the restart (the launcher reads it). The
outcome is never half applied:

- vLLM refuses (rank, base model, bad files, restart command failed) → the marker is (or
  stays) what it was and the call raises; history records ``REJECTED``/``FAILED``.
- vLLM does not confirm within ``vllm_timeout_seconds`` (hot mode: down, hung, dripping,
  flooding, not HTTP) → the marker stays what it was and the call raises UNAVAILABLE with
  the reason (history ``FAILED``). ``PENDING`` is then the state of that previous marker:
  a background task re-applies it with exponential backoff until vLLM serves it
  (``APPLIED``). An adapter is never switched in unconfirmed. Deactivating is the one
  change made while vLLM is away (marker none at once, ``PENDING`` until vLLM unloads).
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

Where it lives: this module holds the manager and its transitions (activate, deactivate,
rollback, delete, and how each vLLM mode applies them); activation_state.py the state and
the bookkeeping they share (marker files, history rows, events); activation_serving.py the
served set; activation_reconcile.py hot mode's retry/reconcile loop; activation_records.py
the types the servicer returns (status, history entry, event) and the history table.
"""

from __future__ import annotations

import asyncio

from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument, unavailable
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.vllm_http import within
from tuneforge.services.registry.activation_records import TAKEN, ActivationStatus, VllmState, as_error
from tuneforge.services.registry.activation_reconcile import ActivationReconcile
from tuneforge.services.registry.activation_serving import ActivationServing
from tuneforge.services.registry.activation_verify import ActivationVerify
from tuneforge.services.registry.adapters import utc_now
from tuneforge.services.registry.conformance import ConformanceReport
from tuneforge.services.registry.staging import conformance_failed
from tuneforge.services.registry.vllm import VllmMode, VllmRejected, VllmUnreachable


log = get_logger("tuneforge.registry")


class ActivationManager(ActivationServing, ActivationReconcile, ActivationVerify):
    """Activation, the served set and hot-mode reconcile on one state and one lock."""

    # ------------------------------------------------------------- changes
    async def activate(self, name: str, actor: str = "", reason: str = "", force: bool = False) -> ActivationStatus:
        """Make ``name`` the active adapter. NOT_FOUND, FAILED_PRECONDITION
        (``ADAPTER_INCOMPATIBLE``, ``VLLM_REJECTED``, ``ADAPTER_TRAINED_ON_FORGOTTEN_DATA``
        without ``force``…), UNAVAILABLE ``VLLM_RESTART_FAILED``."""
        self.catalog.get(name)
        async with self._lock:
            self._check_lora_count(name, self.served_names())
            return await self._transition("activate", name, actor, reason, force)

    async def deactivate(self, actor: str = "", reason: str = "") -> ActivationStatus:
        async with self._lock:
            if self._active is None:
                return self.status()
            return await self._transition("deactivate", None, actor, reason)

    async def rollback(self, actor: str = "", reason: str = "", force: bool = False) -> ActivationStatus:
        """Go back to the adapter active before the last change (none → deactivate).
        FAILED_PRECONDITION ``NO_PREVIOUS_ADAPTER`` / ``PREVIOUS_ADAPTER_GONE``."""
        async with self._lock:
            marks = ",".join("?" * len(TAKEN))
            row = self.store.query_one(
                f"SELECT from_name, to_name FROM registry_activation_history WHERE outcome IN ({marks})"
                " AND action IN ('activate','deactivate','rollback') ORDER BY id DESC LIMIT 1",
                TAKEN,
            )
            if row is None or row["to_name"] != self._active:
                raise failed_precondition("NO_PREVIOUS_ADAPTER", "there is no earlier activation to roll back to")
            target = row["from_name"]
            if target is not None and not self.catalog.exists(target):
                raise failed_precondition(
                    "PREVIOUS_ADAPTER_GONE", f"the previous adapter {target!r} was deleted", adapter=target
                )
            return await self._transition("rollback", target, actor, reason, force)

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

    async def check_adapter(self, name: str, version: int = 0) -> ConformanceReport:
        """The conformance check on demand (``CheckAdapter``): on the served name when
        ``name`` is live, else staged beside production and unloaded after. The report is
        kept with the version; a miss is a report with ``passed`` false."""
        if version < 0:
            raise invalid_argument("version", f"must be 0 (the current one) or above, got {version}")
        adapter = self.catalog.get(name)
        if version and version != adapter.version:
            raise failed_precondition(
                "ADAPTER_VERSION_NOT_CURRENT", f"adapter {name!r} is at v{adapter.version}; only the current "
                f"version can be served and checked, not v{version}", adapter=name, version=str(version))
        if self.serving_check is None:
            raise failed_precondition("VLLM_NOT_CONFIGURED", "the conformance check runs on vLLM: configure "
                                      "vllm_mode (hot or restart) and vllm_url", adapter=name)
        async with self._lock:
            live = name == self._active or name in self.served_names()
            try:
                if live:
                    work = self.serving_check.check_served(adapter)
                else:
                    await self.controller.precheck(adapter)
                    work = self.serving_check.stage_and_check(adapter)
                return await self.controller.within_deadline(work, "answer the conformance check",
                                                             self.conformance_timeout)
            except VllmUnreachable as exc:
                raise exc.to_error(f"vLLM did not answer the conformance check of {name!r}", name) from None
            except VllmRejected as exc:
                raise exc.to_error(name) from None

    # ------------------------------------------------------------- internals
    async def _transition(self, action: str, target: str | None, actor: str, reason: str,
                          force: bool = False) -> ActivationStatus:
        previous = self._active
        adapter = self.catalog.get(target) if target is not None else None
        if adapter is not None and (self.admit is not None or self.retracted is not None):
            try:
                if self.admit is not None:
                    self.admit(adapter.name)
                if self.retracted is not None and not force:
                    self.retracted(adapter)
            except TuneforgeError as exc:
                self._record(action, previous, adapter, "REJECTED", str(exc), "", reason, actor)
                raise
        mode = self.controller.mode
        if mode is VllmMode.HOT:
            outcome = await self._apply_hot(action, previous, adapter, reason, actor)
        else:
            if adapter is not None:
                await self._precheck(action, previous, adapter, reason, actor)
            self._active = target
            self.write_files()
            outcome = "MARKER_ONLY" if mode is VllmMode.NONE else "APPLIED"
        output = ""
        if mode is VllmMode.NONE:
            self._set_state(VllmState.NOT_CONFIGURED, "")
        elif mode is VllmMode.RESTART:
            output = await self._restart_or_roll_back(action, previous, adapter, reason, actor)
            if adapter is not None and self.require_conformance:
                await self._check_after_restart(action, previous, adapter, reason, actor, output)
            self._set_state(VllmState.APPLIED, "")
        row = self._record(action, previous, adapter, outcome, self._detail, output, reason, actor)
        self._pending_row = row if outcome == "PENDING" else None
        self._last = (row, action, previous, utc_now())
        kind = {"activate": "ACTIVATED", "deactivate": "DEACTIVATED", "rollback": "ROLLED_BACK"}[action]
        self._publish(kind, previous)
        if outcome == "PENDING":
            self._publish("PENDING", previous)
        return self.status()

    async def _precheck(self, action, previous, adapter, reason, actor) -> None:
        try:
            await self.controller.precheck(adapter)
        except TuneforgeError as exc:
            self._record(action, previous, adapter, "REJECTED", str(exc), "", reason, actor)
            raise

    async def _apply_hot(self, action, previous, adapter, reason, actor) -> str:
        """Hot mode: vLLM first, the marker once it confirmed, all within the vLLM timeout.

        An adapter is switched in only once vLLM serves it; if vLLM does not confirm in time
        (down, hung, dripping, not HTTP) the marker stays as it was, PENDING describes that
        marker (the reconcile loop re-applies it) and the call raises UNAVAILABLE with the
        reason. Taking the adapter off (``adapter`` None) is never refused for that: the
        marker says none at once and vLLM unloads when it answers again (PENDING)."""
        async def check_and_apply():
            if adapter is not None:
                await self.controller.precheck(adapter)
            return await self.controller.apply_hot(adapter, self._extras())

        target = adapter.name if adapter is not None else None
        if adapter is not None and self.require_conformance:
            await self._stage_and_check(action, previous, adapter, reason, actor)
        try:
            await self.controller.within_deadline(check_and_apply(), f"confirm {target or 'no adapter'!r}")
        except VllmUnreachable as exc:
            if adapter is None:
                self._active = None
                self.write_files()
                self._set_pending(str(exc), reset=True)
                return "PENDING"
            detail = f"{exc}; adapters/.active still names {previous or 'no adapter'!r}"
            self._record(action, previous, adapter, "FAILED", detail, "", reason, actor)
            self._set_pending(str(exc))  # the marker in force is unconfirmed now; retried
            raise exc.to_error(f"vLLM did not confirm activating {target!r}", target) from None
        except (VllmRejected, TuneforgeError) as exc:
            err = as_error(exc, target)
            self._record(action, previous, adapter, "REJECTED", str(err), "", reason, actor)
            raise err from None
        self._active = target
        self.write_files()
        self._set_state(VllmState.APPLIED, "")
        if adapter is not None:
            await self._fingerprint(adapter)
        return "APPLIED"

    async def _stage_and_check(self, action, previous, adapter, reason, actor) -> None:
        """Stage ``adapter`` beside production and run the conformance check on it
        (staging.py); a refusal is recorded REJECTED and raised — production untouched."""
        assert self.serving_check is not None
        try:
            await self.controller.precheck(adapter)  # what vLLM would refuse, before loading anything
            report = await self.controller.within_deadline(
                self.serving_check.stage_and_check(adapter), "stage and check", self.conformance_timeout)
        except VllmUnreachable as exc:
            self._record(action, previous, adapter, "FAILED", str(exc), "", reason, actor)
            raise exc.to_error(f"vLLM did not answer the conformance check of {adapter.name!r}", adapter.name) from None
        except (VllmRejected, TuneforgeError) as exc:
            err = as_error(exc, adapter.name)
            self._record(action, previous, adapter, "REJECTED", str(err), "", reason, actor)
            raise err from None
        if not report.passed:
            err = conformance_failed(report)
            self._record(action, previous, adapter, "REJECTED", str(err), "", reason, actor)
            log.warning("conformance_failed", adapter=adapter.name, version=adapter.version,
                        metric=report.failed_metric, value=report.failed_value)
            raise err

    async def _fingerprint(self, adapter) -> None:
        """Keep the promoted version's fingerprint (staging.py); a failure is logged, the
        next verification records it."""
        if self.serving_check is None:
            return
        try:
            await self.controller.within_deadline(self.serving_check.record(adapter), "fingerprint")
        except Exception as exc:  # noqa: BLE001 - the activation stands
            log.warning("fingerprint_not_recorded", adapter=adapter.name, error=str(exc))

    async def _check_after_restart(self, action, previous, adapter, reason, actor, output) -> None:
        """Restart mode: the check runs on the new default once vLLM serves it; a failure
        puts the previous marker back and restarts vLLM with it, as a failed restart does."""
        assert self.serving_check is not None
        try:
            report = await within(self.serving_check.check_served(adapter), self.conformance_timeout)
            err = None if report.passed else conformance_failed(report)
        except VllmUnreachable as exc:
            err = exc.to_error(f"vLLM did not answer the conformance check of {adapter.name!r}", adapter.name)
        except asyncio.TimeoutError:
            err = unavailable("VLLM_TIMEOUT", f"the conformance check of {adapter.name!r} took over "
                              f"{self.conformance_timeout:g}s", adapter=adapter.name)
        except (VllmRejected, TuneforgeError) as exc:
            err = as_error(exc, adapter.name)
        if err is None:
            await self._fingerprint(adapter)
            return
        self._revert(previous)
        back = await self.controller.restart_and_wait(self._adapter_or_none(previous), self._extras())
        detail = f"{err}; put {previous or 'no adapter'!r} back" + ("" if back.ok else f", but: {back.detail}")
        self._set_state(VllmState.APPLIED if back.ok else VllmState.FAILED, "" if back.ok else detail)
        self._record(action, previous, adapter, "REJECTED", detail, output + back.output, reason, actor)
        self._publish("FAILED", previous)
        raise err

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


__all__ = ["ActivationManager"]
