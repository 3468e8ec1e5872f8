"""TtsService over gRPC: thin; the logic lives in the domain modules beside it.

Sample names: an uploaded sample is named after its file name, extension included
(``clip 3.ogg`` → ``clip_3.ogg``): characters outside ``[A-Za-z0-9._@+-]`` become ``_``, a
name with nothing usable left becomes ``sample-<hash>.<ext>``. Keeping the extension lets
``a.wav`` and ``a.mp3`` live side by side. ``transcript_source`` is ``manual`` on the wire for
what the domain calls ``user``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tuneforge.common.v1 import common_pb2
from tuneforge.tts.v1 import tts_pb2 as pb
from tuneforge.tts.v1 import tts_pb2_grpc as pb_grpc

from tuneforge.runtime import paging
from tuneforge.runtime.errors import (
    FieldViolation,
    TuneforgeError,
    failed_precondition,
    invalid_fields,
    not_found,
)
from tuneforge.runtime.idempotency import single_flight
from tuneforge.runtime.job_rpcs import job_pb, timestamp
from tuneforge.runtime.jobs import SUCCEEDED, Job
from tuneforge.runtime.paths import confine_model
from tuneforge.runtime.request_log import RequestLog
from tuneforge.runtime.server import ServiceContext
from tuneforge.runtime.transfer import (
    delete_upload,
    open_upload,
    replayed_upload,
    send_file,
)
from tuneforge.services.tts import specs
from tuneforge.services.tts.activation import VoiceActivations
from tuneforge.services.tts.config import TrainingConfigStore, TtsTrainingConfig
from tuneforge.services.tts.models import VoiceModel, VoiceModelCatalog
from tuneforge.services.tts.samples import SampleCatalog, VoiceSample
from tuneforge.services.tts.synthesize_worker import PREVIEW_FILE

SERVICE = "tts"
# Job kind → the worker module its spec builder names (server.py registers these).
KINDS = {
    "transcribe": specs.TRANSCRIBE_MODULE,
    "tts_prepare": specs.PREPARE_MODULE,
    "tts_train": specs.TRAIN_MODULE,
    "tts_synthesize": specs.PREVIEW_MODULE,
}
# kind -> result message packed in the wire Job (JobKind.result_type).
RESULT_TYPES = {
    "transcribe": pb.TranscribeJobResult,
    "tts_prepare": pb.PrepareJobResult,
    "tts_train": pb.TtsTrainingJobResult,
    "tts_synthesize": pb.SynthesizeJobResult,
}
# TtsTrainingConfig fields on the wire (the rest keep their stored values).
CONFIG_FIELDS = ("base_model", "batch_size", "gradient_accumulation_steps", "learning_rate",
                 "num_epochs", "speaker_name", "seed")  # fmt: skip
_SOURCES = {"user": "manual"}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def sample_name(filename: str) -> str:
    """The sample name for an uploaded file name (see the module docstring)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:16]
    clean = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", stem)).strip("._-@+")[:100]
    if not clean.strip("_"):
        clean = "sample-" + hashlib.sha256(base.encode("utf-8", "replace")).hexdigest()[:8]
    return f"{clean}.{ext}" if ext else clean


def sample_pb(s: VoiceSample) -> pb.VoiceSample:
    return pb.VoiceSample(
        name=s.name, format=s.format, duration_seconds=s.duration_seconds,
        sample_rate=s.sample_rate, channels=s.channels, size_bytes=s.size_bytes,
        transcript=s.transcript, transcript_source=_SOURCES.get(s.transcript_source, s.transcript_source),
        create_time=timestamp(datetime.fromisoformat(s.create_time).timestamp()),
        warnings=list(s.warnings),
    )  # fmt: skip


def model_pb(m: VoiceModel) -> pb.VoiceModel:
    msg = pb.VoiceModel(name=m.name, speaker_name=m.speaker_name, checkpoints=m.checkpoints,
                        epochs=m.epochs, size_bytes=m.size_bytes, base_model=m.base_model)  # fmt: skip
    if m.create_time:
        msg.create_time.CopyFrom(timestamp(datetime.fromisoformat(m.create_time).timestamp()))
    return msg


def voice_activation_pb(state: dict[str, Any]) -> pb.VoiceActivation:
    def entry(e: dict[str, Any]) -> pb.VoiceActivationEntry:
        return pb.VoiceActivationEntry(model_name=e["model_name"], checkpoint=e["checkpoint"], activate_time=timestamp(e["time"]))

    msg = pb.VoiceActivation(history=[entry(e) for e in state["history"]])
    if state["active"]:
        active = state["active"]
        msg.model_name, msg.checkpoint = active["model_name"], active["checkpoint"]
        msg.activate_time.CopyFrom(timestamp(active["time"]))
    return msg


