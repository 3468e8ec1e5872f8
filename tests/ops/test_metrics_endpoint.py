"""Prometheus metrics on ``metrics_port``: RPCs by method and code with latency, jobs by state
and the queue, scraped over HTTP from a real server after real RPCs and a real job."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tuneforge.client import NotFound
from tuneforge.common.v1 import common_pb2

TELEGRAM = Path(__file__).resolve().parents[1] / "dataset" / "data" / "telegram_single_chat.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, list]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def test_metrics_port_serves_rpc_and_job_series(server_factory, tmp_path):
    from tuneforge.client import Client

    port = free_port()
    srv = server_factory(services=("dataset",), metrics_port=port)
    with Client(srv.target, timeout=30) as client:
        client.dataset.list_datasets(page_size=5)
        client.dataset.list_datasets(page_size=5)
        with pytest.raises(NotFound):
            client.dataset.get_dataset(name="nope")
        upload = client.upload_file("dataset", TELEGRAM)
        job = client.dataset.process_telegram_export(upload_id=upload.id, dataset_name="chats")
        ended = client.wait_job(job.id)
    state = common_pb2.Job.State.Name(ended.state).removeprefix("STATE_")

    families = scrape(port)
    rpcs = families["tuneforge_rpc"]
    method = "/tuneforge.dataset.v1.DatasetService/ListDatasets"
    assert value(rpcs, "tuneforge_rpc_total", method=method, code="OK") == 2
    assert value(rpcs, "tuneforge_rpc_total", method="/tuneforge.dataset.v1.DatasetService/GetDataset", code="NOT_FOUND") == 1
    latency = families["tuneforge_rpc_duration_seconds"]
    assert value(latency, "tuneforge_rpc_duration_seconds_count", method=method) == 2
    assert value(latency, "tuneforge_rpc_duration_seconds_sum", method=method) > 0
    jobs = families["tuneforge_jobs"]
    assert value(jobs, "tuneforge_jobs", service="dataset", kind="telegram", state=state) == 1
    assert value(families["tuneforge_job_queue_length"], "tuneforge_job_queue_length") == 0
    assert "tuneforge_gpu_memory_used_bytes" in families
    assert "tuneforge_training_tokens_per_second" in families


def test_running_job_tokens_per_second_is_exported(server_factory):
    from tuneforge.runtime.jobs import JobKind

    port = free_port()
    srv = server_factory(services=("dataset",), metrics_port=port)
    srv.engine.register_kind(JobKind(
        name="tps", service="trainer",
        command=lambda job: [sys.executable, str(Path(__file__).with_name("tps_worker.py")), "--spec", str(job.spec_path)],
    ))
    job = srv.call(srv.engine.create("tps", {}))
    deadline = time.time() + 30
    while time.time() < deadline:
        families = scrape(port)
        tps = value(families["tuneforge_training_tokens_per_second"], "tuneforge_training_tokens_per_second", job_id=job.id)
        if tps is not None:
            break
        time.sleep(0.1)
    assert tps == 4321.5
    assert value(families["tuneforge_jobs"], "tuneforge_jobs", service="trainer", kind="tps", state="RUNNING") == 1
    srv.call(srv.engine.cancel(job.id))
