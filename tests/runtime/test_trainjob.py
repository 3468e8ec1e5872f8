"""Training on several Kubernetes nodes as a Kubeflow Trainer v2 TrainJob (runtime
torch-distributed): the generated manifest is checked against the TrainJob model of
``kubeflow-trainer-api`` (the pydantic models the Kubeflow authors generate from the Trainer API,
PyPI, pinned in the dev extra) and must round-trip through it unchanged, the state is read from
the TrainJob's conditions, and a two-node TrainJob — run by the fake kubectl as two local "pods"
under torchrun with the PET_* variables the trainer's torch plugin sets — trains a real adapter
with rank 0 reporting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob, TrainerV1alpha1TrainJobStatus
from pydantic import ValidationError
from tuneforge.client import Client, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.executors import KubernetesExecutor
from tuneforge.runtime.trainjob import TrainJobExecutor, torchrun_argv, trainjob_state

from tests.trainer.trainer_helpers import FAST_TYPED as FAST
from tests.trainer.trainer_helpers import make_dataset

Job = common_pb2.Job


def executor(tmp_path: Path, num_nodes: int = 2, num_proc_per_node: int = 2, **k8s) -> TrainJobExecutor:
    k8s = {"namespace": "ml", "gpus": 2, "service_account": "trainer", **k8s}
    base = KubernetesExecutor(kubectl="kubectl", image="registry.local/tuneforge:1.0", data_root=tmp_path / "var",
                              pvc="tuneforge-data-rwx", python="python", **k8s)  # fmt: skip
    return TrainJobExecutor(base, num_nodes=num_nodes, num_proc_per_node=num_proc_per_node)


def manifest(tmp_path: Path, **kw) -> dict:
    jobs = tmp_path / "var" / "jobs" / "job-1"
    env = {"TUNEFORGE_JOB_ID": "job-1", "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_secret", "TUNEFORGE_AUTH_TOKEN": "x"}
    return executor(tmp_path, **kw).manifest("job-1", [sys.executable, "-m", "tuneforge.services.trainer.train_worker",
                                                       "--spec", str(jobs / "spec.json")], env, jobs / "worker.out", jobs / "worker.err")  # fmt: skip


def check_trainjob(doc: dict) -> None:
    """Raises unless ``doc`` is a TrainJob the Trainer API accepts: the model parses it (types,
    required fields) and gives back exactly ``doc`` — the generated ``from_dict`` drops keys it does
    not know, so a misspelt or unknown key shows up as a difference. apiVersion and kind are plain
    strings in the model, so they are compared here. (A resource Quantity comes back as a float:
    ``2 == 2.0``, so the comparison is by value.)"""
    if (doc.get("apiVersion"), doc.get("kind")) != ("trainer.kubeflow.org/v1alpha1", "TrainJob"):
        raise ValueError(f"not a trainer.kubeflow.org/v1alpha1 TrainJob: {doc.get('apiVersion')} {doc.get('kind')}")
    back = TrainerV1alpha1TrainJob.from_dict(doc).to_dict()
    if back != doc:
        raise ValueError(f"the TrainJob model does not give back the manifest:\n{json.dumps(back, sort_keys=True)}\n"
                         f"{json.dumps(doc, sort_keys=True)}")  # fmt: skip


@pytest.mark.parametrize("kw", [
    {},  # two nodes of two processes, GPUs, a service account, a namespace
    {"num_nodes": 1, "num_proc_per_node": 1},
    {"num_nodes": 4, "num_proc_per_node": 8, "gpus": 8},
    {"gpus": 0, "service_account": "", "namespace": ""},  # no resourcesPerNode, serviceAccountName, namespace
])  # fmt: skip
def test_the_trainjob_manifest_round_trips_through_the_kubeflow_trainer_model(tmp_path, kw):
    doc = manifest(tmp_path, **kw)
    check_trainjob(doc)
    assert doc["spec"]["trainer"]["numNodes"] == kw.get("num_nodes", 2)
    assert ("resourcesPerNode" in doc["spec"]["trainer"]) == bool(kw.get("gpus", 2))
    assert doc["spec"]["runtimePatches"][0]["manager"] == "tuneforge.dev/trainer"


def _set(doc: dict, path: str, value) -> dict:
    """A copy of ``doc`` with the key at the dotted ``path`` (``[n]`` indexes a list) set to
    ``value``, or removed when ``value`` is ``...``; a key ``old->new`` renames ``old``."""
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if "->" in last:
        old, new = last.split("->")
        node[new] = node.pop(old)
    elif value is ...:
        del node[last]
    else:
        node[last] = value
    return doc


POD = "spec.runtimePatches.0.trainingRuntimeSpec.template.spec.replicatedJobs.0.template.spec.template.spec"


@pytest.mark.parametrize(("path", "value"), [
    ("spec.trainer.numNodes->numNode", None),  # misspelt
    ("spec.trainer.numProcPerNode->num_proc_per_node", None),
    (f"{POD}.containers.0.volumeMounts->volumeMount", None),  # deep in the pod template
    (f"{POD}.serviceAccount", "trainer"),  # unknown (deprecated alias the model does not carry)
    ("spec.extra", True),
    ("spec.trainer.numNodes", "2"),  # wrong types
    ("spec.trainer.numProcPerNode", 2.0),
    ("spec.trainer.command", "python -m tuneforge"),
    (f"{POD}.terminationGracePeriodSeconds", "300"),
    ("spec.trainer.env.0.value", 1),
    ("spec.runtimeRef.name", ...),  # missing required fields
    ("spec.runtimePatches.0.manager", ...),
    ("spec.runtimeRef", ...),
    ("apiVersion", "kubeflow.org/v1"),  # not a Trainer v2 TrainJob
    ("apiVersion", ...),
    ("kind", "PyTorchJob"),
])  # fmt: skip
def test_a_manifest_the_trainer_api_refuses_is_refused(tmp_path, path, value):
    doc = manifest(tmp_path)
    check_trainjob(doc)
    with pytest.raises((ValidationError, ValueError)):
        check_trainjob(_set(doc, path, value))


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
    # and from the same conditions written in full (the Condition's required fields, as the
    # controller writes them), read back by the Trainer API's status model first
    full = [{"reason": "", "message": "", "lastTransitionTime": "2026-12-07T15:00:00Z", **c} for c in conditions]
    obj = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "tuneforge-job-1"},
           "spec": {"runtimeRef": {"name": "torch-distributed"}}, "status": {"conditions": full}}  # fmt: skip
    status = TrainerV1alpha1TrainJob.from_dict(obj).status
    assert [(c.type, c.status, c.reason, c.message) for c in status.conditions or []] == [
        (c["type"], c["status"], c["reason"], c["message"]) for c in full]  # fmt: skip
    assert trainjob_state(obj) == expected


def test_a_condition_the_trainer_api_refuses_is_refused():
    good = {"type": "Complete", "status": "True", "reason": "JobsCompleted", "message": "",
            "lastTransitionTime": "2026-12-07T15:00:00Z"}  # fmt: skip
    TrainerV1alpha1TrainJobStatus.from_dict({"conditions": [good]})
    for bad in ({k: v for k, v in good.items() if k != "lastTransitionTime"}, {**good, "status": True}):
        with pytest.raises(ValidationError):
            TrainerV1alpha1TrainJobStatus.from_dict({"conditions": [bad]})


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
