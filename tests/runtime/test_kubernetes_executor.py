"""Training as a Kubernetes Job: the executor drives kubectl (a fake one-node cluster here that
implements kubectl's command-line contract and runs the Job's container command locally)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tuneforge.client import Client, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import JobKind
from tuneforge.tts.v1 import tts_pb2

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job


def k8s_server(server_factory, tmp_path, monkeypatch):
    state = tmp_path / "cluster"
    monkeypatch.setenv("FAKE_KUBECTL_STATE", str(state))
    srv = server_factory(
        training_executor="kubernetes",
        kubectl=f"{sys.executable} -m tuneforge.testing.fake_kubectl",
        kubernetes_image="registry.local/tuneforge:1.0",
        kubernetes_pvc="tuneforge-data",
        kubernetes_namespace="ml",
        kubernetes_python=sys.executable,
        kubernetes_gpus=2,
        stop_timeout_seconds=20,
    )
    srv.engine.register_kind(JobKind(
        name="k8s-train", service="trainer", gpu=True, executor="kubernetes",
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
        result_type=tts_pb2.TtsTrainingJobResult,  # the worker reports {"steps": N}
    ))
    return srv, state


def test_training_job_runs_as_a_kubernetes_job_with_the_data_root_volume(server_factory, tmp_path, monkeypatch):
    srv, state = k8s_server(server_factory, tmp_path, monkeypatch)
    job = srv.call(srv.engine.create("k8s-train", {"steps": 3}))
    with Client(srv.target) as c:
        final = c.wait_job(job.id)
        assert final.state == State.STATE_SUCCEEDED, final.error_message
        assert job_result(final).steps == 3
        logs = [line.message for line in c.jobs.stream_job_logs(id=job.id)]
    assert "step 3" in logs and any("kubernetes tuneforge-" in m for m in logs)
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert calls[0][:5] == ["-n", "ml", "apply", "-f", "-"]
    manifest = json.loads(next((state / "jobs").iterdir()).joinpath("manifest.json").read_text())
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.local/tuneforge:1.0"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "tuneforge-data"
    assert container["volumeMounts"][0]["mountPath"] == str(srv.config.root)
    assert pod["restartPolicy"] == "Never" and manifest["spec"]["backoffLimit"] == 0


def test_stopping_a_kubernetes_job_is_graceful_and_failures_keep_their_exit_code(server_factory, tmp_path, monkeypatch):
    srv, _state = k8s_server(server_factory, tmp_path, monkeypatch)
    long_job = srv.call(srv.engine.create("k8s-train", {"steps": 400, "sleep": 0.05}))
    failing = srv.call(srv.engine.create("k8s-train", {"steps": 1, "exit_code": 7}))
    with Client(srv.target) as c:
        deadline = time.time() + 30
        while c.jobs.get_job(id=long_job.id).state != State.STATE_RUNNING and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        c.jobs.cancel_job(id=long_job.id)
        stopped = c.wait_job(long_job.id)
        assert stopped.state == State.STATE_CANCELLED
        assert "checkpoint-" in stopped.last_checkpoint
        failed = c.wait_job(failing.id)
        assert failed.state == State.STATE_FAILED and "code 7" in failed.error_message
