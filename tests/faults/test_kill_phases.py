"""A worker killed (kill -9) at each phase of its job, and the server killed with a job
queued: every job ends in the state its phase calls for, none hangs, the queue goes on."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tuneforge.client import Client
from tuneforge.common.v1 import common_pb2

from tuneforge.runtime.jobs import JobKind

WORKER = Path(__file__).parent.parent / "runtime" / "worker_script.py"
State = common_pb2.Job
ENDED = {State.STATE_SUCCEEDED, State.STATE_FAILED, State.STATE_CANCELLED}


def add_kind(srv, gpu=True):
    srv.engine.register_kind(JobKind(
        name="phase-test", service="dataset", gpu=gpu,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))  # fmt: skip


def until(predicate, what, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def ended(c, job_id):
    return until(lambda: (j := c.jobs.get_job(id=job_id)).state in ENDED and j, f"{job_id} to end")


def logs(c, job_id):
    return [line.message for line in c.jobs.stream_job_logs(id=job_id)]


@pytest.mark.parametrize(("phase", "state", "reason"), [
    ("starting", State.STATE_FAILED, "WORKER_KILLED"),
    ("running", State.STATE_FAILED, "WORKER_KILLED"),
    ("stopping", State.STATE_CANCELLED, ""),
])  # fmt: skip
def test_a_worker_killed_in_each_phase_ends_its_job_and_frees_the_gpu(server, phase, state, reason):
    add_kind(server)
    job = server.call(server.engine.create("phase-test", {"steps": 400, "sleep": 0.05, "stop_delay": 30}))
    after = server.call(server.engine.create("phase-test", {"steps": 1}))
    with Client(server.target) as c:
        pid = until(lambda: server.engine.get(job.id).pid, "the worker's pid")
        if phase == "running":
            until(lambda: c.jobs.get_job(id=job.id).progress.step >= 3, "step 3")
        if phase == "stopping":
            until(lambda: c.jobs.get_job(id=job.id).progress.step >= 1, "step 1")
            c.jobs.cancel_job(id=job.id)
            until(lambda: "saving before stopping" in logs(c, job.id), "the worker to start saving")
        os.kill(pid, signal.SIGKILL)
        final = ended(c, job.id)
        assert (final.state, final.error_reason) == (state, reason), final.error_message
        assert ended(c, after.id).state == State.STATE_SUCCEEDED, "the next GPU job never ran"


def test_a_job_queued_when_the_server_was_killed_runs_after_the_restart(server_factory, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root)
    add_kind(srv)
    running = srv.call(srv.engine.create("phase-test", {"steps": 400, "sleep": 0.05}))
    queued = srv.call(srv.engine.create("phase-test", {"steps": 2}))
    pid = until(lambda: srv.engine.get(running.id).pid, "the worker's pid")
    srv.stop()  # the service goes away; its worker keeps running, the second job stays QUEUED
    os.kill(pid, signal.SIGKILL)
    srv2 = server_factory(root)
    add_kind(srv2)
    with Client(srv2.target) as c:
        assert ended(c, running.id).error_reason == "WORKER_LOST"
        assert ended(c, queued.id).state == State.STATE_SUCCEEDED
