"""Wiring of the registry service into a tuneforge server.

The domain is built from the ``vllm_*`` config fields. Archive imports are bounded by
``max_upload_bytes`` as received and by four times that once decompressed (a gzip bomb
stops there, RESOURCE_EXHAUSTED ``ARCHIVE_TOO_LARGE``).
"""

from __future__ import annotations

from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc

from tuneforge.runtime.server import ServiceContext
from tuneforge.services.registry.archive import ImportLimits
from tuneforge.services.registry.conformance import ConformanceSettings
from tuneforge.services.registry.domain import open_registry
from tuneforge.services.registry.models import ModelCatalog
from tuneforge.services.registry.servicer import RegistryServicer, sweep_exports

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
DECOMPRESSED_FACTOR = 4


async def setup(ctx: ServiceContext) -> None:
    cfg = ctx.config
    domain = open_registry(
        ctx.store, ctx.root,
        vllm_mode=cfg.vllm_mode, vllm_url=cfg.vllm_url,
        vllm_restart_command=cfg.vllm_restart_command,
        vllm_restart_timeout_seconds=cfg.vllm_restart_timeout_seconds,
        vllm_timeout_seconds=cfg.vllm_timeout_seconds,
        vllm_max_lora_rank=cfg.vllm_max_lora_rank, vllm_api_key=cfg.vllm_api_key,
        vllm_max_loras=cfg.vllm_max_loras, vllm_log_file=cfg.vllm_log_file,
        activation_requires_eval=cfg.activation_requires_eval,
        activation_requires_audit=cfg.activation_requires_audit,
        activation_requires_conformance=cfg.activation_requires_conformance,
        conformance=ConformanceSettings(
            prompts=cfg.conformance_prompts, max_tokens=cfg.conformance_max_tokens,
            parity_tokens=cfg.conformance_parity_tokens, min_stop_rate=cfg.conformance_min_stop_rate,
            max_leak_rate=cfg.conformance_max_leak_rate, min_parity=cfg.conformance_min_parity,
            timeout=cfg.conformance_timeout_seconds,
            reference_python=cfg.conformance_reference_python or cfg.worker_python,
        ),
        find_job=ctx.engine.get,
        lora_throughput_ratio=cfg.serving_lora_throughput_ratio,
        import_limits=ImportLimits(
            max_archive_bytes=cfg.max_upload_bytes,
            max_total_bytes=DECOMPRESSED_FACTOR * cfg.max_upload_bytes,
        ),
    )
    domain.activation.on_mismatch = lambda name: ctx.metrics.fingerprint_mismatches.labels(name).inc()
    sweep_exports(ctx.root)
    await domain.start()
    ctx.on_shutdown.append(domain.close)
    servicer = RegistryServicer(ctx, domain)
    servicer.models = ModelCatalog(ctx.store, ctx.root)  # exported models (model_rpcs.py)
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, ctx.server)
