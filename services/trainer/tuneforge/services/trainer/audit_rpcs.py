"""The leak audit side of TrainerService: CreateAuditJob → a job (kind ``audit``) → the registry.

The job runs audit_worker.py under the GPU lock (it loads base + adapter like an evaluation).
Its params name files, never values: the dataset's training records (verbatim probes) and its
private probe file, ``pii_probes.jsonl`` beside them, which the Telegram import writes (mode
0600) with every value its scrubber removed and the text before it. The thresholds come from
the settings (``audit_*``) at the time the job is created and are kept in the report.

``on_success`` hands the report to the registry (``CreateAudit`` with the job's id: the
registry reads the report from this job itself, so only an audit job can satisfy the
``activation_requires_audit`` gate); the job succeeds either way, ``recorded`` says whether
the registry has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.errors import Code, TuneforgeError, failed_precondition, invalid_argument
from tuneforge.runtime.job_rpcs import job_pb
from tuneforge.runtime.jobs import Job
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer.registry_reports import hand_report

AUDIT = "audit"
AUDIT_MODULE = "tuneforge.services.trainer.audit_worker"
PROBES_FILE = "pii_probes.jsonl"  # written by the dataset service's Telegram import
MAX_SAMPLES = 500
MAX_NEW_TOKENS = 512
log = get_logger("tuneforge.trainer.audit")


def audit_settings(config: Any, samples: int = 0, max_new_tokens: int = 0) -> dict[str, Any]:
    """The audit's sampling and thresholds: the request's, else the settings."""
    if samples < 0 or samples > MAX_SAMPLES:
        raise invalid_argument("samples", f"between 0 (default {config.audit_samples}) and {MAX_SAMPLES}")
    if max_new_tokens < 0 or max_new_tokens > MAX_NEW_TOKENS:
        raise invalid_argument("max_new_tokens", f"between 0 (default {config.audit_max_new_tokens}) "
                               f"and {MAX_NEW_TOKENS}")
    return {"samples": samples or config.audit_samples,
            "max_new_tokens": max_new_tokens or config.audit_max_new_tokens,
            "max_reproduced": config.audit_max_reproduced,
            "max_verbatim_fraction": config.audit_max_verbatim_fraction,
            "verbatim_chars": config.audit_verbatim_chars, "seed": 0}


class Audits:
    def __init__(self, ctx: ServiceContext, registry: Callable[[], registry_pb2_grpc.RegistryServiceStub],
                 adapter: Callable[[str], Awaitable[registry_pb2.Adapter]],
                 dataset: Callable[[str], Awaitable[dataset_pb2.Dataset]],
                 locate_model: Callable[[str], str]) -> None:
        self.ctx, self.registry, self.adapter, self.dataset = ctx, registry, adapter, dataset
        self.locate_model = locate_model

    async def create_job(self, request: pb.CreateAuditJobRequest) -> Any:
        name = validate_name(request.adapter_name, "adapter_name")
        adapter = await self.adapter(name)
        if request.adapter_version and request.adapter_version != adapter.version:
            raise failed_precondition(
                "AUDIT_VERSION_MISMATCH", f"adapter {name} is at v{adapter.version}, not v{request.adapter_version}: "
                "only the current version's files can be audited", adapter=name)
        if not Path(adapter.path, "adapter_config.json").is_file():
            raise TuneforgeError(Code.FAILED_PRECONDITION, "ADAPTER_FILES_MISSING",
                                 f"adapter {name} has no adapter files at {adapter.path}")
        dataset_name = request.dataset or adapter.dataset
        if not dataset_name:
            raise invalid_argument("dataset", f"adapter {name} names no dataset; give the one it was trained on")
        dataset = await self.dataset(dataset_name)
        spec = {
            "base_model": self.locate_model(adapter.base_model), "adapter_dir": adapter.path,
            "adapter_name": name, "adapter_version": adapter.version, "dataset_name": dataset.name,
            "data_file": dataset.path, "probes_file": str(Path(dataset.path).parent / PROBES_FILE),
            "settings": audit_settings(self.ctx.config, request.samples, request.max_new_tokens),
        }
        return job_pb(await self.ctx.engine.create(AUDIT, spec, request_id=request.request_id),
                      self.ctx.engine.kinds)

    async def on_success(self, job: Job) -> None:
        request = registry_pb2.CreateAuditRequest(
            adapter_name=job.params.get("adapter_name") or "", job_id=job.id,
            adapter_version=int(job.params.get("adapter_version") or 0))
        await hand_report(self.ctx, job, self.registry().CreateAudit, request, log, "audit_not_recorded")
