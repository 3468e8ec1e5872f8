"""One call that builds the registry's domain objects from plain settings (what the
servicer and the CLI need): the catalog, the vLLM controller and the activation manager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tuneforge.runtime.store import Store
from tuneforge.services.registry.activation import ActivationManager
from tuneforge.services.registry.adapters import AdapterCatalog
from tuneforge.services.registry.archive import ImportLimits
from tuneforge.services.registry.audits import AuditStore, check_audit
from tuneforge.services.registry.conformance import ConformanceChecker, ConformanceSettings, ConformanceStore
from tuneforge.services.registry.eval_gate import check_activation
from tuneforge.services.registry.evaluations import EvaluationStore
from tuneforge.services.registry.lineage import Lineage, check_not_retracted
from tuneforge.services.registry.staging import ServingCheck
from tuneforge.services.registry.thinking import ThinkingStore
from tuneforge.services.registry.vllm import (
    DEFAULT_MAX_LORAS, DEFAULT_TIMEOUT_SECONDS, VLLM_DEFAULT_MAX_LORA_RANK, VllmController,
)


@dataclass
class RegistryDomain:
    catalog: AdapterCatalog
    controller: VllmController
    activation: ActivationManager
    import_limits: ImportLimits
    evaluations: EvaluationStore
    audits: AuditStore
    lineage: Lineage
    conformance: ConformanceStore
    serving_check: ServingCheck | None = None
    thinking: ThinkingStore | None = None
    # One adapter's throughput over the base's on this vLLM (serving_lora_throughput_ratio; 0: not measured).
    lora_throughput_ratio: float = 0.0

    async def start(self) -> None:
        await self.activation.start()

    async def close(self) -> None:
        await self.activation.close()


def open_registry(
    store: Store,
    data_root: Path | str,
    *,
    vllm_mode: str = "none",
    vllm_url: str = "",
    vllm_restart_command: str | list[str] = "",
    vllm_restart_timeout_seconds: float = 300.0,
    vllm_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    vllm_max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK,
    vllm_api_key: str = "",
    vllm_max_loras: int = DEFAULT_MAX_LORAS,
    vllm_log_file: str = "",
    import_limits: ImportLimits = ImportLimits(),
    activation_requires_eval: bool = False,
    find_job: Callable[[str], Any] | None = None,
    activation_requires_audit: bool = False,
    activation_requires_conformance: bool = False,
    conformance: ConformanceSettings = ConformanceSettings(),
    lora_throughput_ratio: float = 0.0,
) -> RegistryDomain:
    """Arguments mirror the ``vllm_*`` config fields. ``vllm_restart_command``: a string runs
    through ``/bin/sh -c``, a list runs as argv. Call ``await domain.start()`` inside the
    event loop (starts the vLLM retry/reconcile task in hot mode) and ``close()`` at exit.
    ``activation_requires_eval``: every activation, rollback and serve passes the evaluation
    gate (eval_gate.py); ``find_job``: the job engine's ``get``, which verifies the evaluation
    job a report names (evaluations.py). ``activation_requires_audit``: they also pass the
    leak audit gate (audits.py). ``activation_requires_conformance``: every activation and serve
    first stages the version on vLLM and passes the conformance check (staging.py,
    conformance.py) with the ``conformance`` thresholds; with a vLLM configured, promoted
    versions are fingerprinted and re-probed after reloads either way."""
    catalog = AdapterCatalog(store, data_root)
    command = vllm_restart_command or None
    controller = VllmController(
        vllm_mode, vllm_url, max_lora_rank=vllm_max_lora_rank, restart_command=command,
        restart_timeout=vllm_restart_timeout_seconds, request_timeout=vllm_timeout_seconds, api_key=vllm_api_key or None,
        max_loras=vllm_max_loras, log_file=vllm_log_file or None,
    )
    evaluations = EvaluationStore(store, catalog, find_job)
    audits = AuditStore(store, catalog, find_job)
    gates: list[Callable[[str], None]] = []
    if activation_requires_eval:
        gates.append(partial(check_activation, evaluations))
    if activation_requires_audit:
        gates.append(partial(check_audit, audits))
    lineage = Lineage(store)
    reports = ConformanceStore(store)
    thinking = ThinkingStore(store, data_root)
    serving_check = None
    if controller.client is not None:
        serving_check = ServingCheck(controller.client, ConformanceChecker(controller.client, reports, conformance,
                                                                           Path(data_root), thinking))
    manager = ActivationManager(catalog, controller, admit=_all(gates),
                                retracted=partial(check_not_retracted, lineage), serving_check=serving_check,
                                require_conformance=activation_requires_conformance,
                                conformance_timeout=conformance.timeout)
    return RegistryDomain(catalog, controller, manager, import_limits, evaluations, audits, lineage, reports,
                          serving_check, thinking, lora_throughput_ratio)


def _all(gates: list[Callable[[str], None]]) -> Callable[[str], None] | None:
    """One ``admit`` that runs every gate in turn (the first refusal raises); None: no policy."""
    if not gates:
        return None

    def admit(name: str) -> None:
        for gate in gates:
            gate(name)
    return admit
