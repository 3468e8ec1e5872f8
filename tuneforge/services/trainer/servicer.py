"""TrainerService over gRPC: thin; the logic lives in the domain modules beside it.

CreateTrainingJob checks everything it can before a job exists, so a bad request never
queues: the adapter name (free: no final adapter, no pending job making it), the config
(preset + stored defaults + overrides, static checks), the dataset (asked from the dataset
service), the base model (a local directory, or a hub id already in the local Hugging Face
cache: nothing is downloaded) and the config against that model (``inspect_model`` in a
subprocess, cached per model and config.json mtime), and the checkpoint to resume from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import grpc
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2 as pb
from tuneforge.trainer.v1 import trainer_pb2_grpc as pb_grpc

from tuneforge.runtime.errors import (
    Code,
    FieldViolation,
    TuneforgeError,
    already_exists,
    invalid_argument,
    unavailable,
)
from tuneforge.runtime.job_rpcs import JobRpcs, job_pb
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer.config import HELP, format_value
from tuneforge.services.trainer.jobs import (
    adapter_dir,
    merge_spec,
    resolve_resume,
    train_spec,
)
from tuneforge.services.trainer.model_check import (
    describe_model_async,
    validate_for_model,
)
from tuneforge.services.trainer.presets import DEFAULT_PRESET, PRESETS, resolve
from tuneforge.services.trainer.stored_config import StoredConfig

SERVICE = "trainer"
TRAIN, MERGE = "train", "merge"
INSPECT_TIMEOUT_SECONDS = 300.0
CALL_TIMEOUT_SECONDS = 30.0
# (python, model, config.json mtime) -> inspect_model output; shared by servers in a process.
_MODEL_INFO: dict[tuple[str, str, float], dict[str, Any]] = {}


def model_not_available(raw: str, why: str) -> TuneforgeError:
    message = (f"base model {raw!r} is not available offline: {why}. Give a local model directory, "
               "or a hub id already in the local Hugging Face cache (download it beforehand with "
               "`huggingface-cli download ID`); the trainer never downloads")
    return TuneforgeError(Code.FAILED_PRECONDITION, "MODEL_NOT_AVAILABLE", message,
                          [FieldViolation("base_model", why)])


def locate_model(raw: str, models_dir: str = "") -> tuple[str, Path | None]:
    """(what from_pretrained gets, its config.json) for a local path or a cached hub id."""
    text = raw.strip()
    if not text or "\x00" in text:
        raise invalid_argument("base_model", "required: a hub id or a local model directory")
    candidates = [Path(text).expanduser()]
    if models_dir and not candidates[0].is_absolute():
        candidates.insert(0, Path(models_dir).expanduser() / text)
    for path in candidates:
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise model_not_available(raw, f"{path} has no config.json")
            return str(path.resolve()), path / "config.json"
    is_hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", text) is not None and not text.startswith(".")
    if not is_hub_id:
        raise model_not_available(raw, f"no directory {text}")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(text, "config.json")
    except Exception:  # noqa: BLE001 - a broken cache is "not cached"
        cached = None
    if not isinstance(cached, str):
        raise model_not_available(raw, f"{text} is not in the local Hugging Face cache")
    return text, Path(cached)


class TrainerServicer(pb_grpc.TrainerServiceServicer):
    def __init__(self, ctx: ServiceContext, defaults: StoredConfig) -> None:
        self.ctx = ctx
        self.defaults = defaults
        self.jobs = JobRpcs(ctx.engine, SERVICE)
        self._channels: dict[str, grpc.aio.Channel] = {}

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
        row = self.ctx.store.query_one("SELECT id FROM jobs WHERE request_key = ?", (f"{SERVICE}:{request_id}",))
        return job_pb(self.ctx.engine.get(row["id"])) if row else None

    # ------------------------------------------------------------------ config
    def _config_info(self) -> pb.TrainingConfigInfo:
        presets = [
            pb.Preset(name=p.name, description=p.description,
                      values={k: format_value(v) for k, v in p.values.items()})
            for p in PRESETS.values()
        ]  # fmt: skip
        return pb.TrainingConfigInfo(config=self.defaults.config().to_strings(), presets=presets,
                                     help=HELP, default_preset=DEFAULT_PRESET)  # fmt: skip

    async def GetTrainingConfig(self, request, context):
        return self._config_info()

    async def UpdateTrainingConfig(self, request, context):
        if not request.values and not request.reset:
            raise invalid_argument("values", "give at least one key=value, or reset")
        self.defaults.update(dict(request.values), reset=request.reset)
        return self._config_info()

    # ------------------------------------------------------------------ training
    async def CreateTrainingJob(self, request, context):
        if replay := self._replayed(request.request_id):
            return replay
        name = validate_name(request.adapter_name, "adapter_name")
        if not request.dataset:
            raise invalid_argument("dataset", "required: the name of a dataset")
        cfg = resolve(request.preset or None, dict(request.config), base=self.defaults.overrides())
        resume = self._resume_checkpoint(request.resume_from)
        self._check_adapter_free(name)
        dataset = await self._dataset(request.dataset)
        base_model, config_json = locate_model(request.base_model, self.ctx.config.models_dir)
        validate_for_model(cfg, await self._model_info(base_model, config_json))
        params = train_spec(
            self.ctx.root, base_model=base_model, train_file=dataset.path, config=cfg, adapter_name=name,
            dataset_name=dataset.name, validation_file=dataset.validation_path or None,
            resume_from_checkpoint=resume,
        )  # fmt: skip
        params.update(preset=request.preset or DEFAULT_PRESET, resume_from=request.resume_from,
                      register=request.register if request.HasField("register") else True)
        self._check_adapter_free(name)  # again: the awaits above let another request in
        job = await self.ctx.engine.create(TRAIN, params, request_id=request.request_id)
        return job_pb(job)

    def _check_adapter_free(self, name: str) -> None:
        if (adapter_dir(self.ctx.root, name) / "final").exists():
            raise already_exists("adapter", name)
        row = self.ctx.store.query_one(
            "SELECT id FROM jobs WHERE service = ? AND kind = ? AND state IN ('QUEUED', 'RUNNING')"
            " AND json_extract(params, '$.adapter_name') = ?", (SERVICE, TRAIN, name))
        if row:
            raise TuneforgeError(Code.ALREADY_EXISTS, "ADAPTER_ALREADY_EXISTS",
                                 f"training job {row['id']} is already making adapter {name!r}",
                                 metadata={"adapter": name, "job": row["id"]})

    async def _dataset(self, name: str) -> dataset_pb2.Dataset:
        stub = dataset_pb2_grpc.DatasetServiceStub(self.channel("dataset", self.ctx.config.dataset_target))
        try:
            return await stub.GetDataset(dataset_pb2.GetDatasetRequest(name=name),
                                         metadata=self.ctx.call_metadata(), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise TuneforgeError(Code.NOT_FOUND, "DATASET_NOT_FOUND", f"dataset {name!r} not found",
                                     [FieldViolation("dataset", f"no dataset named {name!r}")]) from None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise invalid_argument("dataset", exc.details() or "invalid dataset name") from None
            raise unavailable("DATASET_SERVICE_UNAVAILABLE",
                              f"the dataset service did not answer: {exc.code().name} {exc.details()}") from None

    async def _model_info(self, model: str, config_json: Path | None) -> dict[str, Any]:
        python = self.ctx.engine.worker_python
        try:
            mtime = config_json.stat().st_mtime if config_json else 0.0
        except OSError:
            mtime = 0.0
        key = (python, model, mtime)
        if key not in _MODEL_INFO:
            env = {"HF_HOME": os.environ["HF_HOME"]} if "HF_HOME" in os.environ else None
            _MODEL_INFO[key] = await describe_model_async(model, python, INSPECT_TIMEOUT_SECONDS, env)
        return _MODEL_INFO[key]

    def _resume_checkpoint(self, raw: str) -> str | None:
        """``resume_from`` → a checkpoint directory (jobs.resolve_resume): JOB_ID (its last
        checkpoint), JOB_ID/checkpoint-N, or a path under ``<data root>/adapters``."""
        if not raw.strip():
            return None

        def job_checkpoints(job_id: str) -> list[str]:
            self.ctx.engine.get(job_id, SERVICE)
            return [str(c.get("path", "")) for c in self.ctx.engine.checkpoints(job_id)]

        return str(resolve_resume(self.ctx.root, raw, job_checkpoints))

    # ------------------------------------------------------------------ merge
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
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise TuneforgeError(Code.NOT_FOUND, "ADAPTER_NOT_FOUND", f"adapter {name!r} not found",
                                     [FieldViolation("adapter_name", f"no registered adapter named {name!r}")]) from None
            raise unavailable("REGISTRY_UNAVAILABLE",
                              f"the registry did not answer: {exc.code().name} {exc.details()}") from None
        base = request.base_model or adapter.base_model
        if base:
            base, _ = locate_model(base, self.ctx.config.models_dir)
        row = self.ctx.store.query_one(
            "SELECT id FROM jobs WHERE service = ? AND kind = ? AND state IN ('QUEUED', 'RUNNING')"
            " AND json_extract(params, '$.output_dir') = ?", (SERVICE, MERGE, str(out)))
        if row:
            raise already_exists("output_dir", str(out))
        params = {**merge_spec(Path(adapter.path), out, base or None), "adapter_name": name}
        job = await self.ctx.engine.create(MERGE, params, request_id=request.request_id)
        return job_pb(job)

    def _merge_output(self, raw: str, name: str) -> Path:
        if not raw:
            out = self.ctx.root / "merged" / name
        else:
            if "\x00" in raw:
                raise invalid_argument("output_dir", "must not contain NUL")
            out = Path(raw).expanduser()
            if not out.is_absolute():
                out = self.ctx.root / out
        out = out.resolve()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise TuneforgeError(Code.ALREADY_EXISTS, "OUTPUT_EXISTS", f"{out} already exists and is not empty",
                                 [FieldViolation("output_dir", f"{out} exists and is not empty")])  # fmt: skip
        return out

    # ------------------------------------------------------------------ jobs
    async def GetTrainingJob(self, request, context):
        return self.jobs.get(request.id)

    async def ListTrainingJobs(self, request, context):
        jobs, token, total = self.jobs.list(request.page_size, request.page_token)
        return pb.ListTrainingJobsResponse(jobs=jobs, next_page_token=token, total_size=total)

    async def CancelTrainingJob(self, request, context):
        return await self.jobs.cancel(request.id)

    async def WatchTrainingJob(self, request, context):
        async for event in self.jobs.watch(request.id, request.after_seq, request.include_logs):
            yield event

    async def StreamTrainingJobLogs(self, request, context):
        async for line in self.jobs.logs(request.id, request.after_seq, request.follow):
            yield line

    async def ListTrainingJobMetrics(self, request, context):
        return pb.ListTrainingJobMetricsResponse(metrics=self.jobs.metrics(request.id))

    async def ListCheckpoints(self, request, context):
        points = self.ctx.engine.checkpoints(self.jobs.get(request.id).id)
        return pb.ListCheckpointsResponse(
            checkpoints=[common_pb2.Checkpoint(step=int(c.get("step") or 0), path=str(c.get("path", ""))) for c in points]
        )
