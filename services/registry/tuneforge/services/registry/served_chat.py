"""Chat with an adapter through the served model: vLLM's OpenAI chat endpoint, streamed.

``tuneforge adapters chat NAME`` (and the SDK's ``chat_served_adapter``) answers through the
path the bot uses when NAME is live (active or served beside it): ``POST
/v1/chat/completions`` with ``"stream": true`` under the version's served name (``NAME@vN``),
the served tokenizer's chat template, and the version's thinking policy
(``chat_template_kwargs: {"enable_thinking": …}``, thinking.py). When NAME is not live the
RPC answers FAILED_PRECONDITION ``ADAPTER_NOT_SERVED`` and the CLI uses the trainer's chat
job instead (and says which path answered).

The stream is bounded like every other exchange with vLLM (runtime/vllm_http.py): one overall
deadline (connect, headers and every event together), at most ``max_bytes`` of body, and every
way the bytes can be wrong is ``VllmUnreachable`` with a stable ``VLLM_*`` reason
(``VLLM_TIMEOUT``, ``VLLM_UNREACHABLE``, ``VLLM_PROTOCOL_ERROR``, ``VLLM_RESPONSE_TOO_LARGE``).
A refusal (4xx) is ``VllmRejected`` with vLLM's message. Server-sent events arrive as
``data: {json}`` blocks separated by a blank line, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.runtime.vllm_http import MAX_HEADER_BYTES, HttpFailure, _line, _read_body, _read_head, within
from tuneforge.services.registry.vllm import VllmClient, VllmRejected, VllmUnreachable, _rejection

DEFAULT_MAX_TOKENS = 256
MAX_MAX_TOKENS = 4096


@dataclass
class ChatEnd:
    text: str
    tokens: int
    finish_reason: str


def chat_body(served_name: str, messages: list[dict], *, max_tokens: int, temperature: float, top_p: float,
              seed: int, enable_thinking: bool | None) -> dict:
    """The OpenAI chat request vLLM gets (streamed, usage in the last event)."""
    body: dict = {"model": served_name, "messages": messages, "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
                  "temperature": temperature, "stream": True, "stream_options": {"include_usage": True}}
    if top_p:
        body["top_p"] = top_p
    if seed:
        body["seed"] = seed
    if enable_thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": enable_thinking}
    return body


async def stream_chat(client: VllmClient, body: dict, *, timeout: float,
                      max_bytes: int | None = None) -> AsyncIterator[str | ChatEnd]:
    """Each piece of the reply as it arrives, then one :class:`ChatEnd`. Everything — connect,
    headers, every event — within ``timeout`` seconds in all; at most ``max_bytes`` of body."""
    max_bytes = max_bytes or client.max_response_bytes
    deadline = time.monotonic() + timeout
    what = "POST /v1/chat/completions"

    async def bounded(aw):
        left = deadline - time.monotonic()
        if left <= 0:
            with contextlib.suppress(Exception):
                aw.close()
            raise HttpFailure("VLLM_TIMEOUT", f"{what}: no complete answer within {timeout:g}s")
        try:
            return await within(aw, left)
        except asyncio.TimeoutError:
            raise HttpFailure("VLLM_TIMEOUT", f"{what}: no complete answer within {timeout:g}s") from None
        except (ConnectionError, OSError) as exc:
            raise HttpFailure("VLLM_UNREACHABLE", f"{what} at {client.url}: {exc}") from None

    parts = urlsplit(client.url)
    secure = parts.scheme == "https"
    writer = None
    try:
        try:
            reader, writer = await bounded(asyncio.open_connection(
                parts.hostname, parts.port or (443 if secure else 80),
                ssl=ssl.create_default_context() if secure else None, limit=MAX_HEADER_BYTES))
            payload = json.dumps(body).encode()
            head = [f"POST {parts.path.rstrip('/')}/v1/chat/completions HTTP/1.1",
                    f"Host: {parts.netloc.rpartition('@')[2]}", "Connection: close", "Accept: text/event-stream",
                    "Content-Type: application/json", f"Content-Length: {len(payload)}"]
            if client.api_key:
                head.append(f"Authorization: Bearer {client.api_key}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await bounded(writer.drain())
            status, fields = await bounded(_read_head(reader, "POST", "/v1/chat/completions"))
            if status != 200:
                data = await bounded(_read_body(reader, fields, max_bytes, what))
                if status in (502, 503, 504):
                    raise VllmUnreachable(f"{what}: HTTP {status}")
                raise _rejection(status, data)
            async for item in _events(reader, fields, max_bytes, bounded, what):
                yield item
        except HttpFailure as exc:
            raise VllmUnreachable(str(exc), exc.reason) from None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await within(writer.wait_closed(), 1.0)


async def _raw(reader, fields: dict[str, str], max_bytes: int, bounded, what: str) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive (chunked, or to the end of the connection)."""
    seen = 0
    too_large = HttpFailure("VLLM_RESPONSE_TOO_LARGE", f"{what}: the answer is larger than {max_bytes} bytes")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            size_line = (await bounded(_line(reader, what))).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                return
            seen += size
            if seen > max_bytes:
                raise too_large
            try:
                data = await bounded(reader.readexactly(size))
            except asyncio.IncompleteReadError:
                raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: the answer ended mid-chunk") from None
            await bounded(_line(reader, what))
            yield data
    else:
        while more := await bounded(reader.read(65536)):
            seen += len(more)
            if seen > max_bytes:
                raise too_large
            yield more


