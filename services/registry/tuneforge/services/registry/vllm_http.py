"""One HTTP/1.1 exchange with vLLM, bounded in time and in size.

A vLLM that misbehaves must not hold the registry: one that accepts and never answers, one
that drips a byte every few seconds (a per-read socket timeout never fires), one that sends
600 MB, or one that answers with bytes that are not HTTP. So every exchange here runs under
one overall deadline (connect, send, status line, headers and body together), reads at most
``max_bytes`` of body (a larger answer is refused as it arrives, never held), and turns every
way the bytes can be wrong into :class:`HttpFailure` with a stable reason the registry
reports as UNAVAILABLE:

* ``VLLM_UNREACHABLE`` — connection refused, reset, DNS;
* ``VLLM_TIMEOUT`` — no complete answer within the deadline;
* ``VLLM_PROTOCOL_ERROR`` — not an HTTP/1.x answer, bad headers or chunking;
* ``VLLM_RESPONSE_TOO_LARGE`` — a body above ``max_bytes``.

Plain asyncio streams with ``Connection: close`` (one request per connection, as urllib did):
no thread is left reading a socket after the caller gave up, and no new dependency. The
deadline is :func:`within`, not ``asyncio.wait_for``, whose Python 3.10/3.11 form can lose a
cancellation that arrives as the inner call ends (the reconcile task then never stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
MAX_HEADER_BYTES = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?\r?\n")


class HttpFailure(Exception):
    """The exchange did not yield a complete, well-formed answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def within(aw: Awaitable[T], timeout: float) -> T:
    """``await aw`` for at most ``timeout`` seconds (then ``asyncio.TimeoutError``, ``aw``
    cancelled); a cancellation of the caller always propagates."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise asyncio.TimeoutError
    return task.result()


async def exchange(url: str, method: str, path: str, body: bytes | None, headers: dict[str, str], *,
                   timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """``(status, body)`` of ``method url+path``, within ``timeout`` seconds in all."""
    try:
        return await within(_exchange(url, method, path, body, headers, max_bytes), timeout)
    except asyncio.TimeoutError:
        raise HttpFailure("VLLM_TIMEOUT", f"{method} {path}: no complete answer within {timeout:g}s") from None
    except (ConnectionError, OSError) as exc:
        raise HttpFailure("VLLM_UNREACHABLE", f"{method} {url}{path}: {exc}") from None


async def _exchange(url: str, method: str, path: str, body: bytes | None, headers: dict[str, str],
                    max_bytes: int) -> tuple[int, bytes]:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=ssl.create_default_context() if secure else None, limit=MAX_HEADER_BYTES)
    try:
        head = [f"{method} {parts.path.rstrip('/')}{path} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}",
                "Connection: close", "Accept: application/json", f"Content-Length: {len(body or b'')}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()
        status, fields = await _read_head(reader, method, path)
        return status, await _read_body(reader, fields, max_bytes, f"{method} {path}")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await within(writer.wait_closed(), 1.0)


async def _line(reader: asyncio.StreamReader, what: str) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: connection closed mid-header "
                          f"(got {bytes(exc.partial[:40])!r})") from None
    except asyncio.LimitOverrunError:
        raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: a header line longer than {MAX_HEADER_BYTES} bytes") from None


async def _read_head(reader: asyncio.StreamReader, method: str, path: str) -> tuple[int, dict[str, str]]:
    what = f"{method} {path}"
    first = await _line(reader, what)
    match = _STATUS_LINE.fullmatch(first)
    if match is None:
        raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: not an HTTP answer (first bytes {first[:40]!r})")
    fields: dict[str, str] = {}
    size = 0
    while (line := await _line(reader, what)) not in (b"\r\n", b"\n"):
        size += len(line)
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or size > MAX_HEADER_BYTES:
            raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: malformed or oversized headers")
        fields[name.strip().lower()] = value.strip()
    return int(match.group(1)), fields


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str], max_bytes: int, what: str) -> bytes:
    too_large = HttpFailure("VLLM_RESPONSE_TOO_LARGE", f"{what}: the answer is larger than {max_bytes} bytes")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, max_bytes, too_large, what)
    if (length := fields.get("content-length")) is not None:
        if not length.isdigit():
            raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: bad Content-Length {length[:40]!r}")
        if int(length) > max_bytes:
            raise too_large
        try:
            return await reader.readexactly(int(length))
        except asyncio.IncompleteReadError:
            raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: the answer ended before its Content-Length") from None
    data = bytearray()  # no length: the body runs to the end of the connection
    while len(data) <= max_bytes and (more := await reader.read(max_bytes + 1 - len(data))):
        data += more
    if len(data) > max_bytes:
        raise too_large
    return bytes(data)


async def _read_chunked(reader: asyncio.StreamReader, max_bytes: int, too_large: HttpFailure, what: str) -> bytes:
    data = bytearray()
    while True:
        size_line = (await _line(reader, what)).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: bad chunk size {size_line[:40]!r}") from None
        if size == 0:
            while (await _line(reader, what)) not in (b"\r\n", b"\n"):
                pass  # trailers
            return bytes(data)
        if len(data) + size > max_bytes:
            raise too_large
        try:
            data += await reader.readexactly(size)
        except asyncio.IncompleteReadError:
            raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: the answer ended mid-chunk") from None
        await _line(reader, what)
