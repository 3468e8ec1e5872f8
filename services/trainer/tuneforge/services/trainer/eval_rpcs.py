"""The evaluation and chat side of TrainerService: request → job → relay or registry.

Kept apart from servicer.py so the training RPCs stay short: the servicer's
``CreateEvaluationJob`` and ``Chat`` are one line each, calling :class:`Evaluations`, and the
job kinds' hooks (``after_training`` chained after registration, ``on_success`` of
``evaluate``) live here too. The domain (specs, relay) is eval_jobs.py; the workers are
eval_worker.py and chat_worker.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, invalid_argument
from tuneforge.runtime.job_rpcs import job_pb
from tuneforge.runtime.jobs import Job
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.peers import peer_error
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer import eval_jobs
from tuneforge.services.trainer.eval_jobs import CHAT, EVALUATE
from tuneforge.services.trainer.registry_reports import CALL_TIMEOUT_SECONDS, hand_report

_SIDES = {"base": pb.CHAT_SIDE_BASE, "adapter": pb.CHAT_SIDE_ADAPTER}
log = get_logger("tuneforge.trainer.eval")


class Evaluations:
    def __init__(self, ctx: ServiceContext, registry_channel: Callable[[], grpc.aio.Channel],
                 dataset: Callable[[str], Awaitable[dataset_pb2.Dataset]],
                 locate_model: Callable[[str], str]) -> None:
        self.ctx = ctx
        self.registry_channel = registry_channel
        self.dataset = dataset
        self.locate_model = locate_model

    def _registry(self) -> registry_pb2_grpc.RegistryServiceStub:
        return registry_pb2_grpc.RegistryServiceStub(self.registry_channel())

    async def _adapter(self, name: str) -> registry_pb2.Adapter:
        try:
            return await self._registry().GetAdapter(
                registry_pb2.GetAdapterRequest(name=name), metadata=self.ctx.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise peer_error(exc, peer="registry", reason="REGISTRY_UNAVAILABLE",
                             field="adapter_name", resource="adapter", value=name) from None

    # ------------------------------------------------------------------ evaluation jobs
    async def after_training(self, job: Job) -> None:
        """Queue the evaluation of a training job that held data out (never fails the job)."""
        spec = eval_jobs.spec_after_training(self.ctx.engine.get(job.id))
        if spec is None:
            return
        try:
            await self.ctx.engine.create(EVALUATE, spec)
        except Exception:  # noqa: BLE001 - the adapter is fine; the evaluation can be re-run
            log.exception("evaluation_not_queued", job_id=job.id)

    def _training_split(self, adapter: registry_pb2.Adapter, request: Any) -> dict[str, Any] | None:
        """The held-out records of the training job that made the adapter, when this trainer
        ran it (its dataset may have no validation split: the job held some out itself)."""
        try:
            training = self.ctx.engine.get(adapter.job_id) if adapter.job_id else None
        except TuneforgeError:
            return None
        spec = eval_jobs.spec_after_training(training) if training and training.kind == "train" else None
        if spec is None:
            return None
        on_demand = eval_jobs.spec_on_demand(
            adapter_name=adapter.name, adapter_dir=adapter.path, adapter_version=adapter.version,
            base_model=spec["base_model"], dataset_name=spec["dataset_name"], data_file="",
            samples=request.samples, max_new_tokens=request.max_new_tokens)
        return {**spec, **{k: on_demand[k] for k in ("adapter_dir", "adapter_version", "samples",
                                                     "max_new_tokens")}}

    async def create_job(self, request: pb.CreateEvaluationJobRequest) -> Any:
        name = validate_name(request.adapter_name, "adapter_name")
        adapter = await self._adapter(name)
        if not request.dataset and (spec := self._training_split(adapter, request)):
            return job_pb(await self.ctx.engine.create(EVALUATE, spec, request_id=request.request_id))
        dataset_name = request.dataset or adapter.dataset
        if not dataset_name:
            raise invalid_argument("dataset", f"adapter {name} names no dataset; give one")
        dataset = await self.dataset(dataset_name)
        if not request.dataset and not dataset.validation_path:
            raise TuneforgeError(Code.FAILED_PRECONDITION, "NO_HELD_OUT_DATA",
                                 f"dataset {dataset.name} has no validation split to evaluate "
                                 f"{name} on; give --dataset with held-out dialogs",
                                 [FieldViolation("dataset", "no validation split")])
        spec = eval_jobs.spec_on_demand(
            adapter_name=name, adapter_dir=adapter.path, adapter_version=adapter.version,
            base_model=self.locate_model(adapter.base_model), dataset_name=dataset.name,
            data_file=dataset.path, validation_file=dataset.validation_path,
            samples=request.samples, max_new_tokens=request.max_new_tokens)
        return job_pb(await self.ctx.engine.create(EVALUATE, spec, request_id=request.request_id), self.ctx.engine.kinds)

    async def on_success(self, job: Job) -> None:
        """Hand the report to the registry; the job succeeds either way (the report is in its
        result), ``recorded`` says whether the registry has it."""
        report = job.result.get("report") or {}
        request = registry_pb2.CreateEvaluationRequest(
            adapter_name=job.params.get("adapter_name") or "", job_id=job.id,
            adapter_version=int(job.params.get("adapter_version") or 0),
            report=json_format.ParseDict(report, registry_pb2.EvaluationReport(), ignore_unknown_fields=True))
        await hand_report(self.ctx, job, self._registry().CreateEvaluation, request, log, "evaluation_not_recorded")

    # ------------------------------------------------------------------ chat
    async def _chat_spec(self, request: pb.ChatRequest, deadline: float) -> dict[str, Any]:
        from tuneforge.services.trainer.chat_worker import check_messages

        cfg = self.ctx.config
        over = request.messages[: cfg.chat_max_messages + 1]  # never copies more than one too many
        messages = check_messages([{"role": m.role, "content": m.content} for m in over],
                                  cfg.chat_max_messages, cfg.chat_max_chars)
        adapter_dir = None
        base = request.base_model
        if request.adapter_name:
            adapter = await self._adapter(validate_name(request.adapter_name, "adapter_name"))
            adapter_dir, base = adapter.path, base or adapter.base_model
        elif request.compare:
            raise invalid_argument("compare", "needs an adapter to compare with its base")
        if not base:
            raise invalid_argument("base_model", "give an adapter, or the model to talk to")
        sides = ["base", "adapter"] if request.compare else ["adapter"] if adapter_dir else ["base"]
        return eval_jobs.spec_chat(
            base_model=self.locate_model(base), adapter_dir=adapter_dir, sides=sides,
            messages=messages,
            deadline=deadline, max_new_tokens=request.max_new_tokens,
            temperature=request.temperature, top_p=request.top_p, seed=request.seed)

    async def chat(self, request: pb.ChatRequest, context: Any) -> AsyncIterator[pb.ChatResponse]:
        deadline = eval_jobs.chat_deadline(context.time_remaining())
        job = await self.ctx.engine.create(CHAT, await self._chat_spec(request, deadline))
        yield pb.ChatResponse(job=job_pb(job, self.ctx.engine.kinds))
        async for update in eval_jobs.relay_chat(self.ctx.engine, job.id, deadline):
            if update.piece:
                yield pb.ChatResponse(piece=pb.ChatPiece(side=_SIDES.get(update.side, 0), text=update.piece))
            for reply in update.replies:
                yield pb.ChatResponse(reply=pb.ChatReply(
                    side=_SIDES.get(reply.get("side"), 0), text=reply.get("text", ""),
                    tokens=int(reply.get("tokens") or 0), stopped=bool(reply.get("stopped")),
                    finish_reason=str(reply.get("finish_reason") or "")))
