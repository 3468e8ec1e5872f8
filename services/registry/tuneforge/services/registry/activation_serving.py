"""The served set: adapters kept loaded beside the active one, under their own served names.

A personal bot and a support bot on one vLLM: ``serve``/``unserve`` change the set
(persisted in ``registry_served``, written to ``adapters/.serving`` for the launcher) and
tell vLLM in the same way an activation does (files first; hot mode loads/unloads, restart
mode restarts and waits). A refused or unconfirmed ``serve`` (vLLM down or not answering
within ``vllm_timeout_seconds``: UNAVAILABLE) leaves the set as it was — in restart mode
vLLM is brought back with the previous set. ``vllm_max_loras`` bounds the distinct adapters
on vLLM (active + served), checked here for activations too.
"""

from __future__ import annotations

from tuneforge.runtime.errors import failed_precondition, unavailable
from tuneforge.services.registry.activation_records import not_found_served
from tuneforge.services.registry.activation_state import ActivationState
from tuneforge.services.registry.adapters import utc_now
from tuneforge.services.registry.vllm import VllmMode, VllmRejected, VllmUnreachable


class ActivationServing(ActivationState):
    async def serve(self, name: str, force: bool = False) -> list[str]:
        """Keep ``name`` loaded under its served name beside the active adapter (idempotent).
        FAILED_PRECONDITION ``TOO_MANY_LORAS`` above ``vllm_max_loras``, what the operator's
        policy (``admit``: the evaluation gate) or vLLM's rules or vLLM itself refuse; the set
        is unchanged then. Returns the served set."""
        adapter = self.catalog.get(name)
        async with self._lock:
            names = self.served_names()
            if name in names:
                return names
            self._check_lora_count(name, [*names, *([self._active] if self._active else [])])
            if self.admit is not None:
                self.admit(name)
            if self.retracted is not None and not force:
                self.retracted(adapter)
            await self.controller.precheck(adapter)
            if self.require_conformance and self.controller.mode is VllmMode.HOT:
                await self._stage_and_check("serve", self._active, adapter, "", "")  # activation.py
            self.store.execute("INSERT INTO registry_served(name, serve_time) VALUES (?, ?)", (name, utc_now()))
            try:
                await self._apply_serving(f"serve {name}")
            except Exception:
                self.store.execute("DELETE FROM registry_served WHERE name=?", (name,))
                self.write_files()
                if self.controller.mode is VllmMode.RESTART:  # bring vLLM back with the previous set
                    await self.controller.restart_and_wait(self._adapter_or_none(self._active), self._extras())
                raise
            if self.controller.mode is VllmMode.HOT:
                await self._fingerprint(adapter)
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
                await self.controller.within_deadline(
                    self.controller.apply_hot(self._adapter_or_none(self._active), self._extras()), f"confirm {what}")
            except VllmUnreachable as exc:
                self._set_pending(str(exc))  # the reconcile loop re-applies the set when vLLM is back
                if what.startswith("serve "):  # never served unconfirmed: the caller restores the set
                    raise exc.to_error(f"vLLM did not confirm {what}", what.split(" ", 1)[1]) from None
            except VllmRejected as exc:
                raise exc.to_error(what.split(" ", 1)[1]) from None
        elif mode is VllmMode.RESTART:
            res = await self.controller.restart_and_wait(self._adapter_or_none(self._active), self._extras())
            if not res.ok:
                raise unavailable("VLLM_RESTART_FAILED", f"{what} FAILED: {res.detail}", output_tail=res.output[-2000:])


__all__ = ["ActivationServing"]
