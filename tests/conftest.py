"""Shared fixtures: a real server on a free port, tiny offline models (built once)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def server_factory(tmp_path):
    """Start real servers (all four services) on free ports; stopped after the test."""
    from tuneforge.testing.server import ServerThread

    started = []

    def start(data_root: Path | None = None, **overrides):
        srv = ServerThread(data_root or tmp_path / "var", **overrides).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        if srv._thread.is_alive():
            srv.stop(stop_workers=True)


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def client(server):
    from tuneforge.client import Client

    with Client(server.target, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def tiny_lm_dir() -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    return cached_tiny_lm()


def python_worker(script: Path):
    """A JobKind command running a test worker script with this interpreter."""
    return lambda job: [sys.executable, str(script), "--spec", str(job.spec_path)]
