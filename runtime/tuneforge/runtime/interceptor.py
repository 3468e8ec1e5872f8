"""One aio interceptor for every service: request id, auth, access log, error mapping.

Servicers raise :class:`TuneforgeError`; this turns it into a rich status (ErrorInfo +
BadRequest). Anything else becomes INTERNAL with the traceback in the log, never a crash:
the client gets the request id to find it there, never the exception's text (it may hold
paths, SQL or other clients' data).
"""

from __future__ import annotations

import contextlib
import contextvars
import hmac
import inspect
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from tuneforge.runtime.errors import Code, TuneforgeError, invalid_argument
from tuneforge.runtime.grpc_errors import to_status
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.request_checks import check_request
from tuneforge.runtime.storage import disk_full_error, is_disk_full

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
log = get_logger("tuneforge.rpc")

_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """``data_root``: where the server keeps its files; a full disk is reported for its
    filesystem, and statuses name paths under it relative to it (``<data root>/…``)."""

    def __init__(self, auth_token: str = "", observer: Callable[[str, str, float], None] | None = None,
                 data_root: Path | None = None) -> None:
        self.auth_token = auth_token
        self.observer = observer
        self.data_root = data_root

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        metadata = dict(details.invocation_metadata or ())
        needs_auth = bool(self.auth_token) and not method.startswith(_OPEN_METHODS)
        rid = metadata.get("x-request-id") or uuid.uuid4().hex[:16]
        kind = _kind(handler)
        behavior = getattr(handler, kind)
        if needs_auth and not _token_ok(metadata.get("authorization", ""), self.auth_token):
            behavior = _deny(handler, given="authorization" in metadata)
        wrapped = _wrap(behavior, kind, method, rid, self.observer, self.data_root)
        return _replace(handler, kind, wrapped)


# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def _token_ok(header: str, token: str) -> bool:
    match = _BEARER.fullmatch(header.strip(" "))
    return match is not None and hmac.compare_digest(match.group(1).encode(), token.encode())


def _kind(handler: Any) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "stream_stream"
    if handler.request_streaming:
        return "stream_unary"
    if handler.response_streaming:
        return "unary_stream"
    return "unary_unary"


def _replace(handler: Any, kind: str, behavior: Any) -> Any:
    factory = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }[kind]
    return factory(
        behavior,
        request_deserializer=_tolerant(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )


class _Malformed:
    """What a request that is not a valid protobuf message deserializes to: the handler
    answers INVALID_ARGUMENT for it (gRPC itself would answer INTERNAL)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def error(self) -> TuneforgeError:
        return invalid_argument("request", f"not a valid protobuf message: {self.why}", reason="MALFORMED_REQUEST")


def _tolerant(deserialize: Any) -> Any:
    if deserialize is None:
        return None

    def run(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError and whatever a parser raises
            return _Malformed(str(exc) or type(exc).__name__)

    return run


def _checked(request: Any) -> Any:
    """The request, or for client streams an iterator that raises at a malformed message;
    each message checked against its descriptor (:mod:`tuneforge.runtime.request_checks`)."""
    if isinstance(request, _Malformed):
        raise request.error()
    if not hasattr(request, "__aiter__"):
        if isinstance(request, Message):
            check_request(request)
        return request

    async def messages() -> Any:
        async for message in request:
            if isinstance(message, _Malformed):
                raise message.error()
            check_request(message)
            yield message

    return messages()


def _deny(handler: Any, given: bool) -> Any:
    """A handler that refuses the call; wrapped like any other so it is logged and counted.
    Its status carries the RFC 6750 challenge (``www-authenticate``) in the trailers."""
    kind = _kind(handler)
    challenge = 'Bearer realm="tuneforge"' + (', error="invalid_token"' if given else "")
    error = TuneforgeError(Code.UNAUTHENTICATED, "UNAUTHENTICATED",
                           "missing or wrong bearer token in `authorization` metadata (`Bearer <token>`)",
                           metadata={"www-authenticate": challenge})  # fmt: skip

    if kind in ("unary_stream", "stream_stream"):
        async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            raise error
            yield  # pragma: no cover
        return deny_stream

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise error
    return deny


def _to_error(exc: BaseException, method: str, data_root: Path | None) -> TuneforgeError:
    """The domain error a failed call answers with; anything unexpected is logged."""
    if isinstance(exc, TuneforgeError):
        return exc
    if isinstance(exc, NotImplementedError):
        return TuneforgeError(Code.UNIMPLEMENTED, "NOT_IMPLEMENTED", f"{method} is not implemented yet")
    if is_disk_full(exc):
        log.error("rpc_disk_full", method=method, error=f"{type(exc).__name__}: {exc}")
        return disk_full_error(exc, data_root or "the data root")
    rid = request_id_var.get()
    log.error("rpc_internal_error", method=method, request_id=rid, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
    return TuneforgeError(Code.INTERNAL, "INTERNAL", f"internal error; the server log has the details under request id {rid}",
                          metadata={"request_id": rid})


def _code_of(context: Any, default: str = "OK") -> str:
    try:
        code = context.code()
    except Exception:  # noqa: BLE001
        code = None
    if code is None or code == 0:
        return default
    return getattr(code, "name", str(code))


def _wrap(behavior: Any, kind: str, method: str, rid: str, observer: Any, data_root: Path | None) -> Any:
    streaming_response = kind in ("unary_stream", "stream_stream")
    failure: list[TuneforgeError] = []  # the error the call answered with (logged in full)

    def fail(exc: BaseException) -> grpc.Status:
        error = _to_error(exc, method, data_root)
        failure.append(error)
        return to_status(error, data_root)

    def done(start: float, code: str) -> None:
        duration = time.perf_counter() - start
        error = failure[-1] if failure else None
        extra = {"reason": error.reason, "error": str(error)} if error else {}
        log.info("rpc", method=method, code=code, duration_ms=round(duration * 1000, 2), request_id=rid, **extra)
        if observer:
            observer(method, code, duration)

    if streaming_response:
        async def stream_behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = request_id_var.set(rid)
            start, code = time.perf_counter(), "OK"
            try:
                result = behavior(_checked(request), context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                elif inspect.isawaitable(result):
                    await result
                elif result is not None:
                    for item in result:
                        yield item
            except grpc.aio.AbortError:
                code = _code_of(context, "ABORTED")
                raise
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, GeneratorExit) or type(exc).__name__ == "CancelledError":
                    code = "CANCELLED"
                    raise
                status = fail(exc)
                code = failure[-1].code.value
                await context.abort_with_status(status)
            finally:
                done(start, code)
                # A stream the client broke off is closed by the garbage collector in another
                # context, where this token cannot be reset (and need not be: that context ends).
                with contextlib.suppress(ValueError):
                    request_id_var.reset(token)
        return stream_behavior

    async def unary_behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = request_id_var.set(rid)
        start, code = time.perf_counter(), "OK"
        try:
            result = behavior(_checked(request), context)
            if inspect.isawaitable(result):
                result = await result
            code = _code_of(context)
            return result
        except grpc.aio.AbortError:
            code = _code_of(context, "ABORTED")
            raise
        except BaseException as exc:  # noqa: BLE001
            if type(exc).__name__ == "CancelledError":
                code = "CANCELLED"
                raise
            status = fail(exc)
            code = failure[-1].code.value
            await context.abort_with_status(status)
        finally:
            done(start, code)
            request_id_var.reset(token)
    return unary_behavior


__all__ = ["ServerInterceptor", "request_id_var"]
