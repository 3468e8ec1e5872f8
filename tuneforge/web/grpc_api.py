"""Every gRPC call the web console makes, in one place.

The pages and the JSON endpoints talk to :class:`Backend`, which speaks to the services
through the SDK's ``AsyncClient`` and answers plain JSON-able dicts (proto field names,
int64 as numbers). When a contract changes (the jobs API, typed configs), this is the one
module to edit. Nothing here knows HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import descriptor_pool, field_mask_pb2, json_format
from google.protobuf.descriptor import FieldDescriptor

from tuneforge.client import AsyncClient
from tuneforge.client.fields import FieldParseError, parse_assignments
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2
from tuneforge.tts.v1 import tts_pb2

CHUNK = 1024 * 1024
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
# The services whose jobs each half of the console lists.
SCOPES = {"llm": ("trainer", "dataset"), "tts": ("tts",)}
_ANY = "google.protobuf.Any"

# Restart mode waits until vLLM serves the adapter (a cold start: minutes), like the CLI.
ACTIVATION_DEADLINE = 1800.0


class ConfigError(ValueError):
    """A config value that does not fit its field (shown at ``config.<field>``)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field, self.description = field, description


PLAN_SECONDS = 600.0


def to_dict(message: Any) -> dict[str, Any]:
    """A message as JSON-able dict: proto field names, defaults included, int64 as int."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    return _fix_int64(message.DESCRIPTOR, data)


def _fix_int64(descriptor: Any, data: dict[str, Any]) -> dict[str, Any]:
    for field in descriptor.fields:
        value = data.get(field.name)
        if value is None:
            continue
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            items = value if field.is_repeated else [value]
            for item in items:
                if not isinstance(item, dict):
                    continue
                if field.message_type.full_name == _ANY and "@type" in item:  # typed params/results
                    _fix_int64(descriptor_pool.Default().FindMessageTypeByName(item["@type"].rsplit("/", 1)[-1]), item)
                elif not field.message_type.full_name.startswith("google.protobuf."):
                    _fix_int64(field.message_type, item)
        elif field.type in _INT64:
            data[field.name] = [int(v) for v in value] if field.is_repeated else int(value)
        elif field.message_type is not None:  # a map: fix int64 values
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type in _INT64:
                data[field.name] = {k: int(v) for k, v in value.items()}
    return data


def config_values(config: Any) -> dict[str, Any]:
    """A TrainingConfig as flat JSON: enums by short name (``bf16``), unset fields left out."""
    data = to_dict(config)
    out: dict[str, Any] = {}
    for field in config.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.enum_type is not None:
            prefix = field.enum_type.values[0].name.removesuffix("UNSPECIFIED")
            if value == field.enum_type.values[0].name:
                continue
            value = value.removeprefix(prefix).lower()
        elif field.is_repeated and not value:
            continue
        out[field.name] = value
    return out


def config_fields(message_cls: type, help_texts: dict[str, str]) -> list[dict[str, Any]]:
    """How to edit each field of a config message: its kind, choices and help (for forms)."""
    fields = []
    for field in message_cls.DESCRIPTOR.fields:
        if field.enum_type is not None:
            prefix = field.enum_type.values[0].name.removesuffix("UNSPECIFIED")
            kind, choices = "enum", [v.name.removeprefix(prefix).lower() for v in field.enum_type.values[1:]]
        elif field.is_repeated and field.message_type is not None:
            kind, choices = "json", []  # a list of messages (GRPO's rewards) as a JSON list
        elif field.is_repeated:
            kind, choices = "list", []
        elif field.type == FieldDescriptor.TYPE_BOOL:
            kind, choices = "bool", []
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            kind, choices = "float", []
        elif field.type == FieldDescriptor.TYPE_STRING:
            kind, choices = "text", []
        else:
            kind, choices = "int", []
        fields.append({"name": field.name, "kind": kind, "choices": choices, "help": help_texts.get(field.name, "")})
    return fields


def config_message(message_cls: type, values: dict[str, Any]) -> tuple[Any, list[str]]:
    """(message, field names set) from flat JSON or text values, typed by the descriptor."""
    items = []
    for key, value in values.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            value = json.dumps(value)  # a list of messages (GRPO's rewards)
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        items.append(f"{key}={value}")
    try:
        return parse_assignments(message_cls, items)
    except FieldParseError as exc:
        raise ConfigError(f"config.{exc.field}", exc.description) from None


def event_dict(event: common_pb2.JobEvent) -> dict[str, Any]:
    """A job event as {seq, time, type, data}: type is job, progress, metrics, checkpoint, log."""
    kind = event.WhichOneof("kind") or "unknown"
    return {"seq": event.seq, "time": event.time.ToJsonString() if event.HasField("time") else "",
            "type": kind, "data": to_dict(getattr(event, kind)) if kind != "unknown" else {}}


class Backend:
    """The console's view of the four services (one target, or one per service)."""

    def __init__(self, target: str, *, token: str = "", tls: bool = False, ca: str | None = None,
                 cert: str | None = None, key: str | None = None) -> None:
        self.target = target
        self.client = AsyncClient(target, token=token, tls=tls, ca=ca, cert=cert, key=key, timeout=60.0)

    async def close(self) -> None:
        await self.client.close()

    # ------------------------------------------------------------------ uploads / downloads
    async def upload(self, service: str, filename: str, chunks: AsyncIterator[bytes], size: int = 0) -> dict[str, Any]:
        """Stream ``chunks`` into UploadFile (dataset) or UploadVoiceSample (tts)."""
        pb, rpc = {"dataset": (dataset_pb2.UploadFileRequest, "upload_file"),
                   "tts": (tts_pb2.UploadVoiceSampleRequest, "upload_voice_sample")}[service]

        async def requests() -> AsyncIterator[Any]:
            yield pb(metadata=common_pb2.UploadMetadata(filename=filename, size_bytes=max(size, 0)))
            async for chunk in chunks:
                for start in range(0, len(chunk), CHUNK):
                    yield pb(chunk=chunk[start:start + CHUNK])

        stub = getattr(self.client, service)
        return to_dict(await getattr(stub, rpc)(requests(), timeout=24 * 3600))

    async def _download(self, stream: AsyncIterator[Any]) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """(metadata, the remaining bytes) of a metadata-then-chunks stream; errors come first."""
        iterator = stream.__aiter__()
        first = await iterator.__anext__()
        meta = to_dict(first.metadata) if first.WhichOneof("payload") == "metadata" else {}

        async def rest() -> AsyncIterator[bytes]:
            if not meta:
                yield first.chunk
            async for message in iterator:
                yield message.chunk

        return meta, rest()

    # ------------------------------------------------------------------ datasets
    async def list_datasets(self) -> list[dict[str, Any]]:
        return await self._all(self.client.dataset.list_datasets, "datasets")

    async def get_dataset(self, name: str) -> dict[str, Any]:
        return to_dict(await self.client.dataset.get_dataset(name=name))

    async def dataset_stats(self, name: str, base_model: str = "", max_seq_length: int = 0) -> dict[str, Any]:
        return to_dict(await self.client.dataset.get_dataset_stats(name=name, base_model=base_model, max_seq_length=max_seq_length))

    async def preview_dataset(self, name: str, count: int = 5, validation: bool = False) -> list[dict[str, Any]]:
        response = await self.client.dataset.preview_dataset(name=name, count=count, validation=validation)
        return [json.loads(record) for record in response.records]

    async def delete_dataset(self, name: str) -> None:
        await self.client.dataset.delete_dataset(name=name)

    async def download_dataset(self, name: str, validation: bool = False) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return await self._download(self.client.dataset.download_dataset(name=name, validation=validation))

    async def telegram_config(self) -> dict[str, Any]:
        return to_dict(await self.client.dataset.get_telegram_config())

    async def process_telegram(self, upload_id: str, dataset_name: str, options: dict[str, Any], request_id: str = "",
                               append_to: str = "") -> dict[str, Any]:
        """Process an export; with ``append_to`` (an existing Telegram dataset) the new messages
        are added to it instead of making ``dataset_name`` (incremental import)."""
        config = dataset_pb2.TelegramConfig()
        json_format.ParseDict(options or {}, config)
        job = await self.client.dataset.process_telegram_export(
            upload_id=upload_id, dataset_name="" if append_to else dataset_name, config=config,
            request_id=request_id, append_to=append_to)
        return to_dict(job)

    async def generate_dataset(self, options: dict[str, Any]) -> dict[str, Any]:
        request = dataset_pb2.GenerateDatasetRequest()
        json_format.ParseDict(options or {}, request)
        return to_dict(await self.client.dataset.generate_dataset(request))

    async def dataset_contacts(self, name: str) -> list[dict[str, Any]]:
        response = await self.client.dataset.list_dataset_contacts(name=name, page_size=1000)
        return [to_dict(c) for c in response.contacts]

    async def base_models(self) -> dict[str, Any]:
        return to_dict(await self.client.trainer.list_base_models())

    async def import_dataset(self, upload_id: str, dataset_name: str, options: dict[str, Any]) -> dict[str, Any]:
        request = dataset_pb2.ImportDatasetRequest(upload_id=upload_id, dataset_name=dataset_name)
        json_format.ParseDict(options or {}, request)
        return to_dict(await self.client.dataset.import_dataset(request))

    # ------------------------------------------------------------------ training
    async def training_config(self) -> dict[str, Any]:
        """The stored defaults and presets as flat JSON, and how to edit each field."""
        info = await self.client.trainer.get_training_config()
        resolved = config_values(info.config)
        for field in trainer_pb2.TrainingConfig.DESCRIPTOR.fields:  # every field is set here:
            if field.is_repeated:  # an empty list (no GRPO rewards) is a value, not "unset"
                resolved.setdefault(field.name, [])
        return {
            "config": resolved,
            "presets": [{"name": p.name, "description": p.description, "values": config_values(p.config)} for p in info.presets],
            "help": dict(info.help),
            "fields": config_fields(trainer_pb2.TrainingConfig, dict(info.help)),
            "default_preset": info.default_preset,
        }

    async def update_training_config(self, values: dict[str, Any], reset: bool = False) -> dict[str, Any]:
        config, names = config_message(trainer_pb2.TrainingConfig, values)
        await self.client.trainer.update_training_config(config=config, update_mask=field_mask_pb2.FieldMask(paths=names), reset=reset)
        return await self.training_config()

    async def start_training(self, *, dataset: str, base_model: str, preset: str, config: dict[str, Any],
                             adapter_name: str, resume_from: str = "", request_id: str = "") -> dict[str, Any]:
        overrides, _ = config_message(trainer_pb2.TrainingConfig, config)
        job = await self.client.trainer.create_training_job(
            dataset=dataset, base_model=base_model, preset=preset, config=overrides,
            adapter_name=adapter_name, resume_from=resume_from, request_id=request_id)
        return to_dict(job)

    async def plan_training(self, *, dataset: str, base_model: str, preset: str, config: dict[str, Any],
                            warmup: bool = False) -> dict[str, Any]:
        """The pre-flight estimate; ``warmup`` times a short warm-up on a CPU server too (a GPU
        server runs one anyway). It may queue behind GPU work: bounded at ten minutes."""
        overrides, _ = config_message(trainer_pb2.TrainingConfig, config)
        mode = trainer_pb2.PlanTrainingRequest.WARMUP_RUN if warmup else trainer_pb2.PlanTrainingRequest.WARMUP_UNSPECIFIED
        plan = await self.client.trainer.plan_training(dataset=dataset, base_model=base_model, preset=preset,
                                                       config=overrides, warmup=mode, timeout=PLAN_SECONDS)
        return to_dict(plan)

    async def job_metrics(self, job_id: str) -> list[dict[str, Any]]:
        response = await self.client.jobs.list_job_metrics(id=job_id)
        return [to_dict(m) for m in response.metrics]

    async def job_checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        response = await self.client.jobs.list_job_checkpoints(id=job_id)
        return [to_dict(c) for c in response.checkpoints]

    # ------------------------------------------------------------------ jobs (any kind): tuneforge.jobs.v1.JobService
    async def get_job(self, job_id: str) -> dict[str, Any]:
        return to_dict(await self.client.jobs.get_job(id=job_id))

    async def list_jobs(self, scope: str, service: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for name in (service,) if service else SCOPES[scope]:
            response = await self.client.jobs.list_jobs(service=name, page_size=limit)
            jobs += [to_dict(job) for job in response.jobs]
        jobs.sort(key=lambda j: j.get("create_time", ""), reverse=True)
        return jobs[:limit]

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        return to_dict(await self.client.jobs.cancel_job(id=job_id))

    async def watch_job(self, job_id: str, after_seq: int = 0, include_logs: bool = True) -> AsyncIterator[dict[str, Any]]:
        """Replay the job's events after ``after_seq``, then follow it live until it ends."""
        async for event in self.client.jobs.watch_job(id=job_id, after_seq=after_seq, include_logs=include_logs):
            yield event_dict(event)

    async def job_logs(self, job_id: str, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every stored log line after ``after_seq`` (no following)."""
        async for line in self.client.jobs.stream_job_logs(id=job_id, after_seq=after_seq, follow=False):
            yield to_dict(line)

    # ------------------------------------------------------------------ adapters
    async def list_adapters(self) -> list[dict[str, Any]]:
        return await self._all(self.client.registry.list_adapters, "adapters")

    async def active_adapter(self) -> dict[str, Any]:
        return _activation(await self.client.registry.get_active_adapter())

    async def activate_adapter(self, name: str) -> dict[str, Any]:
        return _activation(await self.client.registry.activate_adapter(name=name, timeout=ACTIVATION_DEADLINE))

    async def deactivate_adapter(self) -> dict[str, Any]:
        return _activation(await self.client.registry.deactivate_adapter(timeout=ACTIVATION_DEADLINE))

    async def rollback_adapter(self) -> dict[str, Any]:
        return _activation(await self.client.registry.rollback_activation(timeout=ACTIVATION_DEADLINE))

    async def delete_adapter(self, name: str, force: bool = False) -> None:
        await self.client.registry.delete_adapter(name=name, force=force)

    async def export_adapter(self, name: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return await self._download(self.client.registry.export_adapter(name=name))

    async def evaluation(self, name: str) -> dict[str, Any]:
        return to_dict(await self.client.registry.get_evaluation(adapter_name=name))

    async def start_evaluation(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        request = trainer_pb2.CreateEvaluationJobRequest(adapter_name=name)
        json_format.ParseDict({k: v for k, v in (options or {}).items() if k != "adapter_name"}, request)
        return to_dict(await self.client.trainer.create_evaluation_job(request))

    async def start_export(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """``{format: gguf|gguf-lora|awq|merged, quant}`` → the export job."""
        fmt = str((options or {}).get("format") or "gguf")
        enum = registry_pb2.ExportFormat
        value = {v.name.removeprefix("EXPORT_FORMAT_").lower().replace("_", "-"): v.number for v in enum.DESCRIPTOR.values}
        if fmt not in value or not value[fmt]:
            raise ConfigError("format", f"one of {', '.join(k for k, v in value.items() if v)}, got {fmt!r}")
        request = trainer_pb2.CreateExportJobRequest(adapter_name=name, format=value[fmt], quant=str(options.get("quant") or ""),
                                                     request_id=str(options.get("request_id") or ""))
        return to_dict(await self.client.trainer.create_export_job(request))

    async def list_exported_models(self, adapter: str = "") -> list[dict[str, Any]]:
        response = await self.client.registry.list_models(adapter_name=adapter, page_size=200)
        return [to_dict(m) for m in response.models]

    async def download_exported_model(self, model_id: str, file: str = "") -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return await self._download(self.client.registry.download_model(id=model_id, file=file))

    async def chat(self, name: str, messages: list[dict[str, str]], compare: bool = False,
                   max_new_tokens: int = 0, timeout: float = 300.0, temperature: float = 0.0,
                   top_p: float = 0.0, base_model: str = "") -> AsyncIterator[dict[str, Any]]:
        """The trainer's Chat stream as dicts: ``{"type": "job"|"piece"|"reply", ...}`` (the
        base model alone when ``name`` is empty and ``base_model`` is given)."""
        stream = self.client.trainer.chat(adapter_name=name, messages=messages, compare=compare,
                                          max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                          base_model=base_model, timeout=timeout)
        async for response in stream:
            kind = response.WhichOneof("kind")
            data = to_dict(getattr(response, kind))
            if "side" in data:
                data["side"] = str(data["side"]).removeprefix("CHAT_SIDE_").lower()
            yield {"type": kind, **data}

    async def chat_served(self, name: str, messages: list[dict[str, str]], max_tokens: int = 0,
                          temperature: float = 0.0, top_p: float = 0.0,
                          timeout: float = 300.0) -> AsyncIterator[dict[str, Any]]:
        """The registry's ChatServedAdapter stream (vLLM's chat endpoint under the served name) as
        dicts: ``{"type": "start"|"piece"|"end", ...}``. It refuses (FAILED_PRECONDITION
        ``ADAPTER_NOT_SERVED`` / ``VLLM_NOT_CONFIGURED``) before the first answer when vLLM does
        not serve the adapter."""
        stream = self.client.registry.chat_served_adapter(
            name=name, messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
            timeout=timeout)
        async for response in stream:
            kind = response.WhichOneof("kind")
            if kind == "piece":
                yield {"type": "piece", "text": response.piece}
            else:
                yield {"type": kind, **to_dict(getattr(response, kind))}

    async def base_model_of(self, name: str) -> str:
        return (await self.client.registry.get_adapter(name=name)).base_model

    # ------------------------------------------------------------------ tts
    async def list_samples(self) -> list[dict[str, Any]]:
        return await self._all(self.client.tts.list_voice_samples, "samples")

    async def get_sample(self, name: str) -> dict[str, Any]:
        return to_dict(await self.client.tts.get_voice_sample(name=name))

    async def delete_sample(self, name: str) -> None:
        await self.client.tts.delete_voice_sample(name=name)

    async def update_transcript(self, name: str, transcript: str) -> dict[str, Any]:
        return to_dict(await self.client.tts.update_voice_sample_transcript(name=name, transcript=transcript))

    async def download_sample(self, name: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return await self._download(self.client.tts.download_voice_sample(name=name))

    async def transcribe(self, options: dict[str, Any]) -> dict[str, Any]:
        return await self._tts_job("transcribe_samples", tts_pb2.TranscribeSamplesRequest(), options)

    async def prepare(self, options: dict[str, Any]) -> dict[str, Any]:
        return await self._tts_job("prepare_dataset", tts_pb2.PrepareDatasetRequest(), options)

    async def tts_config(self) -> dict[str, Any]:
        return to_dict(await self.client.tts.get_tts_training_config())

    async def update_tts_config(self, values: dict[str, Any]) -> dict[str, Any]:
        config, names = config_message(tts_pb2.TtsTrainingConfig, values)
        return to_dict(await self.client.tts.update_tts_training_config(config=config, update_mask=field_mask_pb2.FieldMask(paths=names)))

    async def start_tts_training(self, options: dict[str, Any]) -> dict[str, Any]:
        return await self._tts_job("start_training", tts_pb2.StartTrainingRequest(), options)

    async def list_voice_models(self) -> list[dict[str, Any]]:
        return await self._all(self.client.tts.list_voice_models, "models")

    async def synthesize(self, options: dict[str, Any]) -> dict[str, Any]:
        return await self._tts_job("synthesize_preview", tts_pb2.SynthesizePreviewRequest(), options)

    async def activate_voice_model(self, name: str, checkpoint: str = "") -> dict[str, Any]:
        return to_dict(await self.client.tts.activate_voice_model(model_name=name, checkpoint=checkpoint))

    async def active_voice_model(self) -> dict[str, Any]:
        return to_dict(await self.client.tts.get_active_voice_model())

    async def rollback_voice_model(self) -> dict[str, Any]:
        return to_dict(await self.client.tts.rollback_voice_model())

    async def download_preview(self, job_id: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        return await self._download(self.client.tts.download_preview(job_id=job_id))

    async def _tts_job(self, rpc: str, request: Any, options: dict[str, Any]) -> dict[str, Any]:
        json_format.ParseDict(options or {}, request)
        return to_dict(await getattr(self.client.tts, rpc)(request))

    async def health(self) -> dict[str, Any]:
        """Whether each service answers (a one-item job listing, 3 s), for the status dot."""
        import asyncio

        async def probe(service: str) -> tuple[str, str]:
            try:
                await self.client.jobs.list_jobs(service=service, page_size=1, timeout=3.0)
                return service, ""
            except Exception as exc:  # noqa: BLE001 - any failure is "not reachable", said plainly
                return service, getattr(exc, "message", "") or str(exc).splitlines()[0][:200]

        results = dict(await asyncio.gather(*(probe(s) for s in ("dataset", "trainer", "tts", "registry"))))
        return {"ok": not any(results.values()), "target": self.target,
                "services": {name: {"ok": not why, "error": why} for name, why in results.items()}}

    # ------------------------------------------------------------------ helpers
    async def _all(self, method: Any, field: str, page_size: int = 200) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            response = await method(page_size=page_size, page_token=token)
            items += [to_dict(m) for m in getattr(response, field)]
            token = response.next_page_token
            if not token:
                return items


def _activation(message: registry_pb2.Activation) -> dict[str, Any]:
    data = to_dict(message)
    data["vllm_state"] = str(data.get("vllm_state", "")).removeprefix("VLLM_STATE_")
    return data
