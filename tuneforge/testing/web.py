"""The web console on a free loopback port in a background thread (tests), next to a
:class:`tuneforge.testing.server.ServerThread`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tuneforge.web.server import WebSettings, running


class WebThread:
    def __init__(self, target: str, token: str = "", **settings: Any) -> None:
        self.settings = WebSettings(target=target, token=token, port=0, **settings)
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="tuneforge-web", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with running(self.settings) as url:
                self.url = url.rstrip("/")
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()

    def start(self) -> WebThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def __enter__(self) -> WebThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
