"""HTTP plumbing shared by the routes: errors as JSON, request bodies, streamed uploads and
downloads. gRPC status codes map to HTTP ones in one table; the body keeps the reason and the
field violations, so a form can show each error at its field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from tuneforge.client import TuneforgeClientError
from tuneforge.web.grpc_api import ConfigError

CHUNK = 1024 * 1024
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.DATA_LOSS: 500,
}


class ApiError(Exception):
    """A request the console refuses before calling a service."""

    def __init__(self, status: int, reason: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.fields = status, reason, message, fields or {}


def bad_request(field: str, why: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", f"{field}: {why}", {field: why})


def error_body(code: str, reason: str, message: str, violations: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": {"code": code, "reason": reason, "message": message, "field_violations": violations}}


async def on_client_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TuneforgeClientError)
    violations = [{"field": v.field, "description": v.description} for v in exc.field_violations]
    return JSONResponse(error_body(exc.code.name, exc.reason, exc.message, violations), HTTP_STATUS.get(exc.code, 500))


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    violations = [{"field": k, "description": v} for k, v in exc.fields.items()]
    return JSONResponse(error_body("INVALID_ARGUMENT" if exc.status == 400 else str(exc.status), exc.reason, exc.message, violations), exc.status)


async def on_config_error(request: Request, exc: Exception) -> JSONResponse:
    """A config value that does not fit its field, refused before any call (as the service would)."""
    assert isinstance(exc, ConfigError)
    body = error_body("INVALID_ARGUMENT", "INVALID_TRAINING_CONFIG", str(exc), [{"field": exc.field, "description": exc.description}])
    return JSONResponse(body, 400)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "INVALID_JSON", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "INVALID_JSON", "the body must be a JSON object")
    return data


def required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(key, "required")
    return str(value).strip()


def int_param(request: Request, key: str, default: int) -> int:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(key, f"expected an integer, got {raw!r}") from None


def flag(request: Request, key: str) -> bool:
    return request.query_params.get(key, "").lower() in ("1", "true", "yes", "on")


async def upload_source(request: Request) -> tuple[str, int, AsyncIterator[bytes], dict[str, str]]:
    """(filename, size or 0, the bytes, form fields) of an upload, never held whole in memory.

    A raw body (any content type but multipart; name in ``?filename=`` or ``X-Filename``)
    streams straight through to gRPC. A ``multipart/form-data`` body (field ``file``) is
    spooled by Starlette to a temporary file past 1 MiB and then streamed from there.
    """
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=50)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise bad_request("file", "a multipart upload needs a file field named 'file'")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}

        async def spooled() -> AsyncIterator[bytes]:
            try:
                while chunk := await upload.read(CHUNK):
                    yield chunk
            finally:
                await form.close()

        return upload.filename or "upload", int(upload.size or 0), spooled(), fields
    filename = request.query_params.get("filename") or request.headers.get("x-filename", "")
    if not filename:
        raise bad_request("filename", "name the file: ?filename=NAME or an X-Filename header")
    size = int(request.headers.get("content-length") or 0)
    return filename, size, request.stream(), dict(request.query_params)


def download(meta: dict[str, Any], chunks: AsyncIterator[bytes], fallback_name: str, media_type: str = "") -> StreamingResponse:
    """A streamed attachment from a metadata-then-chunks gRPC download."""
    name = meta.get("filename") or fallback_name
    headers = {"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    if meta.get("size_bytes"):
        headers["content-length"] = str(meta["size_bytes"])
    return StreamingResponse(chunks, media_type=media_type or meta.get("content_type") or "application/octet-stream", headers=headers)
