"""`tuneforge jobs list` says where a queued job stands in the queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tuneforge.client import Client
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import JobKind
from tuneforge.testing.paths import source_path

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "runtime" / "worker_script.py"


def test_jobs_list_shows_queue_positions(server):
    server.engine.register_kind(JobKind(
        name="gpu-test", service="dataset", gpu=True,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))  # fmt: skip
    running = server.call(server.engine.create("gpu-test", {"steps": 400, "sleep": 0.05}))
    first = server.call(server.engine.create("gpu-test", {"steps": 1}))
    second = server.call(server.engine.create("gpu-test", {"steps": 1}))
    with Client(server.target) as c:
        deadline = time.time() + 30
        while c.jobs.get_job(id=running.id).state != common_pb2.Job.STATE_RUNNING and time.time() < deadline:
            time.sleep(0.1)
        env = {**os.environ, "TUNEFORGE_TARGET": server.target,
               "PYTHONPATH": source_path()}  # fmt: skip
        out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "jobs", "list"], capture_output=True,
                             text=True, env=env, timeout=120, check=True).stdout  # fmt: skip
        c.jobs.cancel_job(id=running.id)
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "QUEUED #1" in lines[first.id] and "QUEUED #2" in lines[second.id], out
    assert "RUNNING" in lines[running.id]
