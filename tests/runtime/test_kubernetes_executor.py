"""Training as a Kubernetes Job: the executor drives kubectl (a fake one-node cluster here that
implements kubectl's command-line contract and runs the Job's container command locally).
The Job's manifest carries no service setting and no credential by value, and validates
against the Kubernetes schemas."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tuneforge.client import Client, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.config import Config
from tuneforge.runtime.executors import KubernetesExecutor
from tuneforge.runtime.jobs import JobKind
from tuneforge.runtime.kubectl import request_timeout_flag
from tuneforge.runtime.server import _executors
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
        deadline = time.time() + 60  # stop once the worker has a checkpoint to end with
        while not c.jobs.get_job(id=long_job.id).last_checkpoint and time.time() < deadline:
            time.sleep(0.1)
        c.jobs.cancel_job(id=long_job.id)
        stopped = c.wait_job(long_job.id)
        assert stopped.state == State.STATE_CANCELLED
        assert "checkpoint-" in stopped.last_checkpoint
        failed = c.wait_job(failing.id)
        assert failed.state == State.STATE_FAILED and "code 7" in failed.error_message


def validate(manifest):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_a_training_job_manifest_holds_no_vllm_setting_and_no_credential_value(server_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_VLLM_URL", "http://admin:s3cret@127.0.0.1:9")
    monkeypatch.setenv("TUNEFORGE_VLLM_RESTART_COMMAND", "kubectl --token=s3cret rollout restart deploy/vllm")
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror:s3cret@hf.internal")
    monkeypatch.setenv("HF_MIRROR_PASS", "s3cret")
    monkeypatch.setenv("HF_S3_ACCESS_KEY", "s3cret")
    monkeypatch.setenv("HF_HOME", "/cache/hf")
    srv, state = k8s_server(server_factory, tmp_path, monkeypatch)
    job = srv.call(srv.engine.create("k8s-train", {"steps": 1}))
    with Client(srv.target) as c:
        assert c.wait_job(job.id).state == State.STATE_SUCCEEDED
    manifest = json.loads(next((state / "jobs").iterdir()).joinpath("manifest.json").read_text())
    validate(manifest)
    assert "s3cret" not in json.dumps(manifest)
    env = {e["name"]: e for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not {"TUNEFORGE_VLLM_URL", "TUNEFORGE_VLLM_RESTART_COMMAND", "HF_ENDPOINT"} & set(env)
    assert env["HF_HOME"] == {"name": "HF_HOME", "value": "/cache/hf"}
    assert env["TUNEFORGE_JOB_ID"] == {"name": "TUNEFORGE_JOB_ID", "value": job.id}


def test_a_credential_url_goes_by_secret_key_ref_when_mapped_and_is_withheld_by_name_otherwise(tmp_path):
    env = {"HF_ENDPOINT": "https://mirror:s3cret@hf.internal", "HF_HOME": "/cache/hf"}
    mapped = KubernetesExecutor(kubectl="unused", image="i", data_root=tmp_path, pvc="p", secret="tuneforge-auth",
                                secret_env={"HF_ENDPOINT": "hf-endpoint"})  # fmt: skip
    unmapped = KubernetesExecutor(kubectl="unused", image="i", data_root=tmp_path, pvc="p")
    by_ref = mapped.manifest("job-1", ["python", "w.py"], env, tmp_path / "o", tmp_path / "e")
    with capture_logs() as logs:
        dropped = unmapped.manifest("job-1", ["python", "w.py"], env, tmp_path / "o", tmp_path / "e")
    for manifest in (by_ref, dropped):
        validate(manifest)
        assert "s3cret" not in json.dumps(manifest)
    secret_key = {"name": "tuneforge-auth", "key": "hf-endpoint", "optional": True}
    ref = {"name": "HF_ENDPOINT", "valueFrom": {"secretKeyRef": secret_key}}
    assert ref in by_ref["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in dropped["spec"]["template"]["spec"]["containers"][0]["env"]] == ["HF_HOME"]
    withheld = [entry for entry in logs if entry["event"] == "worker_env_withheld"]
    assert withheld and withheld[0]["names"] == ["HF_ENDPOINT"] and "s3cret" not in str(withheld)


def test_kubectl_calls_have_a_30_s_deadline_and_starts_retry_for_120_s_by_default(tmp_path):
    config = Config(training_executor="kubernetes", kubernetes_image="i", kubernetes_pvc="p")
    executor = _executors(config, tmp_path)["kubernetes"]
    assert (executor.kubectl_timeout, executor.start_budget, executor.backoff) == (30.0, 120.0, 0.5)
    assert request_timeout_flag(executor.kubectl_timeout) == "--request-timeout=15s"
