"""What the generated service wrappers (services.py) stand on: request building and calls.

A wrapper method hands its request (or its keyword fields) here; this builds the message,
calls the generated gRPC stub with the client's deadline and token, and turns a failure into a
typed error. Retries are not here: the channel's service config retries reads on UNAVAILABLE.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from google.protobuf import message_factory

from tuneforge.client.errors import from_rpc_error
from tuneforge.client.fields import enum_number
from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from tuneforge.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from tuneforge.tts.v1 import tts_pb2, tts_pb2_grpc

SERVICES = {
    "dataset": (dataset_pb2, dataset_pb2_grpc, "DatasetService"),
    "trainer": (trainer_pb2, trainer_pb2_grpc, "TrainerService"),
    "tts": (tts_pb2, tts_pb2_grpc, "TtsService"),
    "registry": (registry_pb2, registry_pb2_grpc, "RegistryService"),
    "jobs": (jobs_pb2, jobs_pb2_grpc, "JobService"),
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def message_class(descriptor: Any) -> type:
    return message_factory.GetMessageClass(descriptor)


def build_request(cls: type, request: Any, kwargs: dict[str, Any]) -> Any:
    """``request`` as is, or a ``cls`` built from ``kwargs`` (None = unset; a nested message
    may be a dict, a FieldMask a list of paths, an enum its short name)."""
    if request is not None:
        return request
    msg = cls()
    for key, value in kwargs.items():
        if value is None:
            continue
        field = msg.DESCRIPTOR.fields_by_name.get(key)
        if field is None:
            raise TypeError(f"{cls.__name__} has no field {key!r}")
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if field.message_type is not None and field.message_type.full_name == "google.protobuf.FieldMask" \
                and isinstance(value, (list, tuple)):
            getattr(msg, key).paths.extend(value)
        elif is_map:
            getattr(msg, key).update(dict(value))
        elif field.message_type is not None and isinstance(value, dict):
            target = getattr(msg, key)
            if field.is_repeated:
                raise TypeError(f"{cls.__name__}.{key} is a list")
            target.CopyFrom(build_request(type(target), None, value))
        elif field.is_repeated:
            items = [build_request(message_class(field.message_type), None, v) if isinstance(v, dict) else v for v in value]
            getattr(msg, key).extend([enum_number(field, v) if field.enum_type and isinstance(v, str) else v for v in items])
        elif field.message_type is not None:
            getattr(msg, key).CopyFrom(value)
        elif field.enum_type is not None and isinstance(value, str):
            setattr(msg, key, enum_number(field, value))
        else:
            setattr(msg, key, value)
    return msg


class _Base:
    SERVICE = ""

    def __init__(self, client: Any, channel: Any) -> None:
        pb, pb_grpc, service = SERVICES[self.SERVICE]
        self._client = client
        self._descriptor = pb.DESCRIPTOR.services_by_name[service]
        self._stub = getattr(pb_grpc, f"{service}Stub")(channel)
        self._methods = {m.name: m for m in self._descriptor.methods}

    def __getattr__(self, attr: str) -> Any:
        rpcs = ", ".join(sorted(snake(m) for m in self.__dict__.get("_methods", {})))
        raise AttributeError(f"{type(self).__name__} has no RPC {attr!r}; RPCs: {rpcs}")

    def _prepare(self, rpc: str, request: Any, fields: dict[str, Any]) -> tuple[Any, Any, Any]:
        method = self._methods[rpc]
        if not method.client_streaming:
            request = build_request(message_class(method.input_type), request, fields)
        return method, getattr(self._stub, rpc), request


class ServiceBase(_Base):
    """Blocking calls."""

    def _call(self, rpc: str, request: Any, timeout: float | None, fields: dict[str, Any]) -> Any:
        method, call, request = self._prepare(rpc, request, fields)
        md = metadata(self._client.token)
        if method.server_streaming:
            return self._stream(call, request, timeout, md)
        try:
            return call(request, timeout=timeout or self._client.timeout, metadata=md)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    @staticmethod
    def _stream(call: Any, request: Any, timeout: float | None, md: list[tuple[str, str]]) -> Iterator[Any]:
        try:
            yield from call(request, timeout=timeout, metadata=md)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None


class AsyncServiceBase(_Base):
    """asyncio calls: unary methods return awaitables, streams async iterators."""

    def _call(self, rpc: str, request: Any, timeout: float | None, fields: dict[str, Any]) -> Any:
        method, call, request = self._prepare(rpc, request, fields)
        md = metadata(self._client.token)
        if method.server_streaming:
            return self._stream(call, request, timeout, md)
        return self._unary(call, request, timeout or self._client.timeout, md)

    @staticmethod
    async def _unary(call: Any, request: Any, timeout: float | None, md: list[tuple[str, str]]) -> Any:
        try:
            return await call(request, timeout=timeout, metadata=md)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    @staticmethod
    async def _stream(call: Any, request: Any, timeout: float | None, md: list[tuple[str, str]]) -> AsyncIterator[Any]:
        try:
            async for item in call(request, timeout=timeout, metadata=md):
                yield item
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
