"""Training on a real Ray cluster (tuneforge.testing.ray_cluster: a head with no CPUs and two
worker nodes of one CPU each): the ray executor submits through the Ray Jobs API, a TorchTrainer
runs the ordinary training worker on two ranks (gloo), rank 0 reports, the adapter registers and
loads in PEFT; a worker node lost mid-run resumes from the latest checkpoint; two workers with
half the per-device batch train the same steps as one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tuneforge.client import Client, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

from tests.trainer.trainer_helpers import FAST_TYPED as FAST
from tests.trainer.trainer_helpers import make_dataset

Job = common_pb2.Job
pytestmark = pytest.mark.slow


def ray_server(server_factory, root: Path, cluster, workers: int = 2):
    return server_factory(root, training_executor="ray", ray_address=cluster.address, ray_num_workers=workers,
                          ray_resources_per_worker="CPU=1", stop_timeout_seconds=120)  # fmt: skip


def logs_of(c: Client, job_id: str) -> list[str]:
    return [line.message for line in c.jobs.stream_job_logs(id=job_id)]


def losses(c: Client, job_id: str) -> dict[int, float]:
    return {m.step: m.loss for m in c.jobs.list_job_metrics(id=job_id).metrics if m.HasField("loss")}


@pytest.fixture(scope="module")
def one_and_two_workers(ray_cluster, tiny_lm_dir, tmp_path_factory):
    """The same job (16 chats, 2 epochs, global batch 4) on 1 Ray worker with batch 4 and on 2
    with batch 2 each: {workers: (server, final job)}; run once for the tests below."""
    from tuneforge.testing.server import ServerThread

    tmp, runs, servers = tmp_path_factory.mktemp("ray-1v2"), {}, []
    try:
        for workers, batch in ((1, 4), (2, 2)):
            srv = ServerThread(tmp / f"var{workers}", training_executor="ray", ray_address=ray_cluster.address,
                               ray_num_workers=workers, ray_resources_per_worker="CPU=1").start()  # fmt: skip
            servers.append(srv)
            with Client(srv.target, timeout=60) as c:
                make_dataset(c, tmp, f"learn{workers}", 16)
                job = c.trainer.create_training_job(
                    dataset=f"learn{workers}", base_model=str(tiny_lm_dir), preset="quick", adapter_name=f"w{workers}",
                    config={**FAST, "batch_size": batch, "lora_dropout": 0.0, "epochs": 2})  # fmt: skip
                runs[workers] = (srv, c.wait_job(job.id), logs_of(c, job.id), losses(c, job.id))
        yield runs
    finally:
        for srv in servers:
            srv.stop(stop_workers=True)


def test_a_job_trains_on_two_ray_workers_and_registers_an_adapter_that_loads_in_peft(one_and_two_workers, tiny_lm_dir):
    srv, done, logs, _ = one_and_two_workers[2]
    assert done.state == Job.STATE_SUCCEEDED, (done.error_message, logs[-30:])
    assert any(f"ray tuneforge-{done.id}" in m for m in logs)  # started as that Ray submission
    assert any("rank 0 of 2" in m for m in logs)
    result = job_result(done)
    assert result.global_step == 8  # 16 chats, 2 ranks x 2 per device = 4 per step, 2 epochs
    assert result.registration.state == trainer_pb2.Registration.STATE_REGISTERED
    with Client(srv.target, timeout=60) as c:
        assert c.registry.get_adapter(name="w2").job_id == done.id
    final = srv.config.root / "adapters" / "w2" / "final"
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm_dir), final)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    # only rank 0 reported: one metrics event per step
    events = [json.loads(line) for line in (srv.config.root / "jobs" / done.id / "events.jsonl").read_text().splitlines()]
    steps = [e["data"].get("step") for e in events if e["type"] == "metrics"]
    assert len(steps) == len(set(steps))


def test_two_ray_workers_with_half_the_batch_train_the_same_steps_as_one(one_and_two_workers):
    (_, one_job, _, one), (_, two_job, _, two) = one_and_two_workers[1], one_and_two_workers[2]
    assert one_job.state == two_job.state == Job.STATE_SUCCEEDED, (one_job.error_message, two_job.error_message)
    assert sorted(one) == sorted(two) == list(range(1, 9))  # the same 8 optimizer steps
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=0.02, abs=0.02), (step, one, two)
    assert two[8] < two[1] - 0.3  # and it learned


def test_a_lost_worker_node_resumes_from_the_latest_checkpoint_and_the_events_say_so(
        server_factory, ray_cluster, tiny_lm_dir, tmp_path):  # fmt: skip
    srv = ray_server(server_factory, tmp_path / "var", ray_cluster)
    try:
        with Client(srv.target, timeout=60) as c:
            make_dataset(c, tmp_path, "learn", 32)
            job = c.trainer.create_training_job(  # 2 ranks x 2 per device: 8 steps per epoch, 120 in all (~20 s)
                dataset="learn", base_model=str(tiny_lm_dir), preset="quick", adapter_name="survivor",
                config={**FAST, "batch_size": 2, "epochs": 15, "save_steps": 10, "learning_rate": 1e-3})  # fmt: skip
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                now = c.jobs.get_job(id=job.id)
                if now.last_checkpoint or now.state not in (Job.STATE_QUEUED, Job.STATE_RUNNING):
                    break
                time.sleep(0.5)
            assert now.state == Job.STATE_RUNNING and now.last_checkpoint, now.error_message
            ray_dir = srv.config.root / "jobs" / job.id / "ray"  # Ray Train's storage: the checkpoints it holds
            while not list(ray_dir.glob("**/tuneforge_checkpoint.json")) and time.monotonic() < deadline:
                time.sleep(0.2)
            ray_cluster.kill_worker(1)  # the node's raylet and everything under it, SIGKILL
            ray_cluster.start_worker(1)  # a node comes back: Ray Train restarts the worker group
            done = c.wait_job(job.id)
            logs = logs_of(c, job.id)
            assert done.state == Job.STATE_SUCCEEDED, (done.error_message, logs[-30:])
            restart = [m for m in logs if "worker group restarted after a failure" in m]
            assert restart and "resuming from the latest checkpoint" in restart[0], logs[-40:]
            assert any("resuming from" in m and "checkpoint-" in m for m in logs if not m.startswith("ray:"))
            assert job_result(done).global_step == 120
            assert job_result(done).registration.state == trainer_pb2.Registration.STATE_REGISTERED
        assert (srv.config.root / "adapters" / "survivor" / "final" / "adapter_model.safetensors").is_file()
    finally:
        ray_cluster.wait_workers(2)


def test_stopping_a_ray_job_saves_a_checkpoint_then_stops_the_ray_job(server_factory, ray_cluster, tiny_lm_dir, tmp_path):
    from ray.job_submission import JobSubmissionClient

    srv = ray_server(server_factory, tmp_path / "var", ray_cluster)
    with Client(srv.target, timeout=60) as c:
        make_dataset(c, tmp_path, "learn", 32)
        job = c.trainer.create_training_job(dataset="learn", base_model=str(tiny_lm_dir), preset="quick",
                                            adapter_name="stopped", config={**FAST, "batch_size": 2, "epochs": 30})  # fmt: skip
        for event in c.watch_job(job.id):
            if event.WhichOneof("kind") == "metrics" and event.metrics.step >= 3:
                c.jobs.cancel_job(id=job.id)
                break
        stopped = c.wait_job(job.id)
        logs = logs_of(c, job.id)
        assert stopped.state == Job.STATE_CANCELLED, (stopped.error_message, logs[-30:])
        points = c.jobs.list_job_checkpoints(id=job.id).checkpoints
        assert points and stopped.last_checkpoint == points[-1].path and points[-1].step >= 3
        assert job_result(stopped).stopped and not job_result(stopped).adapter_dir
    assert Path(stopped.last_checkpoint, "adapter_model.safetensors").is_file()
    assert not (srv.config.root / "adapters" / "stopped" / "final").exists()
    status = JobSubmissionClient(ray_cluster.address).get_job_status(f"tuneforge-{job.id}")
    assert str(getattr(status, "value", status)) in ("SUCCEEDED", "STOPPED")  # the Ray job is over
