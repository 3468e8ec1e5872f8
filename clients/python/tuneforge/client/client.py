"""Client and AsyncClient for the four tuneforge services.

    from tuneforge.client import Client
    with Client("localhost:50051", token="...") as tf:
        up = tf.upload_file("dataset", "result.json")
        job = tf.dataset.process_telegram_export(upload_id=up.id, dataset_name="chats",
                                                 config={"owner_name": "Alice"})
        for event in tf.watch_job(job.id):
            print(event)
        result = job_result(tf.wait_job(job.id), dataset_pb2.TelegramJobResult)

Every RPC is a method on ``tf.dataset``, ``tf.trainer``, ``tf.tts``, ``tf.registry`` and
``tf.jobs`` (every job, whatever service made it) named in snake_case, taking the request's
fields as keyword arguments (or a request message). Reads (Get/List/Watch/Stream/Download/
Preview) are retried on UNAVAILABLE by the channel's service config (gRPC's own retry
policy, with backoff); writes never are, except through their ``request_id``. Errors are
typed (``NotFound``, ``InvalidArgument`` with ``field_violations``, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import grpc
from google.protobuf.message import Message

from tuneforge.client import services
from tuneforge.client.errors import TuneforgeClientError, Unavailable, from_rpc_error
from tuneforge.client.stubs import SERVICES as _SERVICES
from tuneforge.client.stubs import message_class as _message_class
from tuneforge.client.stubs import metadata
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.tts.v1 import tts_pb2

DEFAULT_TARGET = "localhost:50051"
CHUNK = 1024 * 1024
_READ_PREFIXES = ("Get", "List", "Watch", "Stream", "Download", "Preview")
_UPLOAD_RPCS = {
    "dataset": ("UploadFile", "UploadFileRequest"),
    "tts": ("UploadVoiceSample", "UploadVoiceSampleRequest"),
}
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.enable_retries", 1)]


def service_config(attempts: int = 3) -> str:
    """The channel's service config: reads are retried on UNAVAILABLE with backoff by gRPC
    itself (writes are not: a retried create would run twice without its request_id)."""
    names = [
        {"service": pb.DESCRIPTOR.services_by_name[svc].full_name, "method": m.name}
        for pb, _, svc in _SERVICES.values()
        for m in pb.DESCRIPTOR.services_by_name[svc].methods
        if m.name.startswith(_READ_PREFIXES) and not m.client_streaming
    ]
    policy = {"maxAttempts": max(2, min(attempts, 5)), "initialBackoff": "0.2s", "maxBackoff": "2s",
              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


def _options(retries: int) -> list[tuple[str, Any]]:
    return [*_CHANNEL_OPTIONS, ("grpc.service_config", service_config(retries))]


M = TypeVar("M", bound=Message)


@overload
def job_result(job: common_pb2.Job) -> Message | None: ...
@overload
def job_result(job: common_pb2.Job, result_type: type[M]) -> M | None: ...
def job_result(job: common_pb2.Job, result_type: type[Message] | None = None) -> Message | None:
    """The job's result as its typed message (e.g. trainer_pb2.TrainingJobResult), or None
    while it has none. With ``result_type`` the value is typed as that message for a type
    checker, and a job whose result is another message raises TypeError."""
    return _unpack(job, job.result, result_type)


@overload
def job_params(job: common_pb2.Job) -> Message | None: ...
@overload
def job_params(job: common_pb2.Job, params_type: type[M]) -> M | None: ...
def job_params(job: common_pb2.Job, params_type: type[Message] | None = None) -> Message | None:
    """The job's params as its typed message (e.g. trainer_pb2.TrainingJobParams), or None;
    ``params_type`` as for :func:`job_result`."""
    return _unpack(job, job.params, params_type)


def _unpack(job: common_pb2.Job, value: Any, expected: type[Message] | None) -> Message | None:
    if not value.type_url:
        return None
    if expected is not None and not value.Is(expected.DESCRIPTOR):
        raise TypeError(f"job {job.id} ({job.kind}) holds a {value.TypeName()}, "
                        f"not a {expected.DESCRIPTOR.full_name}")
    from google.protobuf import descriptor_pool

    cls = expected or _message_class(descriptor_pool.Default().FindMessageTypeByName(value.TypeName()))
    msg = cls()
    value.Unpack(msg)
    return msg


def _credentials(token: str, tls: bool, ca: str | None, cert: str | None, key: str | None) -> grpc.ChannelCredentials | None:
    if not tls:
        return None
    read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
    return grpc.ssl_channel_credentials(read(ca), read(key), read(cert))


def _metadata(token: str) -> list[tuple[str, str]]:
    return metadata(token)


class Client:
    """Synchronous client for all four services on one target (``serve all``) or each its own."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str = "",
        tls: bool = False,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        timeout: float | None = 60.0,
        retries: int = 3,
        targets: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self.token = token or os.environ.get("TUNEFORGE_TOKEN", "")
        self.timeout = timeout
        self.retries = retries
        creds = _credentials(self.token, tls, ca, cert, key)
        options = _options(retries)
        self._channels: dict[str, grpc.Channel] = {}

        def channel_for(addr: str) -> grpc.Channel:
            if addr not in self._channels:
                self._channels[addr] = grpc.secure_channel(addr, creds, options) if creds else grpc.insecure_channel(addr, options)
            return self._channels[addr]

        self.channel = channel_for(target)

        def at(name: str) -> grpc.Channel:
            return channel_for((targets or {}).get(name, target))

        self.dataset = services.DatasetService(self, at("dataset"))
        self.trainer = services.TrainerService(self, at("trainer"))
        self.tts = services.TtsService(self, at("tts"))
        self.registry = services.RegistryService(self, at("registry"))
        # Each process serves the jobs of the services it hosts; with one process per service,
        # targets={"jobs": ...} picks the one to ask (default: ``target``).
        self.jobs = services.JobService(self, at("jobs"))

    # -- plumbing
    def _unary(self, call: Any, request: Any, timeout: float | None) -> Any:
        try:
            return call(request, timeout=timeout or self.timeout, metadata=_metadata(self.token))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def _stream(self, call: Any, request: Any, timeout: float | None) -> Iterator[Any]:
        try:
            yield from call(request, timeout=timeout, metadata=_metadata(self.token))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- conveniences
    @overload
    def upload_file(self, service: Literal["dataset"], path: str | Path, filename: str | None = None, *,
                    chunk_size: int = CHUNK, request_id: str = "") -> dataset_pb2.Upload: ...
    @overload
    def upload_file(self, service: Literal["tts"], path: str | Path, filename: str | None = None, *,
                    chunk_size: int = CHUNK, request_id: str = "") -> tts_pb2.VoiceSample: ...
    @overload
    def upload_file(self, service: str, path: str | Path, filename: str | None = None, *,
                    chunk_size: int = CHUNK, request_id: str = "") -> dataset_pb2.Upload | tts_pb2.VoiceSample: ...
    def upload_file(self, service: str, path: str | Path, filename: str | None = None, *, chunk_size: int = CHUNK,
                    request_id: str = "") -> dataset_pb2.Upload | tts_pb2.VoiceSample:
        """Upload a file to the dataset service (UploadFile: a ``dataset_pb2.Upload``) or the
        tts service (UploadVoiceSample: a ``tts_pb2.VoiceSample``)."""
        rpc, request_name = _UPLOAD_RPCS[service]
        pb = _SERVICES[service][0]
        request_cls = getattr(pb, request_name)
        path = Path(path)
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(chunk_size):
                digest.update(chunk)

        def requests() -> Iterator[Any]:
            meta = common_pb2.UploadMetadata(filename=filename or path.name, size_bytes=size, sha256=digest.hexdigest(),
                                             request_id=request_id)
            yield request_cls(metadata=meta)
            with open(path, "rb") as fh:
                while chunk := fh.read(chunk_size):
                    yield request_cls(chunk=chunk)

        stub = getattr(self, service)._stub
        return self._unary(getattr(stub, rpc), requests(), None)

    def import_adapter_archive(self, path: str | Path, name: str = "", replace: bool = False, request_id: str = "") -> Any:
        path = Path(path)
        data_size = path.stat().st_size

        def requests() -> Iterator[Any]:
            upload = common_pb2.UploadMetadata(filename=path.name, size_bytes=data_size, request_id=request_id)
            yield registry_pb2.ImportAdapterRequest(metadata=registry_pb2.ImportAdapterMetadata(upload=upload, name=name, replace=replace))
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield registry_pb2.ImportAdapterRequest(chunk=chunk)

        return self._unary(self.registry._stub.ImportAdapter, requests(), None)

    def download(self, stream: Iterator[Any], out: str | Path) -> Path:
        """Save a metadata-then-chunks stream atomically to ``out``; verify size and sha256."""
        out = Path(out)
        tmp = out.with_name(f".{out.name}.part")
        meta = None
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as fh:
                for message in stream:
                    if message.WhichOneof("payload") == "metadata":
                        meta = message.metadata
                        continue
                    fh.write(message.chunk)
                    digest.update(message.chunk)
                    size += len(message.chunk)
            if meta is not None and meta.size_bytes and meta.size_bytes != size:
                raise TuneforgeClientError(grpc.StatusCode.DATA_LOSS, "SIZE_MISMATCH", f"expected {meta.size_bytes} bytes, got {size}")
            if meta is not None and meta.sha256 and meta.sha256 != digest.hexdigest():
                raise TuneforgeClientError(grpc.StatusCode.DATA_LOSS, "CHECKSUM_MISMATCH", "downloaded content does not match its sha256")
            tmp.replace(out)
        finally:
            if tmp.exists():
                tmp.unlink()
        return out

    def watch_job(self, job_id: str, after_seq: int = 0, include_logs: bool = False) -> Iterator[common_pb2.JobEvent]:
        """Follow a job to its end. A stream cut mid-way (UNAVAILABLE) is resumed from the
        last event seen (``after_seq``), so nothing is missed or repeated: that is a resume,
        which a channel retry policy cannot do once a stream has sent messages."""
        last = after_seq
        failures = 0
        while True:
            try:
                for event in self.jobs.watch_job(id=job_id, after_seq=last, include_logs=include_logs):
                    last = event.seq
                    failures = 0
                    yield event
                return
            except Unavailable:
                failures += 1
                if failures > self.retries:
                    raise
                time.sleep(min(5.0, 0.5 * 2**failures))

    def wait_job(self, job_id: str) -> common_pb2.Job:
        """Block until the job ends; the final Job."""
        for _ in self.watch_job(job_id):
            pass
        return self.jobs.get_job(id=job_id)

    def audit_adapter(self, name: str, *, version: int = 0, dataset: str = "", samples: int = 0,
                      max_new_tokens: int = 0) -> tuple[common_pb2.Job, Any]:
        """Run the trainer's leak audit of adapter ``name`` (its current version; ``version``
        checks it is that one), wait for it, and return the finished job and its report
        (a registry_pb2.AuditReport, as the registry keeps it; None when the job failed)."""
        from tuneforge.trainer.v1 import trainer_pb2

        job = self.trainer.create_audit_job(adapter_name=name, adapter_version=version, dataset=dataset,
                                            samples=samples, max_new_tokens=max_new_tokens)
        job = self.wait_job(job.id)
        result = job_result(job, trainer_pb2.AuditJobResult) if job.state == job.STATE_SUCCEEDED else None
        if result is None:
            return job, None
        if result.recorded:
            return job, self.registry.get_audit(adapter_name=name, adapter_version=result.report.adapter_version)
        return job, result.report

    def forget_contact(self, dataset: str, contact: str, retrain: bool = False) -> Any:
        """Remove a contact's messages from ``dataset`` (a new version), mark the adapters trained
        on the old versions, redact their evaluation samples; ``retrain`` queues training on the
        new version. A :class:`tuneforge.client.forget.ForgetOutcome` (see that module)."""
        from tuneforge.client.forget import forget_contact

        return forget_contact(self, dataset, contact, retrain)

    def iter_pages(self, method: Any, items_field: str, page_size: int = 100, **kwargs: Any) -> Iterator[Any]:
        """Every item of a List RPC, following next_page_token."""
        token = ""
        while True:
            response = method(page_size=page_size, page_token=token, **kwargs)
            yield from getattr(response, items_field)
            token = response.next_page_token
            if not token:
                return


class AsyncClient:
    """asyncio client: the same methods as :class:`Client`, awaited (streams: ``async for``)."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str = "",
        tls: bool = False,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        timeout: float | None = 60.0,
        retries: int = 3,
    ) -> None:
        self.token = token or os.environ.get("TUNEFORGE_TOKEN", "")
        self.timeout = timeout
        self.retries = retries
        creds = _credentials(self.token, tls, ca, cert, key)
        options = _options(retries)
        self.channel = grpc.aio.secure_channel(target, creds, options) if creds else grpc.aio.insecure_channel(target, options)
        self.dataset = services.AsyncDatasetService(self, self.channel)
        self.trainer = services.AsyncTrainerService(self, self.channel)
        self.tts = services.AsyncTtsService(self, self.channel)
        self.registry = services.AsyncRegistryService(self, self.channel)
        self.jobs = services.AsyncJobService(self, self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
