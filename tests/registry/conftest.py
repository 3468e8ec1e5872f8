"""Fixtures for the registry tests: real files, a real SQLite store, the fake vLLM on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneforge.runtime.store import Store, open_store
from tuneforge.services.registry.adapters import AdapterCatalog
from tuneforge.testing.fake_vllm import FakeVllm

from registry_helpers import BASE, make_adapter


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "var"
    root.mkdir()
    return root


@pytest.fixture
def store(data_root: Path, empty_database_url: str):
    s = open_store(data_root, empty_database_url)  # empty: some tests pin what a migration does
    yield s
    s.close()


@pytest.fixture
def catalog(store: Store, data_root: Path) -> AdapterCatalog:
    return AdapterCatalog(store, data_root)


@pytest.fixture
def src(tmp_path: Path):
    """Factory: a valid adapter directory outside the data root."""
    def factory(name: str = "src", **kw) -> Path:
        return make_adapter(tmp_path / "incoming" / name, **kw)
    return factory


@pytest.fixture
def fake_vllm():
    fake = FakeVllm(BASE, root=f"/models/{BASE}").start()
    yield fake
    fake.stop()
