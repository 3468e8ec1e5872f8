"""A real tuneforge server on a free loopback port, in a background thread (for tests and
the demo). Sync clients can call it from the test thread without blocking its event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from tuneforge.runtime.config import Config, load_config
from tuneforge.runtime.server import SERVICES, TuneforgeServer


def test_allowed_paths(data_root: Path | str) -> str:
    """What a test server lets requests name besides its data root: the test run's temporary
    tree around it (``<basetemp>/<test>/var``: the test's and the session's temp dirs) and the
    caches of the tiny test models."""
    from tuneforge.testing import tiny_lm, tiny_whisper

    dirs = [Path(data_root).resolve().parent.parent, tiny_lm.default_cache_root(), tiny_whisper.default_cache_root()]
    return ",".join(str(d) for d in dirs)


class ServerThread:
    """``allowed_paths`` defaults to :func:`test_allowed_paths`; pass it to choose."""

    def __init__(self, data_root: Path | str, services: tuple[str, ...] = SERVICES, **overrides: Any) -> None:
        overrides = {"port": 0, "allowed_paths": test_allowed_paths(data_root), **overrides, "data_root": str(data_root)}
        self.config: Config = load_config(overrides=overrides, environ={})[0]
        self.services = services
        self.loop = asyncio.new_event_loop()
        self.server = TuneforgeServer(self.config, services)
        self._thread = threading.Thread(target=self.loop.run_forever, name="tuneforge-server", daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        self._thread.start()
        self.port = self.call(self.server.start())
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def engine(self) -> Any:
        return self.server.ctx.engine

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, stop_workers: bool = False) -> None:
        try:
            self.call(self.server.stop(grace=1.0, stop_workers=stop_workers), timeout=600)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop(stop_workers=True)
