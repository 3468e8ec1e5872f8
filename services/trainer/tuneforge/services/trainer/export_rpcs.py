"""CreateExportJob of TrainerService: check everything cheap before a job exists.

A mixin of the trainer's servicer. Before queuing, it checks the format and quant and the
output directory (paths.confine_output: under ``models/`` or ``allowed_paths``, never the
service's own files; OUTPUT_EXISTS when it holds something), asks the registry for the adapter
(NOT_FOUND), locates the base model offline (MODEL_NOT_AVAILABLE), reads its architecture
(UNSUPPORTED_ARCHITECTURE, named), refuses an output another export writes to
(ALREADY_EXISTS), finds the calibration data for AWQ (the adapter's own dataset, through the
dataset service) and checks the free disk (DISK_FULL). The worker
checks again (the disk may fill meanwhile).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, already_exists, invalid_argument
from tuneforge.runtime.job_rpcs import job_pb
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.peers import peer_error
from tuneforge.runtime.paths import MODELS_DIR, confine_output
from tuneforge.services.trainer import export as ex

EXPORT = "export"
CALL_TIMEOUT_SECONDS = 30.0
_FORMATS = {registry_pb2.EXPORT_FORMAT_GGUF: "gguf", registry_pb2.EXPORT_FORMAT_GGUF_LORA: "gguf-lora",
            registry_pb2.EXPORT_FORMAT_AWQ: "awq", registry_pb2.EXPORT_FORMAT_MERGED: "merged"}


def models_dir(root: Path) -> Path:
    return Path(root) / MODELS_DIR


def output_dir(root: Path, raw: str, adapter: str, fmt: str, quant: str, roots: list[Path] | None = None) -> Path:
    """Where an export goes: ``raw`` (relative = under ``models/``; in the data root only under
    ``models/``, else under ``allowed_paths``) or a fresh default under ``models/<adapter>/``."""
    raw = raw or f"{adapter}/{fmt}-{quant}-{time.strftime('%Y%m%d-%H%M%S')}"
    return confine_output(raw, "output_dir", root, MODELS_DIR, roots or [Path(root).resolve()], base=models_dir(root))


class ExportRpcs:
    """Needs the TrainerServicer's ``ctx``, ``channel``, ``_replayed``, ``_dataset``."""

    async def CreateExportJob(self, request, context):
        from tuneforge.services.trainer.servicer import locate_model

        if replay := self._replayed(request.request_id):
            return replay
        name = validate_name(request.adapter_name, "adapter_name")
        if request.format not in _FORMATS:
            raise invalid_argument("format", f"one of {', '.join(ex.FORMATS)}")
        fmt, quant = ex.check_format(_FORMATS[request.format], request.quant)
        out = output_dir(self.ctx.root, request.output_dir, name, fmt, quant, self.ctx.path_roots())
        adapter = await self._registered_adapter(name)
        base, config_json = locate_model(request.base_model or adapter.base_model, self.ctx.config.models_dir)
        arch = ex.check_architecture(config_json, fmt)
        self._check_no_export_into(out)
        calibration = await self._calibration_file(fmt, request.calibration_dataset or adapter.dataset)
        cfg = self.ctx.config
        if config_json is not None:
            weights = sum(p.stat().st_size for p in config_json.parent.iterdir()
                          if p.suffix in (".safetensors", ".bin"))
            ex.check_free_space(out.parent, ex.needed_bytes(weights, fmt), cfg.export_reserve_bytes)
        samples = request.calibration_samples if request.HasField("calibration_samples") else cfg.export_calibration_samples
        if samples < 1:
            raise invalid_argument("calibration_samples", "must be at least 1")
        params: dict[str, Any] = ex.export_spec(
            adapter_dir=Path(adapter.path), adapter_name=name, base_model=base, fmt=fmt, quant=quant,
            output_dir=out, llama_cpp_dir=cfg.export_llama_cpp_dir or str(ex.DEFAULT_LLAMA_CPP_DIR),
            awq_python=cfg.export_awq_python or str(ex.DEFAULT_AWQ_PYTHON), calibration_file=calibration,
            calibration_samples=samples, reserve_bytes=cfg.export_reserve_bytes,
        )  # fmt: skip
        params.update(architecture=arch, adapter_version=adapter.version,
                      conformance={k: getattr(cfg, f"conformance_{k}") for k in (
                          "prompts", "max_tokens", "parity_tokens", "min_stop_rate", "max_leak_rate", "min_parity")},
                      check_prompts_file=await self._check_prompts_file(fmt, calibration, adapter.dataset),
                      register=models_dir(self.ctx.root).resolve() in out.parents)
        job = await self.ctx.engine.create(EXPORT, params, request_id=request.request_id)
        return job_pb(job, self.ctx.engine.kinds)

    async def _registered_adapter(self, name: str) -> registry_pb2.Adapter:
        stub = registry_pb2_grpc.RegistryServiceStub(self.channel("registry", self.ctx.config.registry_target))
        try:
            return await stub.GetAdapter(registry_pb2.GetAdapterRequest(name=name),
                                         metadata=self.ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise peer_error(exc, peer="registry", reason="REGISTRY_UNAVAILABLE",
                             field="adapter_name", resource="adapter", value=name) from None

    async def _calibration_file(self, fmt: str, dataset: str) -> str:
        if fmt != "awq":
            return ""
        if not dataset:
            raise TuneforgeError(Code.FAILED_PRECONDITION, "CALIBRATION_DATA_MISSING",
                                 "AWQ calibrates on the adapter's training data, but the adapter names no dataset",
                                 [FieldViolation("calibration_dataset", "name a dataset to calibrate on")])
        try:
            return (await self._dataset(dataset)).path
        except TuneforgeError as exc:
            if exc.reason != "DATASET_NOT_FOUND":
                raise
            raise TuneforgeError(Code.FAILED_PRECONDITION, "CALIBRATION_DATA_MISSING",
                                 f"AWQ calibrates on the adapter's training data; dataset {dataset!r} is gone",
                                 [FieldViolation("calibration_dataset", f"no dataset named {dataset!r}")]) from None

    async def _check_prompts_file(self, fmt: str, calibration: str, dataset: str) -> str:
        """The adapter's dataset, whose user turns the GGUF serving check asks (export_check);
        "" (the probe prompts) when it has none."""
        if calibration or fmt not in ("gguf", "gguf-lora") or not dataset:
            return calibration
        try:
            return (await self._dataset(dataset)).path
        except TuneforgeError:
            return ""

    def _check_no_export_into(self, out: Path) -> None:
        if self.ctx.engine.job_store.live_job_with_param("trainer", "output_dir", str(out), kind=EXPORT):
            raise already_exists("output_dir", str(out))
