"""A real gRPC server and the web console in front of it, on free loopback ports."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import httpx
import pytest

TOKEN = "console-test-token"


@pytest.fixture
def web_factory():
    from tuneforge.testing.web import WebThread

    started = []

    def start(target: str, token: str = "", **settings):
        web = WebThread(target, token, **settings).start()
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()


@pytest.fixture
def web(server, web_factory):
    """The console (no token: loopback) in front of a fresh server."""
    return web_factory(server.target)


@pytest.fixture
def browser_like(web):
    """An httpx client holding a console session and sending its CSRF token."""
    with httpx.Client(base_url=web.url, timeout=60) as http:
        csrf = http.get("/auth/session").json()["csrf_token"]
        http.headers["x-csrf-token"] = csrf
        yield http


def write_wav(path: Path, seconds: float = 1.5, rate: int = 24000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(int(seconds * rate))))
    return path
