"""Verify what vLLM serves: after every reload, wake and restart, each served adapter is probed.

vLLM can stop applying an adapter without saying so (after a sleep/wake, vLLM issue 53888),
and a reload reads the files again — which may have been swapped on disk behind vLLM's back.
So :meth:`ActivationVerify.verify_serving` (the ``VerifyServing`` RPC; called by the
reconcile loop whenever it had to load an adapter again) probes every live adapter — the
active one and the served set — against the fingerprint kept at promotion (staging.py:
files' SHA-256, a fixed prompt's greedy tokens):

* a match → ``OK`` (a version never fingerprinted is fingerprinted now: ``RECORDED``);
* a mismatch → the adapter is unloaded and loaded once more and probed again (``RELOADED``
  when it matches then);
* a second mismatch → the active adapter is rolled back to the one active before it (or
  taken off when there is none) and a served one is unserved (``ROLLED_BACK`` /
  ``UNSERVED``), with an error log line ``adapter_fingerprint_mismatch``, a
  ``FINGERPRINT_MISMATCH`` activation event and the metric
  ``tuneforge_serving_fingerprint_mismatches_total`` — what an operator alerts on.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuneforge.runtime.errors import TuneforgeError, failed_precondition
from tuneforge.runtime.logging import get_logger
from tuneforge.services.registry.activation_records import TAKEN
from tuneforge.services.registry.activation_state import ActivationState
from tuneforge.services.registry.adapters import Adapter
from tuneforge.services.registry.vllm import VllmRejected, VllmUnreachable

log = get_logger("tuneforge.registry")


@dataclass(frozen=True)
class ProbeOutcome:
    adapter: str
    version: int
    served_name: str
    outcome: str  # OK | RECORDED | RELOADED | ROLLED_BACK | UNSERVED | FAILED
    detail: str = ""


class ActivationVerify(ActivationState):
    async def verify_serving(self, reload: bool = False) -> list[ProbeOutcome]:
        """Probe every live adapter (``reload``: load each again from its files first, as
        a wake or a restart does). FAILED_PRECONDITION ``VLLM_NOT_CONFIGURED`` without vLLM."""
        if self.serving_check is None:
            raise failed_precondition("VLLM_NOT_CONFIGURED", "serving can be verified only with a vLLM "
                                      "configured (vllm_mode hot or restart, vllm_url)")
        async with self._lock:
            self._verify_due = False
            live = [a for a in (self._adapter_or_none(self._active), *self._extras()) if a is not None]
            return [await self._verify_one(a, reload) for a in live]

    async def _verify_one(self, adapter: Adapter, reload: bool) -> ProbeOutcome:
        check = self.serving_check
        assert check is not None
        had = check.store.fingerprint(adapter.name, adapter.version)
        try:
            if reload:
                await self.controller.within_deadline(check.reload(adapter), f"reload {adapter.served_name}")
            why = await self.controller.within_deadline(check.probe(adapter), f"probe {adapter.served_name}")
            if why is None:
                recorded = had is None or had.get("probe_tokens") is None
                return ProbeOutcome(adapter.name, adapter.version, adapter.served_name, "RECORDED" if recorded else "OK")
            log.warning("adapter_probe_mismatch", adapter=adapter.name, served_name=adapter.served_name, detail=why)
            await self.controller.within_deadline(check.reload(adapter), f"reload {adapter.served_name}")
            again = await self.controller.within_deadline(check.probe(adapter), f"probe {adapter.served_name}")
            if again is None:
                return ProbeOutcome(adapter.name, adapter.version, adapter.served_name, "RELOADED", why)
        except (VllmUnreachable, VllmRejected, TuneforgeError) as exc:
            return ProbeOutcome(adapter.name, adapter.version, adapter.served_name, "FAILED", str(exc))
        return await self._take_off(adapter, again)

    async def _take_off(self, adapter: Adapter, why: str) -> ProbeOutcome:
        """A second mismatch: roll the active adapter back, or unserve a served one."""
        log.error("adapter_fingerprint_mismatch", adapter=adapter.name, version=adapter.version,
                  served_name=adapter.served_name, detail=why)
        if self.on_mismatch is not None:
            self.on_mismatch(adapter.name)
        reason = f"fingerprint mismatch after a reload: {why}"
        try:
            if adapter.name == self._active:
                target = self._previous_of(adapter.name)
                await self._transition("rollback", target, "registry", reason, force=True)  # activation.py
                outcome = "ROLLED_BACK"
                detail = f"{why}; rolled back to {target or 'no adapter'!r}"
            else:
                self.store.execute("DELETE FROM registry_served WHERE name=?", (adapter.name,))
                await self._apply_serving(f"unserve {adapter.name}")  # activation_serving.py
                outcome, detail = "UNSERVED", f"{why}; unserved"
        except (VllmUnreachable, VllmRejected, TuneforgeError) as exc:
            outcome, detail = "FAILED", f"{why}; taking it off failed: {exc}"
        self._publish("FINGERPRINT_MISMATCH", adapter.name)
        return ProbeOutcome(adapter.name, adapter.version, adapter.served_name, outcome, detail)

    def _previous_of(self, name: str) -> str | None:
        """The adapter active before ``name`` became active (None: none, or deleted since)."""
        marks = ",".join("?" * len(TAKEN))
        row = self.store.query_one(
            f"SELECT from_name FROM registry_activation_history WHERE outcome IN ({marks}) AND to_name=?"
            " AND action IN ('activate','rollback','revert') ORDER BY id DESC LIMIT 1", (*TAKEN, name))
        target = row["from_name"] if row else None
        return target if target and target != name and self.catalog.exists(target) else None


__all__ = ["ActivationVerify", "ProbeOutcome"]
