"""Wiring of the trainer service into a tuneforge server.

Job kinds:

| kind    | worker                              | GPU lock | executor                    |
|---------|-------------------------------------|----------|-----------------------------|
| `train` | train_worker (or accelerate launch) | yes      | config `training_executor`  |
| `merge` | merge_worker                        | no       | local                       |

``train_num_processes`` > 1 or ``accelerate_config`` run the training worker under
``accelerate launch`` (launcher.py). A finished `train` job registers its adapter with the
registry over gRPC (unless the request said ``register = false``). The job SUCCEEDS whatever
the registry says — the adapter files exist — and the outcome is kept in the job's result as
``registration``: ``REGISTERED`` (with the version), ``FAILED`` (the registry refused: its
message), or ``PENDING`` when the registry could not be reached; pending registrations are
retried in the background with backoff (also after a restart) until they go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any

import grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc

from tuneforge.runtime.jobs import Job, JobKind
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer.launcher import (
    LaunchSettings,
    merge_command,
    train_command,
)
from tuneforge.services.trainer.servicer import MERGE, SERVICE, TRAIN, TrainerServicer
from tuneforge.services.trainer.stored_config import StoredConfig

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name
RETRY_MIN_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0
REGISTER_TIMEOUT_SECONDS = 15.0
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
             grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED}
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
              "TOKENIZERS_PARALLELISM": "false"}
log = get_logger("tuneforge.trainer")


def final_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numeric final metrics of a training result, as the registry keeps them."""
    names = ("train_loss", "last_loss", "eval_loss", "best_eval_loss", "tokens_per_second",
             "global_step", "epoch", "train_runtime", "num_tokens")
    out = {}
    for name in names:
        value = result.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


class Registrar:
    """Registers finished adapters with the registry; keeps retrying while it is down."""

    def __init__(self, ctx: ServiceContext, servicer: TrainerServicer) -> None:
        self.ctx = ctx
        self.servicer = servicer
        self.wake = asyncio.Event()

    def _set(self, job_id: str, registration: dict[str, Any]) -> None:
        with self.ctx.store.transaction() as conn:
            row = conn.execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
            result = json.loads(row["result"]) if row else {}
            result["registration"] = registration
            conn.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result), job_id))

    async def on_success(self, job: Job) -> None:
        if job.params.get("register") is False:
            self._set(job.id, {"state": "SKIPPED", "message": "register = false"})
            return
        if not await self.attempt(job.id):
            self.wake.set()

    async def attempt(self, job_id: str) -> bool:
        """One try; True when the outcome is final (REGISTERED or FAILED)."""
        job = self.ctx.engine.get(job_id)
        previous = job.result.get("registration") or {}
        request = registry_pb2.RegisterAdapterRequest(
            name=job.params["adapter_name"], path=job.result.get("adapter_dir") or "",
            base_model=job.params.get("base_model") or "", dataset=job.params.get("dataset_name") or "",
            metrics=final_metrics(job.result), job_id=job.id, replace=True,
        )  # fmt: skip
        target = self.ctx.target_for("registry", self.ctx.config.registry_target)
        stub = registry_pb2_grpc.RegistryServiceStub(self.servicer.channel("registry", self.ctx.config.registry_target))
        attempts = int(previous.get("attempts") or 0) + 1
        try:
            adapter = await stub.RegisterAdapter(request, metadata=self.ctx.call_metadata(), timeout=REGISTER_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            message = f"{exc.code().name}: {exc.details()}"
            if exc.code() in RETRYABLE:
                await self.servicer.drop_channel("registry", self.ctx.config.registry_target)
                self._set(job_id, {"state": "PENDING", "attempts": attempts, "registry": target,
                                   "message": f"registry not reachable, retrying: {message}",
                                   "last_attempt_time": time.time()})  # fmt: skip
                log.warning("adapter_registration_pending", job_id=job_id, error=message)
                return False
            self._set(job_id, {"state": "FAILED", "attempts": attempts, "message": message})
            log.warning("adapter_registration_failed", job_id=job_id, error=message)
            return True
        self._set(job_id, {"state": "REGISTERED", "attempts": attempts, "name": adapter.name,
                           "version": adapter.version, "path": adapter.path})  # fmt: skip
        log.info("adapter_registered", job_id=job_id, adapter=adapter.name, version=adapter.version)
        return True

    def pending(self) -> list[str]:
        rows = self.ctx.store.query(
            "SELECT id FROM jobs WHERE service = ? AND kind = ?"
            " AND json_extract(result, '$.registration.state') = 'PENDING' ORDER BY create_time", (SERVICE, TRAIN))
        return [r["id"] for r in rows]

    async def run(self) -> None:
        """Retry pending registrations: backoff from RETRY_MIN to RETRY_MAX seconds."""
        delay = RETRY_MIN_SECONDS
        while True:
            if not self.pending():
                self.wake.clear()
                await self.wake.wait()
                self.wake.clear()
                delay = RETRY_MIN_SECONDS
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=delay)
            self.wake.clear()
            progressed = False
            for job_id in self.pending():
                try:
                    progressed |= await self.attempt(job_id)
                except Exception:
                    log.exception("adapter_registration_retry_failed", job_id=job_id)
            delay = RETRY_MIN_SECONDS if progressed else min(delay * 2, RETRY_MAX_SECONDS)


async def setup(ctx: ServiceContext) -> None:
    cfg = ctx.config
    servicer = TrainerServicer(ctx, StoredConfig(ctx.store))
    registrar = Registrar(ctx, servicer)
    python = ctx.engine.worker_python
    launch = LaunchSettings(python=python, num_processes=max(1, cfg.train_num_processes),
                            accelerate_config=cfg.accelerate_config or None)  # fmt: skip

    def env(job: Job) -> dict[str, str]:
        return dict(WORKER_ENV)

    ctx.engine.register_kind(JobKind(
        name=TRAIN, service=SERVICE, command=lambda job: train_command(job.spec_path, launch),
        gpu=True, gpu_devices=cfg.gpu_devices, env=env, on_success=registrar.on_success,
        executor=cfg.training_executor,
    ))  # fmt: skip
    ctx.engine.register_kind(JobKind(
        name=MERGE, service=SERVICE, command=lambda job: merge_command(job.spec_path, python), env=env,
    ))  # fmt: skip
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, ctx.server)
    ctx.background.append(asyncio.create_task(registrar.run()))
    ctx.on_shutdown.append(servicer.close)
