"""What reaches a worker's environment: the service's settings stay with the service (a
worker needs neither the vLLM URL nor its restart command), and which variables count as
credentials where the environment is written down (a Kubernetes Job manifest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneforge.client import Client
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import JobKind
from tuneforge.runtime.worker_env import credential_like, worker_env
from tuneforge.tts.v1 import tts_pb2

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job


def test_a_worker_gets_the_machine_environment_without_the_service_settings():
    service = {
        "PATH": "/usr/bin", "HOME": "/home/tf", "HF_HOME": "/cache/hf", "PYTHONPATH": "/src",
        "TUNEFORGE_HOME": "/var/lib/tuneforge", "TUNEFORGE_CACHE": "/cache/tf", "TUNEFORGE_WHISPER_MODELS": "/m",
        "TUNEFORGE_VLLM_URL": "http://admin:pw@vllm:8000", "TUNEFORGE_VLLM_RESTART_COMMAND": "systemctl restart vllm",
        "TUNEFORGE_AUTH_TOKEN": "t" * 32, "TUNEFORGE_VLLM_API_KEY": "k", "TUNEFORGE_PORT": "50051",
    }  # fmt: skip
    env = worker_env(service, {"TUNEFORGE_JOB_ID": "job-1", "PYTHONUNBUFFERED": "1"})
    assert env == {
        "PATH": "/usr/bin", "HOME": "/home/tf", "HF_HOME": "/cache/hf", "PYTHONPATH": "/src",
        "TUNEFORGE_HOME": "/var/lib/tuneforge", "TUNEFORGE_CACHE": "/cache/tf", "TUNEFORGE_WHISPER_MODELS": "/m",
        "TUNEFORGE_JOB_ID": "job-1", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip


@pytest.mark.parametrize(("name", "value", "credential"), [
    ("HF_TOKEN", "x", True),
    ("HF_MIRROR_PASS", "x", True),
    ("DB_PASSWORD", "x", True),
    ("HF_S3_ACCESS_KEY", "x", True),
    ("AWS_SECRET_ACCESS_KEY", "x", True),
    ("TUNEFORGE_VLLM_API_KEY", "x", True),
    ("GIT_CREDENTIALS", "x", True),
    ("HF_ENDPOINT", "https://user:s3cret@hf.internal", True),
    ("HF_ENDPOINT", "https://hf.internal/mirror@2", False),
    ("HF_HOME", "/cache/hf", False),
    ("TOKENIZERS_PARALLELISM", "false", False),
    ("COMPASS_DIR", "/x", False),
    ("CUDA_VISIBLE_DEVICES", "1", False),
])  # fmt: skip
def test_credential_like_variables_are_told_by_name_or_by_url_userinfo(name, value, credential):
    assert credential_like(name, value) is credential


def test_a_local_worker_does_not_see_the_vllm_restart_command_or_url(server_factory, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_VLLM_RESTART_COMMAND", "kubectl --token=s3cret rollout restart deploy/vllm")
    monkeypatch.setenv("TUNEFORGE_VLLM_URL", "http://admin:s3cret@127.0.0.1:9")
    srv = server_factory(services=("trainer",))
    srv.engine.register_kind(JobKind(
        name="env-test", service="trainer",
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
        result_type=tts_pb2.TtsTrainingJobResult,
    ))  # fmt: skip
    jobs = [srv.call(srv.engine.create("env-test", {"steps": 1, "print_env": name}))
            for name in ("TUNEFORGE_VLLM_RESTART_COMMAND", "TUNEFORGE_VLLM_URL", "TUNEFORGE_JOB_ID")]  # fmt: skip
    with Client(srv.target) as c:
        assert [c.wait_job(job.id).state for job in jobs] == [State.STATE_SUCCEEDED] * 3
        logs = [line.message for job in jobs for line in c.jobs.stream_job_logs(id=job.id)]
    assert "TUNEFORGE_VLLM_RESTART_COMMAND=" in logs
    assert "TUNEFORGE_VLLM_URL=" in logs
    assert f"TUNEFORGE_JOB_ID={jobs[2].id}" in logs, "the worker lost a variable it reads"
