"""Wiring of the trainer service into a tuneforge server.

Job kinds:

| kind    | worker                              | GPU lock | executor                    | result            |
|---------|-------------------------------------|----------|-----------------------------|-------------------|
| `train` | train_worker (or accelerate launch) | yes      | config `training_executor`  | TrainingJobResult |
| `merge` | merge_worker                        | no       | local                       | MergeJobResult    |
| `export`| export_worker (docs/export.md)      | no       | local                       | ExportJobResult   |
| `evaluate` | eval_worker                      | yes      | local                       | EvaluationJobResult |
| `chat`  | chat_worker                         | yes      | local                       | ChatJobResult     |
| `audit` | audit_worker (leak audit)           | yes      | local                       | AuditJobResult    |
| `warmup`| warmup_worker (PlanTraining)        | yes      | config `training_executor`  | WarmupJobResult   |

With ``vllm_share_gpu`` the `train`, `warmup` and `evaluate` kinds put vLLM to sleep before
their worker starts and wake it (re-loading the adapters it served) when the job ends, however
it ends.

``train_num_processes`` > 1 runs the training worker under torchrun (runtime/dist_launch.py;
with ``accelerate_config``, ``accelerate launch``), ``training_executor`` says where
(docs/distributed.md; launcher.py). A finished `train` job registers its adapter with the
registry (registration.py), then, when it held data out, queues an `evaluate` job
(eval_rpcs.py) whose report the registry keeps with the adapter version.
"""

from __future__ import annotations

import asyncio

import grpc

from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc

from tuneforge.runtime.jobs import Job, JobKind
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.server import ServiceContext
from tuneforge.runtime.vllm_sleep import gpu_job_hooks
from tuneforge.services.trainer.launcher import (
    LaunchSettings,
    export_command,
    merge_command,
    train_command,
    worker_command,
)
from tuneforge.services.trainer.audit_rpcs import AUDIT, AUDIT_MODULE
from tuneforge.services.trainer.export_registration import ModelRegistrar
from tuneforge.services.trainer.export_rpcs import EXPORT
from tuneforge.services.trainer.eval_jobs import CHAT, EVALUATE
from tuneforge.services.trainer.registration import Registrar
from tuneforge.services.trainer.servicer import MERGE, SERVICE, TRAIN, TrainerServicer
from tuneforge.services.trainer.stored_config import StoredConfig
from tuneforge.services.trainer.warmup_jobs import WARMUP, WARMUP_MODULE

log = get_logger("tuneforge.trainer")
SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
              "TOKENIZERS_PARALLELISM": "false"}
EVAL_MODULE = "tuneforge.services.trainer.eval_worker"
CHAT_MODULE = "tuneforge.services.trainer.chat_worker"


async def setup(ctx: ServiceContext) -> None:
    cfg = ctx.config
    servicer = TrainerServicer(ctx, StoredConfig(ctx.store))
    registry = ("registry", cfg.registry_target)
    registrar = Registrar(ctx, lambda: servicer.channel(*registry), lambda: servicer.drop_channel(*registry))
    python = ctx.engine.worker_python
    launch = LaunchSettings(python=python, num_processes=max(1, cfg.train_num_processes),
                            accelerate_config=cfg.accelerate_config or None, num_nodes=cfg.train_num_nodes,
                            executor=cfg.training_executor, stop_timeout=cfg.stop_timeout_seconds)  # fmt: skip

    def env(job: Job) -> dict[str, str]:
        return dict(WORKER_ENV)

    async def verify_serving() -> None:  # after a wake: the registry probes every served adapter
        stub = registry_pb2_grpc.RegistryServiceStub(servicer.channel(*registry))
        try:
            resp = await stub.VerifyServing(registry_pb2.VerifyServingRequest(),
                                            timeout=cfg.vllm_restart_timeout_seconds)
        except grpc.aio.AioRpcError as exc:  # e.g. the registry has no vLLM configured
            log.warning("serving_not_verified_after_wake", code=exc.code().name, detail=exc.details())
            return
        log.info("serving_verified_after_wake", probes=[
            (p.served_name, registry_pb2.ServingProbe.Outcome.Name(p.outcome)) for p in resp.probes])

    # vllm_share_gpu: vLLM sleeps while training
    before_start, on_end = gpu_job_hooks(cfg, after_wake=verify_serving)

    async def after_training(job: Job) -> None:
        await registrar.on_success(job)
        await servicer.evaluations.after_training(job)

    ctx.engine.register_kind(JobKind(
        name=TRAIN, service=SERVICE, command=lambda job: train_command(job.spec_path, launch),
        gpu=True, gpu_devices=cfg.gpu_devices, env=env, on_success=after_training,
        executor=cfg.training_executor, params_type=trainer_pb2.TrainingJobParams,
        result_type=trainer_pb2.TrainingJobResult, before_start=before_start, on_end=on_end,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=MERGE, service=SERVICE, command=lambda job: merge_command(job.spec_path, python), env=env,
        params_type=trainer_pb2.MergeJobParams, result_type=trainer_pb2.MergeJobResult,
    ))  # fmt: skip
    models = ModelRegistrar(ctx, lambda: servicer.channel(*registry), lambda: servicer.drop_channel(*registry))
    ctx.engine.register_kind(JobKind(
        name=EXPORT, service=SERVICE, command=lambda job: export_command(job.spec_path, python), env=env,
        on_success=models.on_success, params_type=trainer_pb2.ExportJobParams,
        result_type=trainer_pb2.ExportJobResult,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=EVALUATE, service=SERVICE, gpu=True, gpu_devices=cfg.gpu_devices, env=env,
        command=lambda job: worker_command(EVAL_MODULE, job.spec_path, python),
        on_success=servicer.evaluations.on_success, before_start=before_start, on_end=on_end,
        params_type=trainer_pb2.EvaluationJobParams, result_type=trainer_pb2.EvaluationJobResult,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=CHAT, service=SERVICE, gpu=True, gpu_devices=cfg.gpu_devices, env=env,
        command=lambda job: worker_command(CHAT_MODULE, job.spec_path, python),
        params_type=trainer_pb2.ChatJobParams, result_type=trainer_pb2.ChatJobResult,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=AUDIT, service=SERVICE, gpu=True, gpu_devices=cfg.gpu_devices, env=env,
        command=lambda job: worker_command(AUDIT_MODULE, job.spec_path, python),
        on_success=servicer.audits.on_success, before_start=before_start, on_end=on_end,
        params_type=trainer_pb2.AuditJobParams, result_type=trainer_pb2.AuditJobResult,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=WARMUP, service=SERVICE, gpu=True, gpu_devices=cfg.gpu_devices, env=env,
        command=lambda job: worker_command(WARMUP_MODULE, job.spec_path, python),
        executor=cfg.training_executor, before_start=before_start, on_end=on_end,
        params_type=trainer_pb2.WarmupJobParams, result_type=trainer_pb2.WarmupJobResult,
    ))  # fmt: skip
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, ctx.server)
    ctx.background.append(asyncio.create_task(registrar.run()))
    ctx.background.append(asyncio.create_task(models.run()))
    ctx.on_shutdown.append(servicer.close)
