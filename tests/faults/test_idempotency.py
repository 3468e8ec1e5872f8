"""AIP-155 under concurrency: parallel create calls with one request_id all get one job."""

from __future__ import annotations

import pytest

import json
import threading
import zipfile
from pathlib import Path

from tuneforge.client import Client

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL

def concurrently(target: str, n: int, call):
    """Run ``call(client)`` from ``n`` threads (own channels) released at once; results or errors."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i):
        with Client(target, timeout=400) as c:
            barrier.wait()
            try:
                out[i] = call(c)
            except Exception as exc:  # noqa: BLE001 - collected and asserted on
                out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return out


def chats(path: Path, n: int = 8) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"hello {i}"}]}
            for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_six_parallel_create_training_job_calls_with_one_request_id_get_one_job(server, client, tiny_lm_dir, tmp_path):
    up = client.upload_file("dataset", chats(tmp_path / "chats.jsonl"))
    client.dataset.import_dataset(upload_id=up.id, dataset_name="chats")
    results = concurrently(server.target, 6, lambda c: c.trainer.create_training_job(
        dataset="chats", base_model=str(tiny_lm_dir), adapter_name="same", preset="quick", request_id="train-1"))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert len({r.id for r in results}) == 1
    assert client.jobs.list_jobs(service="trainer").total_size == 1
    client.jobs.cancel_job(id=results[0].id)


def test_six_parallel_generate_dataset_calls_with_one_request_id_get_one_job(server, client, tmp_path):
    project = tmp_path / "project.zip"
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr("docs/guide.md", "# Guide\n\nInstall it with pip. Run it with the serve command.\n")
    up = client.upload_file("dataset", project)
    results = concurrently(server.target, 6, lambda c: c.dataset.generate_dataset(
        dataset_name="once", project_upload_id=up.id, request_id="gen-1"))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert len({r.id for r in results}) == 1
    assert client.jobs.list_jobs(service="dataset").total_size == 1
