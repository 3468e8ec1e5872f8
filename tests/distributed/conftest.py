"""Fixtures of the distributed launchers' tests: the tiny Qwen2 model and the trainer helpers
(torchrun, Slurm), and one real Ray cluster (a head and two worker nodes) for the whole session,
started only when a test asks for it (~35 s, ~2.5 GB)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    return cached_tiny_lm()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    pytest.importorskip("ray.train", reason="Ray is not installed (pip install -e '.[distributed]')")
    from tuneforge.testing.ray_cluster import RayCluster

    cluster = RayCluster(workers=2).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
