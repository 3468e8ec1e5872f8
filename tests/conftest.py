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


def pytest_generate_tests(metafunc):
    """A test marked ``store_backends`` runs once per store backend: SQLite and PostgreSQL."""
    if metafunc.definition.get_closest_marker("store_backends") and "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One private PostgreSQL cluster for the test run (tuneforge.testing.postgres)."""
    from tuneforge.testing.postgres import MISSING, PostgresCluster, find_binaries

    if find_binaries() is None:
        pytest.skip(MISSING)
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture
def store_backend(request) -> str:
    """"sqlite" unless the test is marked ``store_backends`` (then each in turn)."""
    return getattr(request, "param", "sqlite")


def _database(store_backend, request, migrated: bool):
    if store_backend != "postgresql":
        yield ""
        return
    cluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database(template=cluster.migrated_template() if migrated else "")
    yield url
    cluster.drop_database(url)


@pytest.fixture
def database_url(store_backend, request):
    """"" (SQLite under the data root) or a fresh PostgreSQL database of the session's cluster,
    with every component's migrations applied (copied from a template migrated once per run)."""
    yield from _database(store_backend, request, migrated=True)


@pytest.fixture
def empty_database_url(store_backend, request):
    """As ``database_url``, but an empty database: for tests of what migrations do."""
    yield from _database(store_backend, request, migrated=False)


@pytest.fixture
def server_factory(tmp_path, database_url):
    """Start real servers (all four services) on free ports; stopped after the test (on the
    test's store backend: see ``store_backends``)."""
    from tuneforge.testing.server import ServerThread

    started = []

    def start(data_root: Path | None = None, **overrides):
        if database_url:
            overrides.setdefault("database_url", database_url)
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
