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


def test_a_job_trains_on_two_ray_workers_and_registers_an_adapter_that_loads_in_peft(
        server_factory, ray_cluster, tiny_lm_dir, tmp_path):  # fmt: skip
    srv = ray_server(server_factory, tmp_path / "var", ray_cluster)
    with Client(srv.target, timeout=60) as c:
        make_dataset(c, tmp_path, "learn", 16)
        job = c.trainer.create_training_job(dataset="learn", base_model=str(tiny_lm_dir), preset="quick",
                                            adapter_name="on-ray", config={**FAST, "epochs": 2})  # fmt: skip
        done = c.wait_job(job.id)
        logs = logs_of(c, job.id)
        assert done.state == Job.STATE_SUCCEEDED, (done.error_message, logs[-30:])
        assert any(f"ray tuneforge-{job.id}" in m for m in logs)  # started as that Ray submission
        assert any("rank 0 of 2" in m for m in logs)
        result = job_result(done)
        assert result.global_step == 4  # 16 chats, 2 ranks x 4 per device = 8 per step, 2 epochs
        assert result.registration.state == trainer_pb2.Registration.STATE_REGISTERED
        assert c.registry.get_adapter(name="on-ray").job_id == job.id
    final = srv.config.root / "adapters" / "on-ray" / "final"
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm_dir), final)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    # only rank 0 reported: one metrics series, one progress line per step
    steps = [json.loads(line)["data"].get("step") for line in (srv.config.root / "jobs" / job.id / "events.jsonl")
             .read_text().splitlines() if json.loads(line)["type"] == "metrics"]  # fmt: skip
    assert len(steps) == len(set(steps))


def test_a_lost_worker_node_resumes_from_the_latest_checkpoint_and_the_events_say_so(
        server_factory, ray_cluster, tiny_lm_dir, tmp_path):  # fmt: skip
    srv = ray_server(server_factory, tmp_path / "var", ray_cluster)
    try:
        with Client(srv.target, timeout=60) as c:
            make_dataset(c, tmp_path, "learn", 32)
            job = c.trainer.create_training_job(  # 2 ranks x 2 per device: 8 steps per epoch, 240 in all (~40 s)
                dataset="learn", base_model=str(tiny_lm_dir), preset="quick", adapter_name="survivor",
                config={**FAST, "batch_size": 2, "epochs": 30, "save_steps": 10, "learning_rate": 1e-3})  # fmt: skip
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                now = c.jobs.get_job(id=job.id)
                if now.last_checkpoint or now.state not in (Job.STATE_QUEUED, Job.STATE_RUNNING):
                    break
                time.sleep(0.5)
            assert now.state == Job.STATE_RUNNING and now.last_checkpoint, now.error_message
            time.sleep(2.5)  # a tick of the driver: the checkpoint reached Ray Train
            ray_cluster.kill_worker(1)  # the node's raylet and everything under it, SIGKILL
            ray_cluster.start_worker(1)  # a node comes back: Ray Train restarts the worker group
            done = c.wait_job(job.id)
            logs = logs_of(c, job.id)
            assert done.state == Job.STATE_SUCCEEDED, (done.error_message, logs[-30:])
            restart = [m for m in logs if "worker group restarted after a failure" in m]
            assert restart and "resuming from the latest checkpoint" in restart[0], logs[-40:]
            assert any("resuming from" in m and "checkpoint-" in m for m in logs if not m.startswith("ray:"))
            assert job_result(done).global_step == 240
            assert job_result(done).registration.state == trainer_pb2.Registration.STATE_REGISTERED
        assert (srv.config.root / "adapters" / "survivor" / "final" / "adapter_model.safetensors").is_file()
    finally:
        ray_cluster.wait_workers(2)


def test_two_ray_workers_with_half_the_batch_train_the_same_steps_as_one(
        server_factory, ray_cluster, tiny_lm_dir, tmp_path):  # fmt: skip
    series = {}
    for workers, batch in ((1, 4), (2, 2)):
        srv = ray_server(server_factory, tmp_path / f"var{workers}", ray_cluster, workers=workers)
        with Client(srv.target, timeout=60) as c:
            make_dataset(c, tmp_path, "learn", 16)
            job = c.trainer.create_training_job(
                dataset="learn", base_model=str(tiny_lm_dir), preset="quick", adapter_name=f"w{workers}",
                config={**FAST, "batch_size": batch, "lora_dropout": 0.0, "epochs": 2})  # fmt: skip
            done = c.wait_job(job.id)
            assert done.state == Job.STATE_SUCCEEDED, done.error_message
            series[workers] = losses(c, job.id)
    one, two = series[1], series[2]
    assert sorted(one) == sorted(two) == list(range(1, 9))  # the same 8 optimizer steps
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=0.02, abs=0.02), (step, one, two)
    assert two[8] < two[1] - 0.3  # and it learned
