"""Entering a finished export in the registry's model catalog (RegisterModel), retrying while
the registry is down, exactly as finished adapters are registered (same states, same backoff
loop: :class:`Registrar`). The job's id is the request id, so a retry never registers twice.
An export written outside ``<data root>/models/`` is SKIPPED: the catalog serves only files
under the data root.
"""

from __future__ import annotations

import time

import grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc

from tuneforge.runtime.jobs import Job
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.peers import RETRYABLE, describe
from tuneforge.services.trainer.export_rpcs import EXPORT
from tuneforge.services.trainer.registration import REGISTER_TIMEOUT_SECONDS, SERVICE, Registrar

log = get_logger("tuneforge.trainer")
_FORMATS = {"gguf": registry_pb2.EXPORT_FORMAT_GGUF, "gguf-lora": registry_pb2.EXPORT_FORMAT_GGUF_LORA,
            "awq": registry_pb2.EXPORT_FORMAT_AWQ, "merged": registry_pb2.EXPORT_FORMAT_MERGED}


class ModelRegistrar(Registrar):
    async def on_success(self, job: Job) -> None:
        if job.params.get("register") is False:
            self._set(job.id, {"state": "SKIPPED", "message": "written outside <data root>/models/; not in the catalog"})
            return
        if not await self.attempt(job.id):
            self.wake.set()

    async def attempt(self, job_id: str) -> bool:
        """One try; True when the outcome is final (REGISTERED or FAILED)."""
        job = self.ctx.engine.get(job_id)
        r = job.result
        attempts = int((r.get("registration") or {}).get("attempts") or 0) + 1
        request = registry_pb2.RegisterModelRequest(
            request_id=job.id, adapter_name=r.get("adapter_name") or job.params.get("adapter_name") or "",
            format=_FORMATS.get(r.get("format") or "", registry_pb2.EXPORT_FORMAT_UNSPECIFIED),
            quant=r.get("quant") or "", path=r.get("output_dir") or "", primary_file=r.get("primary_file") or "",
            base_model=r.get("base_model") or "", architecture=r.get("architecture") or "", job_id=job.id,
        )  # fmt: skip
        stub = registry_pb2_grpc.RegistryServiceStub(self.channel())
        try:
            model = await stub.RegisterModel(request, metadata=self.ctx.call_metadata(), timeout=REGISTER_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            message = describe(exc)
            if exc.code() in RETRYABLE:
                await self.drop_channel()
                self._set(job_id, {"state": "PENDING", "attempts": attempts, "last_attempt_time": time.time(),
                                   "message": f"registry not reachable, retrying: {message}"})
                log.warning("model_registration_pending", job_id=job_id, error=message)
                return False
            self._set(job_id, {"state": "FAILED", "attempts": attempts, "message": message})
            log.warning("model_registration_failed", job_id=job_id, error=message)
            return True
        self._set(job_id, {"state": "REGISTERED", "attempts": attempts, "name": model.id, "version": model.version,
                           "path": model.path})
        log.info("model_registered", job_id=job_id, model=model.id)
        return True

    def pending(self) -> list[str]:
        return self.ctx.engine.job_store.ids_with_result_value(SERVICE, EXPORT, "registration.state", "PENDING")
