"""TrainerService over gRPC: thin; the logic lives in the domain modules beside it.

CreateTrainingJob checks everything it can before a job exists, so a bad request never
queues: the adapter name (free: no final adapter, no pending job making it), the config
(preset + stored defaults + overrides, static checks), the dataset (asked from the dataset
service), the base model (a local directory, or a hub id already in the local Hugging Face
cache: nothing is downloaded) and the config against that model (``inspect_model`` in a
subprocess, cached per model and config.json mtime), and the checkpoint to resume from.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2 as pb
from tuneforge.trainer.v1 import trainer_pb2_grpc as pb_grpc

from tuneforge.runtime.errors import (
    Code,
    TuneforgeError,
    Violations,
    already_exists,
    invalid_argument,
)
from tuneforge.runtime.idempotency import single_flight
from tuneforge.runtime.job_rpcs import job_pb
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.paths import MERGED_DIR, confine_output
from tuneforge.runtime.peers import peer_error
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer import config_pb, planning, preflight, truncation_check, warmup_jobs
from tuneforge.services.trainer.config import HELP, TrainingConfig, check
from tuneforge.services.trainer.audit_rpcs import Audits
from tuneforge.services.trainer.base_models import list_base_models
from tuneforge.services.trainer.eval_rpcs import Evaluations
from tuneforge.services.trainer.export_rpcs import ExportRpcs
from tuneforge.services.trainer.jobs import (
    adapter_dir,
    check_continue_plan,
    check_resume_plan,
    merge_spec,
    resolve_continue,
    resumed_job,
    resolve_resume,
    train_spec,
)
from tuneforge.services.trainer.model_check import check_against_model, validate_for_model
from tuneforge.services.trainer.models import locate_model, model_info
from tuneforge.services.trainer.presets import DEFAULT_PRESET, PRESETS, combine, resolve
from tuneforge.services.trainer.stored_config import StoredConfig

SERVICE = "trainer"
TRAIN, MERGE = "train", "merge"
CALL_TIMEOUT_SECONDS = 30.0


class TrainerServicer(ExportRpcs, pb_grpc.TrainerServiceServicer):
    def __init__(self, ctx: ServiceContext, defaults: StoredConfig) -> None:
        self.ctx = ctx
        self.defaults = defaults
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.evaluations = Evaluations(
            ctx, lambda: self.channel("registry", ctx.config.registry_target), self._dataset,
            lambda raw: locate_model(raw, ctx.config.models_dir)[0])
        self.audits = Audits(ctx, self.evaluations._registry, self.evaluations._adapter, self._dataset,
                             lambda raw: locate_model(raw, ctx.config.models_dir)[0])

    # ------------------------------------------------------------------ plumbing
    def channel(self, service: str, configured: str) -> grpc.aio.Channel:
        target = self.ctx.target_for(service, configured)
        if target not in self._channels:
            self._channels[target] = self.ctx.client_channel(target)
        return self._channels[target]

    async def drop_channel(self, service: str, configured: str) -> None:
        """Forget a channel whose peer was down: a fresh one reconnects at once, where the
        old one would wait out gRPC's reconnect backoff (up to two minutes)."""
        channel = self._channels.pop(self.ctx.target_for(service, configured), None)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def _replayed(self, request_id: str) -> Any:
        if not request_id:
            return None
        job = self.ctx.engine.job_store.by_request_key(f"{SERVICE}:{request_id}")
        return job_pb(self.ctx.engine.get(job.id), self.ctx.engine.kinds) if job else None

    # ------------------------------------------------------------------ config
    def _config_info(self) -> pb.TrainingConfigInfo:
        presets = [pb.Preset(name=p.name, description=p.description, config=config_pb.config_pb(p.values))
                   for p in PRESETS.values()]  # fmt: skip
        return pb.TrainingConfigInfo(config=config_pb.config_pb(self.defaults.config()), presets=presets,
                                     help=HELP, default_preset=DEFAULT_PRESET)  # fmt: skip

    async def GetTrainingConfig(self, request, context):
        return self._config_info()

    async def UpdateTrainingConfig(self, request, context):
        values = config_pb.overrides(request.config, list(request.update_mask.paths))
        if not values and not request.reset:
            raise invalid_argument("config", "set at least one field, or reset")
        self.defaults.update(values, reset=request.reset)
        return self._config_info()

    # ------------------------------------------------------------------ training
    @single_flight
    async def CreateTrainingJob(self, request, context):
        if replay := self._replayed(request.request_id):
            return replay
        name, cfg, resume, base_model = await self._checked_training_request(request)
        self._check_adapter_free(name)
        start_from = self._continue_adapter(request.continue_from, resume)  # issue 27
        if start_from is not None:
            check_continue_plan(start_from, cfg, base_model)
        dataset = await self._dataset(request.dataset)
        plan = await self._plan(cfg, dataset, base_model)
        preflight.check(plan, self.ctx.config.full_max_parameters)
        if resume:  # issue 27: the same plan, or refused naming what differs
            check_resume_plan(Path(resume), cfg, base_model, dataset.name, dataset.sha256)
        params = train_spec(
            self.ctx.root, base_model=base_model, train_file=dataset.path, config=cfg, adapter_name=name,
            dataset_name=dataset.name, validation_file=dataset.validation_path or None,
            resume_from_checkpoint=resume,
        )  # fmt: skip
        params.update(preset=request.preset or DEFAULT_PRESET, resume_from=request.resume_from,
                      register=request.register if request.HasField("register") else True,
                      full_max_parameters=self.ctx.config.full_max_parameters,
                      dataset_version=dataset.version, dataset_sha256=dataset.sha256)  # lineage (registration.py)
        if resume:
            params["resumed_from_job"] = resumed_job(request.resume_from, Path(resume))
        if start_from is not None:
            params.update(continue_from=request.continue_from, continue_from_adapter=str(start_from))
        self._check_adapter_free(name)  # again: the awaits above let another request in
        job = await self.ctx.engine.create(TRAIN, params, request_id=request.request_id)
        return job_pb(job, self.ctx.engine.kinds)

    async def PlanTraining(self, request, context):
        batches = warmup_jobs.check_batches(request.warmup_batches)
        cfg, dataset, base_model = await self._resolve(request)
        plan = await self._plan(cfg, dataset, base_model)
        message = planning.plan_pb(plan, cfg)
        if cfg.method in planning.CHAT_METHODS:
            message.truncation.CopyFrom(await truncation_check.report_async(
                self.ctx.engine.worker_python, base_model, dataset.path, cfg.max_seq_length,
                cfg.truncation))
        if why_not := warmup_jobs.skipped_because(request.warmup, plan, self.ctx.config.full_max_parameters):
            message.time.note = why_not
            return message
        params = warmup_jobs.spec(base_model=base_model, cfg=cfg, train_file=dataset.path,
                                  validation_file=dataset.validation_path,
                                  dataset_name=dataset.name, batches=batches)
        message.time.CopyFrom(await warmup_jobs.measure(self.ctx.engine, params, context.time_remaining(),
                                                        self.ctx.config.train_num_processes))
        return message

    async def _resolve(self, request) -> tuple[TrainingConfig, dataset_pb2.Dataset, str]:
        """The resolved config, the dataset and the located base model of a create/plan."""
        if not request.dataset:
            raise invalid_argument("dataset", "required: the name of a dataset")
        cfg = resolve(request.preset or None, config_pb.overrides(request.config), base=self.defaults.overrides())
        dataset = await self._dataset(request.dataset)
        base_model, config_json = locate_model(request.base_model, self.ctx.config.models_dir, self.ctx.path_roots(with_models=True))
        validate_for_model(cfg, await model_info(base_model, config_json, self.ctx.engine.worker_python))
        return cfg, dataset, base_model

    async def _plan(self, cfg: TrainingConfig, dataset: dataset_pb2.Dataset, base_model: str):
        stub = dataset_pb2_grpc.DatasetServiceStub(self.channel("dataset", self.ctx.config.dataset_target))

        async def stats(req):
            return await stub.GetDatasetStats(req, metadata=self.ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)

        longest = await planning.longest_record(stats, dataset.name, base_model, cfg.max_seq_length)
        return await planning.make_plan(self.ctx.config, cfg, base_model, dataset.format, longest)

    async def _checked_training_request(self, request: Any) -> tuple[str, TrainingConfig, str | None, str]:
        """(adapter name, config, resume checkpoint, base model), or one INVALID_ARGUMENT with
        every bad parameter: names, config values, and the config against the model."""
        problems = Violations()
        name = problems.run(validate_name, request.adapter_name, "adapter_name")
        if not request.dataset:
            problems.add("dataset", "required: the name of a dataset")
        cfg = problems.run(combine, request.preset or None, config_pb.overrides(request.config), self.defaults.overrides())
        if cfg is not None:
            problems.extend(check(cfg), "INVALID_TRAINING_CONFIG")
        resume = problems.run(self._resume_checkpoint, request.resume_from)
        try:
            base_model, config_json = locate_model(request.base_model, self.ctx.config.models_dir,
                                                   self.ctx.path_roots(with_models=True))  # fmt: skip
            if cfg is not None:
                info = await model_info(base_model, config_json, self.ctx.engine.worker_python)
                problems.extend(check_against_model(cfg, info), "INVALID_TRAINING_CONFIG")
        except TuneforgeError as exc:
            if not problems:
                raise
            if exc.code is Code.INVALID_ARGUMENT:
                problems.absorb(exc)
        problems.raise_if_any("invalid training request")
        return name, cfg, resume, base_model  # type: ignore[return-value]

    def _check_adapter_free(self, name: str) -> None:
        if (adapter_dir(self.ctx.root, name) / "final").exists():
            raise already_exists("adapter", name)
        job_id = self.ctx.engine.job_store.live_job_with_param(SERVICE, "adapter_name", name, kind=TRAIN)
        if job_id:
            raise TuneforgeError(Code.ALREADY_EXISTS, "ADAPTER_ALREADY_EXISTS",
                                 f"training job {job_id} is already making adapter {name!r}",
                                 metadata={"adapter": name, "job": job_id})

    async def _dataset(self, name: str) -> dataset_pb2.Dataset:
        stub = dataset_pb2_grpc.DatasetServiceStub(self.channel("dataset", self.ctx.config.dataset_target))
        try:
            return await stub.GetDataset(dataset_pb2.GetDatasetRequest(name=name),
                                         metadata=self.ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise peer_error(exc, peer="dataset service", reason="DATASET_SERVICE_UNAVAILABLE",
                             field="dataset", resource="dataset", value=name) from None

    def _resume_checkpoint(self, raw: str) -> str | None:
        """``resume_from`` → a checkpoint directory (jobs.resolve_resume): JOB_ID (its last
        checkpoint), JOB_ID/checkpoint-N, or a path under ``<data root>/adapters``."""
        if not raw.strip():
            return None

        def job_checkpoints(job_id: str) -> list[str]:
            self.ctx.engine.get(job_id, SERVICE)
            return [str(c.get("path", "")) for c in self.ctx.engine.checkpoints(job_id)]

        return str(resolve_resume(self.ctx.root, raw, job_checkpoints))

    def _continue_adapter(self, raw: str, resume: str | None) -> Path | None:
        """``continue_from`` → the adapter directory a new plan starts from (jobs.resolve_continue);
        None when not asked. Not together with ``resume_from``: one continues a plan, the other
        starts a new one."""
        if not raw.strip():
            return None
        if resume:
            raise invalid_argument("continue_from", "give resume_from (the same plan, its optimizer "
                                   "state) or continue_from (a new plan on top of an adapter), not both")

        def job_checkpoints(job_id: str) -> list[str]:
            self.ctx.engine.get(job_id, SERVICE)
            return [str(c.get("path", "")) for c in self.ctx.engine.checkpoints(job_id)]

        def job_adapter(job_id: str) -> str:
            made = str(self.ctx.engine.get(job_id, SERVICE).result.get("adapter_dir") or "")
            return made if made and Path(made).is_dir() else ""

        return resolve_continue(self.ctx.root, raw, job_checkpoints, job_adapter)

    # ------------------------------------------------------------------ evaluation, chat
    async def CreateEvaluationJob(self, request, context):
        return await self.evaluations.create_job(request)

    async def CreateAuditJob(self, request, context):
        return await self.audits.create_job(request)

    async def Chat(self, request, context):
        async for response in self.evaluations.chat(request, context):
            yield response

    async def ListBaseModels(self, request, context):
        models_dir = self.ctx.config.models_dir or ""
        models, hint = await asyncio.to_thread(list_base_models, models_dir)
        return pb.ListBaseModelsResponse(models=[pb.BaseModel(**m) for m in models], models_dir=models_dir, hint=hint)

    # ------------------------------------------------------------------ merge
    @single_flight
    async def MergeAdapter(self, request, context):
        if replay := self._replayed(request.request_id):
            return replay
        name = validate_name(request.adapter_name, "adapter_name")
        out = self._merge_output(request.output_dir, name)
        stub = registry_pb2_grpc.RegistryServiceStub(self.channel("registry", self.ctx.config.registry_target))
        try:
            adapter = await stub.GetAdapter(registry_pb2.GetAdapterRequest(name=name),
                                            metadata=self.ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise peer_error(exc, peer="registry", reason="REGISTRY_UNAVAILABLE",
                             field="adapter_name", resource="adapter", value=name) from None
        base = request.base_model or adapter.base_model
        if base:
            base, _ = locate_model(base, self.ctx.config.models_dir, self.ctx.path_roots(with_models=True))
        if self.ctx.engine.job_store.live_job_with_param(SERVICE, "output_dir", str(out), kind=MERGE):
            raise already_exists("output_dir", str(out))
        params = {**merge_spec(Path(adapter.path), out, base or None), "adapter_name": name}
        job = await self.ctx.engine.create(MERGE, params, request_id=request.request_id)
        return job_pb(job, self.ctx.engine.kinds)

    def _merge_output(self, raw: str, name: str) -> Path:
        """Relative to the data root (default ``merged/<adapter>``), under ``merged/`` there."""
        raw = raw or f"{MERGED_DIR}/{name}"
        return confine_output(raw, "output_dir", self.ctx.root, MERGED_DIR, self.ctx.path_roots())