async def _events(reader, fields, max_bytes, bounded, what) -> AsyncIterator[str | ChatEnd]:
    buffer = b""
    text: list[str] = []
    tokens, finish = 0, ""
    async for data in _raw(reader, fields, max_bytes, bounded, what):
        buffer += data.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            payload = b"".join(line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:"))
            if not payload:
                continue
            if payload == b"[DONE]":
                yield ChatEnd("".join(text), tokens, finish)
                return
            try:
                event = json.loads(payload)
            except ValueError:
                raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: an event that is not JSON "
                                  f"({payload[:40]!r})") from None
            if not isinstance(event, dict):
                raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: an event that is not a JSON object")
            if isinstance(event.get("error"), dict):
                raise VllmRejected(200, str(event["error"].get("message") or event["error"])[:2000])
            usage = event.get("usage")
            if isinstance(usage, dict):
                tokens = int(usage.get("completion_tokens") or tokens)
            for choice in event.get("choices") or []:
                piece = str((choice.get("delta") or {}).get("content") or "")
                if piece:
                    text.append(piece)
                    yield piece
                finish = choice.get("finish_reason") or finish
    raise HttpFailure("VLLM_PROTOCOL_ERROR", f"{what}: the stream ended before [DONE]")


MAX_MESSAGES = 200
MAX_CHARS = 200_000


def check_request(messages: list[dict], max_tokens: int, temperature: float, top_p: float) -> list[dict]:
    """The conversation and limits, or INVALID_ARGUMENT naming the field."""
    if not messages:
        raise invalid_argument("messages", "give at least one message")
    if len(messages) > MAX_MESSAGES:
        raise invalid_argument("messages", f"at most {MAX_MESSAGES} messages; got {len(messages)}")
    chars = 0
    for i, m in enumerate(messages):
        if m.get("role") not in ("system", "user", "assistant"):
            raise invalid_argument(f"messages[{i}].role", f"must be system, user or assistant, got {m.get('role')!r}")
        chars += len(m.get("content") or "")
    if chars > MAX_CHARS:
        raise invalid_argument("messages", f"at most {MAX_CHARS} characters in all; got {chars}")
    if messages[-1]["role"] != "user":
        raise invalid_argument("messages", "the last message must be the user's")
    if not 0 <= max_tokens <= MAX_MAX_TOKENS:
        raise invalid_argument("max_tokens", f"must be 0 (default {DEFAULT_MAX_TOKENS}) to {MAX_MAX_TOKENS}, "
                               f"got {max_tokens}")
    if not 0 <= temperature <= 2:
        raise invalid_argument("temperature", f"must be 0 (greedy) to 2, got {temperature:g}")
    if not 0 <= top_p <= 1:
        raise invalid_argument("top_p", f"must be 0 (1.0) to 1, got {top_p:g}")
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]


async def chat_served_adapter(domain, name: str, messages: list[dict], *, max_tokens: int = 0,
                              temperature: float = 0.0, top_p: float = 0.0, seed: int = 0,
                              timeout: float = 300.0) -> AsyncIterator[tuple[str, object]]:
    """The ``ChatServedAdapter`` RPC, transport-free: ``("start", (adapter, served_name,
    enable_thinking))``, then ``("piece", text)``…, then ``("end", ChatEnd)``."""
    messages = check_request(messages, max_tokens, temperature, top_p)
    adapter = domain.catalog.get(name)
    client = domain.controller.client
    if client is None:
        raise failed_precondition("VLLM_NOT_CONFIGURED", "chat through the served model needs vLLM: configure "
                                  "vllm_mode (hot or restart) and vllm_url; use the trainer's Chat otherwise",
                                  adapter=name)
    if name != domain.catalog.active_name() and name not in domain.activation.served_names():
        raise failed_precondition("ADAPTER_NOT_SERVED", f"adapter {name!r} is neither active nor served on vLLM; "
                                  "use the trainer's Chat (tuneforge adapters chat does)", adapter=name)
    policy = domain.thinking.get(adapter.name, adapter.version) if domain.thinking is not None else None
    body = chat_body(adapter.served_name, messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                     seed=seed, enable_thinking=policy)
    yield "start", (adapter, adapter.served_name, policy)
    try:
        async for item in stream_chat(client, body, timeout=timeout):
            yield ("end", item) if isinstance(item, ChatEnd) else ("piece", item)
    except VllmUnreachable as exc:
        raise exc.to_error(f"vLLM did not answer the chat with {adapter.served_name!r}", name) from None
    except VllmRejected as exc:
        raise exc.to_error(name) from None


__all__ = ["chat_served_adapter", "check_request", "ChatEnd", "chat_body", "stream_chat", "DEFAULT_MAX_TOKENS", "MAX_MAX_TOKENS"]
