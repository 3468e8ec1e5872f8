"""Server-sent events from a job's Watch stream.

The bridge needs only an *event source*: ``source(after_seq) -> async iterator of
{seq, type, data}`` (``Backend.watch_job`` is one). Each event goes out as
``id: SEQ / event: TYPE / data: JSON``; a browser's ``EventSource`` reconnects with
``Last-Event-ID`` and the bridge resumes from there (``after_seq``), so nothing is lost or
repeated. A comment line every few seconds keeps proxies from closing an idle stream, and an
``end`` event tells the page the job is over (so it stops reconnecting); ``stream_error``
carries a failure of the stream itself (the browser keeps ``error`` for its own use).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from tuneforge.client import TuneforgeClientError

EventSource = Callable[[int], AsyncIterator[dict[str, Any]]]
HEARTBEAT_SECONDS = 10.0


def resume_point(request: Request) -> int:
    """``Last-Event-ID`` (a reconnect) or ``?after_seq=`` (a first connect), else 0."""
    for raw in (request.headers.get("last-event-id"), request.query_params.get("after_seq")):
        if raw and raw.strip().isdigit():
            return int(raw)
    return 0


def format_event(event: dict[str, Any]) -> str:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def _named(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _frames(source: EventSource, after_seq: int, heartbeat: float) -> AsyncIterator[str]:
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        try:
            async for event in source(after_seq):
                await queue.put(("event", event))
            await queue.put(("end", None))
        except TuneforgeClientError as exc:
            await queue.put(("error", {"code": exc.code.name, "reason": exc.reason, "message": exc.message}))
        except Exception as exc:  # noqa: BLE001 - tell the page, then end the stream
            await queue.put(("error", {"code": "INTERNAL", "reason": "", "message": str(exc)}))

    task = asyncio.create_task(pump())
    yield "retry: 2000\n\n"
    try:
        while True:
            try:
                kind, item = await asyncio.wait_for(queue.get(), heartbeat)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if kind == "event":
                yield format_event(item)
            else:
                yield _named("stream_error", item) if kind == "error" else _named("end", {})
                return
    finally:
        task.cancel()


def sse_response(request: Request, source: EventSource, heartbeat: float = HEARTBEAT_SECONDS) -> StreamingResponse:
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(_frames(source, resume_point(request), heartbeat), media_type="text/event-stream", headers=headers)
