"""Registering a finished adapter with the registry, and retrying while it is down.

A finished `train` job registers its adapter over gRPC (unless the request said
``register = false``). The job SUCCEEDS whatever the registry says — the adapter files
exist — and the outcome is kept in the job's result as ``registration``: ``REGISTERED``
(with the version), ``FAILED`` (the registry refused: its message), or ``PENDING`` when the
registry could not be reached; pending registrations are retried in the background with
backoff (also after a restart) until they go through. A method=full job made a whole model,
not an adapter: it is entered in the registry's model catalog (format ``full``) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc

from tuneforge.runtime.jobs import Job
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.peers import RETRYABLE, describe
from tuneforge.runtime.server import ServiceContext

SERVICE, TRAIN = "trainer", "train"
RETRY_MIN_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0
REGISTER_TIMEOUT_SECONDS = 15.0
log = get_logger("tuneforge.trainer")


def final_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numeric final metrics of a training result, as the registry keeps them."""
    names = ("train_loss", "last_loss", "eval_loss", "best_eval_loss", "tokens_per_second",
             "global_step", "epoch", "train_runtime", "num_tokens",
             "best_step", "mfu", "peak_gpu_memory_bytes")  # issue 27: the step registered
    out = {}
    for name in names:
        value = result.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


class Registrar:
    """Registers finished adapters with the registry; keeps retrying while it is down."""

    def __init__(self, ctx: ServiceContext, channel: Callable[[], grpc.aio.Channel],
                 drop_channel: Callable[[], Any]) -> None:
        self.ctx = ctx
        self.channel = channel
        self.drop_channel = drop_channel
        self.wake = asyncio.Event()

    def _set(self, job_id: str, registration: dict[str, Any]) -> None:
        self.ctx.engine.job_store.update_result(job_id, lambda result: result.update(registration=registration))

    async def on_success(self, job: Job) -> None:
        if job.params.get("register") is False:
            self._set(job.id, {"state": "SKIPPED", "message": "register = false"})
            return
        if not await self.attempt(job.id):
            self.wake.set()

    async def attempt(self, job_id: str) -> bool:
        """One try; True when the outcome is final (REGISTERED or FAILED). An adapter goes to
        RegisterAdapter; a whole model (method=full) to the model catalog (RegisterModel, format
        full, the job id as request id so a retry never registers twice)."""
        job = self.ctx.engine.get(job_id)
        previous = job.result.get("registration") or {}
        target = self.ctx.target_for("registry", self.ctx.config.registry_target)
        stub = registry_pb2_grpc.RegistryServiceStub(self.channel())
        attempts = int(previous.get("attempts") or 0) + 1
        meta = {"metadata": self.ctx.call_metadata(), "timeout": REGISTER_TIMEOUT_SECONDS}
        try:
            if job.result.get("artifact") == "model":
                model = await stub.RegisterModel(registry_pb2.RegisterModelRequest(
                    request_id=job.id, adapter_name=job.params["adapter_name"], format=registry_pb2.EXPORT_FORMAT_FULL,
                    quant="auto", path=job.result.get("adapter_dir") or "", base_model=job.params.get("base_model") or "",
                    job_id=job.id), **meta)  # fmt: skip
                adapter = registry_pb2.Adapter(name=model.id, version=model.version, path=model.path)
            else:
                adapter = await stub.RegisterAdapter(registry_pb2.RegisterAdapterRequest(
                    name=job.params["adapter_name"], path=job.result.get("adapter_dir") or "",
                    base_model=job.params.get("base_model") or "", dataset=job.params.get("dataset_name") or "",
                    metrics=final_metrics(job.result), job_id=job.id, replace=True,
                    dataset_version=int(job.params.get("dataset_version") or 0),
                    dataset_sha256=job.params.get("dataset_sha256") or ""), **meta)  # fmt: skip
        except grpc.aio.AioRpcError as exc:
            message = describe(exc)
            if exc.code() in RETRYABLE:
                await self.drop_channel()
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
        return self.ctx.engine.job_store.ids_with_result_value(SERVICE, TRAIN, "registration.state", "PENDING")

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