def config_pb(c: TtsTrainingConfig) -> pb.TtsTrainingConfig:
    return pb.TtsTrainingConfig(**{name: getattr(c, name) for name in CONFIG_FIELDS})


def config_overrides(msg: pb.TtsTrainingConfig, mask: list[str] | None = None) -> dict[str, Any]:
    """Fields to change: those in ``mask``, or (no mask) every field set to a non-zero value."""
    if mask:
        unknown = [m for m in mask if m.removeprefix("config.") not in CONFIG_FIELDS]
        if unknown:
            raise invalid_fields([FieldViolation("update_mask", f"unknown field {m!r}") for m in unknown])
        return {m.removeprefix("config."): getattr(msg, m.removeprefix("config.")) for m in mask}
    return {name: getattr(msg, name) for name in CONFIG_FIELDS if getattr(msg, name)}


def prefixed(exc: TuneforgeError, prefix: str) -> TuneforgeError:
    """The same error with field violations named as request fields (``config.<field>``)."""
    exc.violations = [FieldViolation(f"{prefix}{v.field}", v.description) for v in exc.violations]
    return exc


class TtsServicer(pb_grpc.TtsServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.requests = RequestLog(ctx.store, SERVICE)
        self.samples = SampleCatalog(ctx.store, ctx.root)
        self.models = VoiceModelCatalog(ctx.root)
        self.voices = VoiceActivations(ctx.root, self.models)
        self.config = TrainingConfigStore(ctx.store)

    def on_success(self, kind: str) -> Callable[[Job], Awaitable[None]] | None:
        if kind != "tts_synthesize":
            return None

        async def check_preview(job: Job) -> None:
            if not (job.job_dir / PREVIEW_FILE).is_file():
                raise failed_precondition("PREVIEW_MISSING", "the synthesis worker reported success but wrote no WAV")

        return check_preview

    async def _start(self, kind: str, module: str, spec: dict[str, Any], request_id: str = "") -> common_pb2.Job:
        if KINDS[kind] != module:  # a spec builder and the registered kind disagree: a bug
            raise RuntimeError(f"{kind} runs {KINDS[kind]}, but its spec names {module}")
        return job_pb(await self.ctx.engine.create(kind, spec, request_id=request_id), self.ctx.engine.kinds)

    # ---------------------------------------------------------------- samples

    async def UploadVoiceSample(self, request_iterator, context):
        uploads = self.ctx.root / "uploads"

        def clean_meta(meta: common_pb2.UploadMetadata) -> common_pb2.UploadMetadata:
            return common_pb2.UploadMetadata(filename=sample_name(meta.filename) if meta.filename else "",
                                             size_bytes=meta.size_bytes, sha256=meta.sha256,
                                             request_id=meta.request_id)  # fmt: skip

        incoming = await open_upload(request_iterator, self.ctx.config.max_upload_bytes, unwrap=clean_meta)
        if replay := await replayed_upload(incoming, self.requests, pb.VoiceSample):
            return replay
        upload = await incoming.store(uploads)
        try:
            sample = await asyncio.to_thread(self.samples.add, upload.filename, upload.path, move=True)
        finally:
            await asyncio.to_thread(delete_upload, uploads, upload.id)
        return self.requests.record(incoming.request_id, sample_pb(sample), fingerprint=upload.sha256)

    async def DownloadVoiceSample(self, request, context):
        sample = self.samples.get(request.name)
        content_type = _AUDIO_TYPES.get(sample.format, "application/octet-stream")
        async for message in send_file(sample.path, pb.DownloadVoiceSampleResponse, filename=sample.name, content_type=content_type):
            yield message

    async def ListVoiceSamples(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "tts:samples")
        items, total = self.samples.list(offset, limit)
        return pb.ListVoiceSamplesResponse(
            samples=[sample_pb(s) for s in items], total_size=total,
            next_page_token=paging.next_token(offset, limit, len(items), total, "tts:samples"),
        )  # fmt: skip

    async def GetVoiceSample(self, request, context):
        return sample_pb(self.samples.get(request.name))

    async def DeleteVoiceSample(self, request, context):
        await asyncio.to_thread(self.samples.delete, request.name)
        return pb.DeleteVoiceSampleResponse()

    async def UpdateVoiceSampleTranscript(self, request, context):
        return sample_pb(self.samples.set_transcript(request.name, request.transcript, source="user"))

    # ------------------------------------------------------------------- jobs

    async def TranscribeSamples(self, request, context):
        module, spec = await asyncio.to_thread(
            specs.transcribe_spec, self.samples,
            whisper_model=request.whisper_model or "small", language=request.language or "auto",
            min_duration_sec=request.min_duration_sec if request.HasField("min_duration_sec") else None,
            max_duration_sec=request.max_duration_sec if request.HasField("max_duration_sec") else None,
            vad=request.vad, sample_names=list(request.sample_names), overwrite=request.overwrite,
            models_dir=self.ctx.config.models_dir or None,
        )  # fmt: skip
        return await self._start("transcribe", module, spec, request.request_id)

    def _base_model(self, raw: str) -> str:
        """A client-named base model: a hub id as it is, a path confined (docs/security.md). A
        bare name that is a folder under models_dir means that folder, as for the trainer."""
        text = raw.strip()
        models_dir = self.ctx.config.models_dir
        if text and models_dir and "/" not in text and (Path(models_dir).expanduser() / text).is_dir():
            text = str(Path(models_dir).expanduser() / text)
        return confine_model(text, "base_model", self.ctx.path_roots(with_models=True))

    async def PrepareDataset(self, request, context):
        base = self._base_model(request.base_model or self.config.get().base_model)
        module, spec = await asyncio.to_thread(specs.prepare_spec, self.samples, request.ref_sample, base)
        return await self._start("tts_prepare", module, spec, request.request_id)

    async def GetTtsTrainingConfig(self, request, context):
        return config_pb(self.config.get())

    async def UpdateTtsTrainingConfig(self, request, context):
        overrides = config_overrides(request.config, list(request.update_mask.paths))
        try:
            if isinstance(overrides.get("base_model"), str):
                overrides["base_model"] = self._base_model(overrides["base_model"])
            return config_pb(await asyncio.to_thread(self.config.update, overrides))
        except TuneforgeError as exc:
            raise prefixed(exc, "config.") from None

    @single_flight
    async def StartTraining(self, request, context):
        try:
            config = self.config.get().merged(config_overrides(request.config))
            config = config.merged({"base_model": self._base_model(config.base_model)})
        except TuneforgeError as exc:
            raise prefixed(exc, "config.") from None
        module, spec = await asyncio.to_thread(specs.train_spec, self.ctx.root, request.model_name, config)
        return await self._start("tts_train", module, spec, request.request_id)

    # ----------------------------------------------------------------- models

    async def ListVoiceModels(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "tts:models")
        items, total = await asyncio.to_thread(self.models.list, offset, limit)
        return pb.ListVoiceModelsResponse(
            models=[model_pb(m) for m in items],
            next_page_token=paging.next_token(offset, limit, len(items), total, "tts:models"),
        )

    async def SynthesizePreview(self, request, context):
        module, spec = await asyncio.to_thread(
            specs.preview_spec, self.ctx.root, request.model_name, request.text,
            checkpoint=request.checkpoint, speaker=request.speaker, language=request.language or "auto",
        )  # fmt: skip
        return await self._start("tts_synthesize", module, spec, request.request_id)

    async def DownloadPreview(self, request, context):
        job = self.ctx.engine.get(request.job_id, SERVICE)
        if job.kind != "tts_synthesize":
            raise failed_precondition("NOT_A_PREVIEW_JOB", f"job {job.id} is a {job.kind} job, not a preview synthesis")
        if job.state != SUCCEEDED:
            raise failed_precondition("PREVIEW_NOT_READY", f"job {job.id} is {job.state}; a preview exists once it has SUCCEEDED")
        path: Path = job.job_dir / PREVIEW_FILE
        if not path.is_file():
            raise not_found("preview", job.id)
        async for message in send_file(path, pb.DownloadPreviewResponse, filename=f"{job.id}.wav", content_type="audio/wav"):
            yield message

    # ----------------------------------------------------------------- the served voice (issue 28)

    async def ActivateVoiceModel(self, request, context):
        return voice_activation_pb(await asyncio.to_thread(self.voices.activate, request.model_name, request.checkpoint))

    async def GetActiveVoiceModel(self, request, context):
        return voice_activation_pb(await asyncio.to_thread(self.voices.current))

    async def RollbackVoiceModel(self, request, context):
        return voice_activation_pb(await asyncio.to_thread(self.voices.rollback))
