from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuneforge.runtime.store import Store
from tuneforge.services.dataset.catalog import DatasetCatalog

DATA = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def catalog(tmp_path: Path) -> DatasetCatalog:
    return DatasetCatalog(Store(tmp_path / "state.db"), tmp_path)


@pytest.fixture
def run_worker():
    """Run a worker as a real subprocess: ``run_worker(module, spec, tmp_path)``."""
    return _run_worker


def _run_worker(
    module: str, spec: dict, tmp_path: Path, timeout: float = 120
) -> tuple[int, list[dict], str]:
    """Run a worker as a real subprocess; return (exit code, JSON events, stderr)."""
    spec_path = tmp_path / f"spec-{module.rsplit('.', 1)[-1]}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    from tuneforge.testing.paths import source_path

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": source_path() + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    proc = subprocess.run(
        [sys.executable, "-m", module, "--spec", str(spec_path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
    )
    events = [
        json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")
    ]
    return proc.returncode, events, proc.stderr


@pytest.fixture
def llm():
    """A local OpenAI-compatible chat server (tests/dataset/openai_standin.py); its URL."""
    from tests.dataset.openai_standin import serve

    with serve() as url:
        yield url
