"""SIGTERM to the server and its training worker together (what `docker stop`, `kubectl
delete pod` and systemd's default KillMode do): after a restart the job is CANCELLED with the
checkpoint the worker saved, resumable — never SUCCEEDED without an adapter."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from server_process import ServerProcess
from tuneforge.client import Client, job_params
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.executors import pid_alive
from tuneforge.testing.server import test_allowed_paths as allowed_paths

from tests.trainer.trainer_helpers import FAST_TYPED as FAST
from tests.trainer.trainer_helpers import make_dataset

Job = common_pb2.Job
pytestmark = pytest.mark.slow


def until(predicate, what, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def worker_pid(root: Path, job_id: str) -> int | None:
    events = root / "jobs" / job_id / "events.jsonl"
    found = re.search(r"worker started \(pid (\d+)\)", events.read_text()) if events.exists() else None
    return int(found.group(1)) if found else None


def training_env(root: Path, **extra: str) -> dict[str, str]:
    return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TUNEFORGE_ALLOWED_PATHS": allowed_paths(root), **extra}


def train_to_step_3(srv: ServerProcess, tmp_path: Path, tiny_lm_dir: Path):
    with Client(srv.target, timeout=60) as c:
        make_dataset(c, tmp_path, "learn", 32)
        job = c.trainer.create_training_job(dataset="learn", base_model=str(tiny_lm_dir), preset="quick",
                                            adapter_name="sig", config={**FAST, "epochs": 6, "save_steps": 2})  # fmt: skip
        until(lambda: c.jobs.get_job(id=job.id).progress.step >= 3, "step 3")
    return job


def test_sigterm_to_the_server_and_its_training_worker_together_ends_the_job_cancelled_and_resumable(tmp_path, tiny_lm_dir):
    root = tmp_path / "var"
    env = training_env(root)
    srv = ServerProcess(root, tmp_path / "first.err", env=env).ready()
    pid = None
    try:
        job = train_to_step_3(srv, tmp_path, tiny_lm_dir)
        pid = worker_pid(root, job.id)
        os.kill(srv.pid, signal.SIGTERM)
        os.kill(pid, signal.SIGTERM)
        assert srv.wait(120) == 0
        until(lambda: not pid_alive(pid, None), "the worker to save and exit")
    finally:
        srv.stop(signal.SIGKILL)
        if pid and pid_alive(pid, None):  # never leave a training worker behind
            os.killpg(pid, signal.SIGKILL)

    again = ServerProcess(root, tmp_path / "again.err", env=env).ready()
    try:
        with Client(again.target, timeout=60) as c:
            ended = c.wait_job(job.id)
            assert (ended.state, ended.error_reason) == (Job.STATE_CANCELLED, "STOPPED_BY_SIGNAL"), ended.error_message
            points = c.jobs.list_job_checkpoints(id=job.id).checkpoints
            assert points and ended.last_checkpoint == points[-1].path, points
            assert (Path(points[-1].path) / "adapter_model.safetensors").is_file()
            assert "resumable" in ended.error_message and points[-1].path in ended.error_message
            assert not c.registry.list_adapters().adapters, "a stopped job registered an adapter"

            resumed = c.trainer.create_training_job(dataset="learn", base_model=str(tiny_lm_dir), adapter_name="sig",
                                                    resume_from=job.id, config=job_params(ended).config)  # fmt: skip
            assert job_params(resumed).resume_from_checkpoint == str(Path(points[-1].path).resolve())
            c.jobs.cancel_job(id=resumed.id)
            assert c.wait_job(resumed.id).state in (Job.STATE_CANCELLED, Job.STATE_SUCCEEDED)
    finally:
        again.stop()


def test_a_server_told_to_stop_its_workers_on_exit_gives_them_their_graceful_stop(tmp_path, tiny_lm_dir):
    """What compose and Kubernetes run (stop_workers_on_exit): SIGTERM to the server alone;
    it stops the worker (checkpoint saved) before exiting, so the job ends CANCELLED."""
    root = tmp_path / "var"
    env = training_env(root, TUNEFORGE_STOP_WORKERS_ON_EXIT="true")
    srv = ServerProcess(root, tmp_path / "first.err", env=env).ready()
    pid = None
    try:
        job = train_to_step_3(srv, tmp_path, tiny_lm_dir)
        pid = worker_pid(root, job.id)
        assert srv.stop(signal.SIGTERM, timeout=240) == 0
        assert not pid_alive(pid, None), "the server exited before its worker"
    finally:
        srv.stop(signal.SIGKILL)
        if pid and pid_alive(pid, None):  # never leave a training worker behind
            os.killpg(pid, signal.SIGKILL)
    again = ServerProcess(root, tmp_path / "again.err", env=env).ready()
    try:
        with Client(again.target, timeout=60) as c:
            ended = c.jobs.get_job(id=job.id)
            assert ended.state == Job.STATE_CANCELLED, ended.error_message
            points = c.jobs.list_job_checkpoints(id=job.id).checkpoints
            assert points and ended.last_checkpoint == points[-1].path
    finally:
        again.stop()


def test_the_container_deployments_stop_workers_on_exit_within_their_grace_period():
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    compose = (deploy / "compose" / "compose.yaml").read_text()
    assert 'TUNEFORGE_STOP_WORKERS_ON_EXIT: "true"' in compose
    assert re.search(r"stop_grace_period: (\d+)s", compose) and int(re.search(r"stop_grace_period: (\d+)s", compose)[1]) > 300
    configmap = (deploy / "kubernetes" / "configmap.yaml").read_text()
    assert "stop_workers_on_exit = true" in configmap and "stop_timeout_seconds = 300.0" in configmap
    for name in ("trainer", "tts"):
        grace = re.search(r"terminationGracePeriodSeconds: (\d+)", (deploy / "kubernetes" / f"{name}.yaml").read_text())
        assert grace and int(grace[1]) > 300, name
