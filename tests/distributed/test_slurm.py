"""The slurm executor against a real two-node Slurm cluster (tuneforge/testing/slurm_cluster.py,
started once for this module; skipped, saying why, where it cannot start: not root, or
slurm-wlm/munge not installed — scripts/setup_slurm.sh).

Through the service with ``training_executor = slurm`` and ``train_num_nodes = 2``: a job
trains on both nodes (one torchrun rank each, gloo on 127.0.0.1), with the same per-step losses as one
process with the same global batch, and registers an adapter that
loads in PEFT; a stop (``scancel --signal=TERM``) ends CANCELLED with a checkpoint that a new
job resumes from; a requeue (what preemption does) runs the script again and the worker
resumes from its latest checkpoint, saying so; a node that cannot see the job's directory
fails the job ``SHARED_STORAGE_NOT_VISIBLE``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trainer_helpers import FAST_TYPED, make_dataset, of, parse_events, worker_env

from tuneforge.testing import slurm_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if why := slurm_cluster.unavailable():
        pytest.skip(f"no Slurm cluster here: {why}")
    c = slurm_cluster.SlurmCluster(tmp_path_factory.mktemp("slurm"))
    c.start()
    saved = {k: os.environ.get(k) for k in ("SLURM_CONF", "GLOO_SOCKET_IFNAME", "OMP_NUM_THREADS")}
    os.environ.update(SLURM_CONF=str(c.conf), GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    yield c
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    c.stop()


@pytest.fixture
def slurm_server(server_factory, cluster):
    return server_factory(training_executor="slurm", train_num_nodes=2, stop_timeout_seconds=120)


def _client(server):
    from tuneforge.client import Client

    return Client(server.target, timeout=120)  # 2 shared cores: a create can take long


def _train(client, tiny, name, **config):
    return client.trainer.create_training_job(
        dataset="learn", base_model=str(tiny), preset="quick", adapter_name=name,
        config={**FAST_TYPED, "batch_size": 2, **config})


def _events(server, job_id: str) -> list[dict]:
    path = server.config.root / "jobs" / job_id / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _messages(server, job_id: str) -> list[str]:
    return [e["data"].get("message", "") for e in _events(server, job_id) if e["type"] == "log"]


def _wait_for_step(client, job_id: str, step: int) -> None:
    for event in client.watch_job(job_id):
        if event.WhichOneof("kind") == "metrics" and event.metrics.step >= step:
            return
    raise AssertionError("the job ended before step %d" % step)


def test_a_job_trains_on_two_slurm_nodes_and_registers_its_adapter(slurm_server, tiny_model, tmp_path):
    from tuneforge.client import job_result
    from tuneforge.common.v1 import common_pb2

    with _client(slurm_server) as client:
        make_dataset(client, tmp_path, "learn", 16)
        # deterministic steps (no dropout, a fixed seed), so one process can replay them below
        job = _train(client, tiny_model, "on-slurm", epochs=1, lora_dropout=0.0, seed=7)
        done = client.wait_job(job.id)
        assert done.state == common_pb2.Job.STATE_SUCCEEDED, done.error_message
        assert client.registry.get_adapter(name="on-slurm").job_id == job.id
        result = job_result(done)
    job_dir = slurm_server.config.root / "jobs" / job.id
    script = (job_dir / "slurm.sh").read_text()
    assert "#SBATCH --nodes=2" in script and "tuneforge.runtime.dist_launch" in script
    assert any("worker started (slurm " in m for m in _messages(slurm_server, job.id))
    # rank 1 ran on the second node: its output and its node's launcher's are beside the job's
    assert (job_dir / "ranks" / "rank-1.log").exists() and (job_dir / "ranks" / "node-1.log").exists()
    assert job_dir.joinpath("slurm.exit").read_text().split()[2] == "0"
    progress = [e for e in _events(slurm_server, job.id) if e["type"] == "progress"
                and e["data"].get("phase") == "training" and e["data"].get("step")]
    assert progress and all("eta_seconds" in e["data"] for e in progress)

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), result.adapter_dir)

    # 1 vs 2: the same spec on one plain process with the global batch (2 nodes x 2 -> 1 x 4)
    # trains the same steps with the same losses, as on local torchrun
    two = {e["data"]["step"]: e["data"]["loss"] for e in _events(slurm_server, job.id)
           if e["type"] == "metrics" and "loss" in e["data"]}
    spec = json.loads((job_dir / "spec.json").read_text())
    spec["config"]["batch_size"] = 4
    spec.update(output_dir=str(tmp_path / "one-out"), job_dir=str(tmp_path / "one"))
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "tuneforge.services.trainer.train_worker", "--spec",
                           str(tmp_path / "one" / "spec.json")], env=worker_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    one = {e["step"]: e["loss"] for e in of(parse_events(proc.stdout.splitlines()), "metrics") if "loss" in e}
    assert sorted(one) == sorted(two) and one, (one, two)
    for step in one:
        assert math.isclose(one[step], two[step], abs_tol=2e-3), (step, one, two)


def test_scancel_checkpoints_and_a_new_job_resumes_from_it_to_a_finished_adapter(slurm_server, tiny_model, tmp_path):
    from tuneforge.common.v1 import common_pb2

    with _client(slurm_server) as client:
        make_dataset(client, tmp_path, "learn", 16)
        job = _train(client, tiny_model, "stopped", epochs=10, batch_size=1)  # 2 ranks: 80 steps
        _wait_for_step(client, job.id, 2)
        client.jobs.cancel_job(id=job.id)
        stopped = client.wait_job(job.id)
        assert stopped.state == common_pb2.Job.STATE_CANCELLED, stopped.error_message
        assert stopped.last_checkpoint and Path(stopped.last_checkpoint).is_dir()
        step = int(stopped.last_checkpoint.rsplit("-", 1)[1])
        assert step < 80

        resumed = client.trainer.create_training_job(
            dataset="learn", base_model=str(tiny_model), adapter_name="stopped", resume_from=job.id,
            config={**FAST_TYPED, "batch_size": 1, "epochs": 10})
        done = client.wait_job(resumed.id)
        assert done.state == common_pb2.Job.STATE_SUCCEEDED, done.error_message
        assert client.registry.get_adapter(name="stopped").job_id == resumed.id
    messages = _messages(slurm_server, resumed.id)
    assert any(m.startswith("resuming from ") and f"checkpoint-{step}" in m for m in messages), messages
    metrics = [e["data"]["step"] for e in _events(slurm_server, resumed.id) if e["type"] == "metrics"]
    assert min(s for s in metrics if s > step) == step + 1 and max(metrics) == 80


def test_a_requeued_job_resumes_from_its_latest_checkpoint(slurm_server, cluster, tiny_model, tmp_path):
    from tuneforge.common.v1 import common_pb2

    with _client(slurm_server) as client:
        make_dataset(client, tmp_path, "learn", 8)
        job = _train(client, tiny_model, "requeued", epochs=10, batch_size=1, save_steps=2)
        _wait_for_step(client, job.id, 3)
        ref = client.jobs.get_job(id=job.id)
        slurm_id = subprocess.run(["squeue", "-h", "-n", f"tuneforge-{job.id}", "-o", "%i"], env=cluster.env(),
                                  capture_output=True, text=True, check=True).stdout.split()[0]
        subprocess.run(["scontrol", "requeue", slurm_id], env=cluster.env(), check=True, timeout=30)
        done = client.wait_job(job.id)
        assert done.state == common_pb2.Job.STATE_SUCCEEDED, done.error_message
        assert ref.state == common_pb2.Job.STATE_RUNNING
    messages = _messages(slurm_server, job.id)
    assert any("requeued by Slurm (restart 1): resuming from checkpoint-" in m for m in messages), messages


def test_the_batch_script_carries_the_settings_and_runs_torchrun_on_each_node(tmp_path):
    from tuneforge.runtime import dist_launch
    from tuneforge.runtime.config import Config
    from tuneforge.runtime.executor_slurm import from_config

    config = Config(training_executor="slurm", slurm_partition="gpu", slurm_gpus_per_node=4,
                    slurm_time_limit="24:00:00", slurm_sbatch_lines="--account=lab; --qos=high",
                    slurm_python="/shared/venv/bin/python")
    executor = from_config(config, tmp_path)
    argv = dist_launch.command(["/usr/bin/python3", "-m", "tuneforge.services.trainer.train_worker", "--spec", "/d/s.json"],
                               nodes=2, processes=4, rdzv="slurm")
    script = executor.script("job-1", argv, tmp_path, tmp_path / "worker.out", tmp_path / "worker.err", tmp_path / ".t")
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --partition=gpu",
                 "#SBATCH --gpus-per-node=4", "#SBATCH --time=24:00:00", "#SBATCH --account=lab",
                 "#SBATCH --qos=high", "#SBATCH --requeue", "#SBATCH --job-name=tuneforge-job-1"):
        assert line in script.splitlines(), line
    run = next(line for line in script.splitlines() if line.startswith("srun --kill-on-bad-exit"))
    assert run.split()[3:] == ["/shared/venv/bin/python", "-m", "tuneforge.runtime.dist_launch", "--nnodes", "2",
                               "--nproc-per-node", "4", "--rdzv", "slurm", "--", "-m",
                               "tuneforge.services.trainer.train_worker", "--spec", "/d/s.json"]
    one = executor.script("job-2", ["py", "-m", "tuneforge.services.trainer.warmup_worker", "--spec", "s"],
                          tmp_path, tmp_path / "o", tmp_path / "e", tmp_path / ".t")
    assert "#SBATCH --nodes=1" in one and "srun --nodes=1 --ntasks=1 " in one


def test_a_node_that_cannot_see_the_job_directory_fails_the_job_plainly(cluster, tmp_path):
    from tuneforge.runtime.executor_slurm import SHARED_STORAGE_NOT_VISIBLE, STORAGE_EXIT, SlurmExecutor

    executor = SlurmExecutor(data_root=tmp_path, sbatch_lines="--hold")
    job_dir = tmp_path / "jobs" / "j1"
    job_dir.mkdir(parents=True)

    async def run() -> int | None:
        started = await executor.start("j1", ["/bin/true"], cluster.env(), job_dir, job_dir / "worker.out",
                                       job_dir / "worker.err")
        for token in job_dir.glob(".storage-*"):  # what a node without the shared mount sees
            token.unlink()
        subprocess.run(["scontrol", "release", started.ref], env=cluster.env(), check=True, timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done, code = await executor.poll("j1", started.ref, None, 0.5)
            if done:
                return code
        raise AssertionError("the Slurm job did not end")

    assert asyncio.run(run()) == STORAGE_EXIT
    error = json.loads((job_dir / "worker.out").read_text().splitlines()[-1])
    assert error["event"] == "error" and error["reason"] == SHARED_STORAGE_NOT_VISIBLE
    assert "every node mounts at the same path" in error["message"]
