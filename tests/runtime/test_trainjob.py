"""Training on several Kubernetes nodes as a Kubeflow Trainer v2 TrainJob (runtime
torch-distributed): the generated manifest validates against the TrainJob CRD's schema from the
kubeflow/trainer repository, the state is read from the TrainJob's conditions, and a two-node
TrainJob — run by the fake kubectl as two local "pods" under torchrun with the PET_* variables
the trainer's torch plugin sets — trains a real adapter with rank 0 reporting."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from tuneforge.client import Client, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.executors import KubernetesExecutor
from tuneforge.runtime.trainjob import TrainJobExecutor, torchrun_argv, trainjob_state

from tests.trainer.trainer_helpers import FAST_TYPED as FAST
from tests.trainer.trainer_helpers import make_dataset

Job = common_pb2.Job
# The CRD (manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml of github.com/kubeflow/trainer,
# checked at commit 8c0f5059bd51ec3ba6d6a6a7b2e1471de7bc13b3) is looked for here or at $TUNEFORGE_TRAINJOB_CRD.
CRD = Path(os.environ.get("TUNEFORGE_TRAINJOB_CRD") or Path(__file__).with_name("crds") / "trainer.kubeflow.org_trainjobs.yaml")


def executor(tmp_path: Path, **k8s) -> TrainJobExecutor:
    base = KubernetesExecutor(kubectl="kubectl", namespace="ml", image="registry.local/tuneforge:1.0",
                              data_root=tmp_path / "var", pvc="tuneforge-data-rwx", gpus=2,
                              service_account="trainer", python="python", **k8s)  # fmt: skip
    return TrainJobExecutor(base, num_nodes=2, num_proc_per_node=2)


def manifest(tmp_path: Path) -> dict:
    jobs = tmp_path / "var" / "jobs" / "job-1"
    env = {"TUNEFORGE_JOB_ID": "job-1", "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_secret", "TUNEFORGE_AUTH_TOKEN": "x"}
    return executor(tmp_path).manifest("job-1", [sys.executable, "-m", "tuneforge.services.trainer.train_worker",
                                                 "--spec", str(jobs / "spec.json")], env, jobs / "worker.out", jobs / "worker.err")  # fmt: skip


def test_the_trainjob_manifest_validates_against_the_kubeflow_trainer_crd(tmp_path):
    if not CRD.is_file():
        pytest.skip(f"the TrainJob CRD is not at {CRD} (see the comment above CRD)")
    import jsonschema
    import yaml

    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    doc = manifest(tmp_path)
    jsonschema.validate(doc, version["schema"]["openAPIV3Schema"])
    assert doc["apiVersion"] == f"{crd['spec']['group']}/v1alpha1" and doc["kind"] == crd["spec"]["names"]["kind"]
    # and a manifest the CRD refuses is refused: the check is not vacuous
    bad = json.loads(json.dumps(doc))
    bad["spec"]["trainer"]["numProcPerNode"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, version["schema"]["openAPIV3Schema"])


def test_the_trainjob_runs_the_worker_under_torchrun_on_every_node_with_the_data_root(tmp_path):
    doc = manifest(tmp_path)
    spec = doc["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "torch-distributed"}  # fmt: skip
    trainer = spec["trainer"]
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 2
    assert trainer["resourcesPerNode"] == {"limits": {"nvidia.com/gpu": 2}}
    assert trainer["command"][-7:-1] == ["python", "-m", "torch.distributed.run", "-m",
                                         "tuneforge.services.trainer.train_worker", "--spec"]  # fmt: skip
    assert trainer["command"][:2] == ["sh", "-c"] and "PET_NODE_RANK" in trainer["command"][2]
    env = {e["name"]: e for e in trainer["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "hf-token"  # never by value
    assert "TUNEFORGE_AUTH_TOKEN" not in env and env["TUNEFORGE_JOB_ID"]["value"] == "job-1"
    patch = spec["runtimePatches"][0]
    pod = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "tuneforge-data-rwx"
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == str(tmp_path / "var")
    assert pod["serviceAccountName"] == "trainer"


def test_torchrun_wraps_a_module_or_a_script():
    assert torchrun_argv(["py", "-m", "m", "--spec", "s"]) == ["py", "-m", "torch.distributed.run", "-m", "m", "--spec", "s"]
    assert torchrun_argv(["py", "w.py", "--spec", "s"]) == ["py", "-m", "torch.distributed.run", "w.py", "--spec", "s"]


@pytest.mark.parametrize(("conditions", "expected"), [
    ([], (False, "")),
    ([{"type": "Created", "status": "True"}], (False, "")),
    ([{"type": "Suspended", "status": "True"}], (False, "")),
    ([{"type": "Created", "status": "True"}, {"type": "Complete", "status": "True"}], (True, "")),
    ([{"type": "Complete", "status": "False"}], (False, "")),
    ([{"type": "Failed", "status": "True", "reason": "JobsFailed", "message": "node 1 exited with code 3"}],
     (True, "TrainJob failed: JobsFailed: node 1 exited with code 3")),
])  # fmt: skip
def test_the_state_is_read_from_the_trainjobs_conditions(conditions, expected):
    assert trainjob_state({"status": {"conditions": conditions}}) == expected


@pytest.mark.slow
def test_a_two_node_trainjob_trains_an_adapter_with_rank_0_reporting(server_factory, tmp_path, monkeypatch, tiny_lm_dir):
    monkeypatch.setenv("FAKE_KUBECTL_STATE", str(tmp_path / "cluster"))
    (tmp_path / "cluster").mkdir()
    srv = server_factory(training_executor="kubernetes", kubectl=f"{sys.executable} -m tuneforge.testing.fake_kubectl",
                         kubernetes_image="registry.local/tuneforge:1.0", kubernetes_pvc="tuneforge-data",
                         kubernetes_python=sys.executable, kubernetes_gpus=0)  # fmt: skip
    srv.engine.executors["kubernetes"] = TrainJobExecutor(srv.engine.executors["kubernetes"], num_nodes=2)
    with Client(srv.target, timeout=60) as c:
        make_dataset(c, tmp_path, "learn", 16)
        job = c.trainer.create_training_job(dataset="learn", base_model=str(tiny_lm_dir), preset="quick",
                                            adapter_name="two-nodes", config={**FAST, "batch_size": 2})  # fmt: skip
        done = c.wait_job(job.id)
        logs = [line.message for line in c.jobs.stream_job_logs(id=job.id)]
        assert done.state == Job.STATE_SUCCEEDED, (done.error_message, logs[-30:])
        assert job_result(done).global_step == 4  # 16 chats, 2 nodes x 2 per device: 4 per step
    calls = [json.loads(line) for line in (tmp_path / "cluster" / "calls.jsonl").read_text().splitlines()]
    assert any("trainjob" in call for call in calls) and not any(call[:2] == ["get", "job"] for call in calls)
    assert (srv.config.root / "adapters" / "two-nodes" / "final" / "adapter_model.safetensors").is_file()
    assert (srv.config.root / "jobs" / job.id / "worker.node1.err").is_file()  # node 1 wrote beside, not into, the job's log
