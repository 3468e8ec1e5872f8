"""Local torchrun (runtime/dist_launch.py): several processes on this host train like one.

The real launcher runs the real training worker under torchrun with gloo on CPU. With the same
global batch (1 process x batch 4 against 2 processes x batch 2) and the same seed, accelerate
gives each step the same records (process i takes the i-th half of the one-process batch), so
the logged losses match step by step within a small tolerance; only rank 0 speaks (one result,
one checkpoint event per save, other ranks' output in ``ranks/rank-<R>.log``); the adapter
loads in PEFT. A rank that fails ends the run with ``RANK_FAILED`` naming it and its last
lines; a stop reaches every rank and ends in a checkpoint; through the service a job with
``TUNEFORGE_TRAIN_NUM_PROCESSES=2`` registers an adapter.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trainer_helpers import FAST_CONFIG, learnable_records, of, parse_events, worker_env, write_jsonl

from tuneforge.runtime import dist_launch

TRAIN = "tuneforge.services.trainer.train_worker"
STEPS, GLOBAL_BATCH = 3, 4
LOSS_TOL = 2e-3  # rounding to 4 decimals plus gloo's summation order


def _env(tmp: Path) -> dict[str, str]:
    env = worker_env()
    env["PYTHONPATH"] = f"{Path(__file__).resolve().parent}{os.pathsep}{env['PYTHONPATH']}"
    return env


def _spec(tmp: Path, model: Path, name: str, batch: int, **extra) -> Path:
    train = tmp / "train.jsonl"
    if not train.exists():
        write_jsonl(train, learnable_records(GLOBAL_BATCH * STEPS, seed=3))
    cfg = {**FAST_CONFIG, "batch_size": batch, "lora_dropout": 0.0, "learning_rate": 5e-3, "seed": 7,
           "save_steps": 2}
    job_dir = tmp / name
    job_dir.mkdir(parents=True, exist_ok=True)
    spec = {"base_model": str(model), "train_file": str(train), "output_dir": str(tmp / f"{name}-out"),
            "config": cfg, "max_steps": STEPS, "logging_steps": 1, "job_dir": str(job_dir), **extra}
    path = job_dir / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _run(argv: list[str], tmp: Path, timeout: float = 300) -> tuple[int, list[dict], str]:
    proc = subprocess.run(argv, env=_env(tmp), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, parse_events(proc.stdout.splitlines()), proc.stdout + proc.stderr


def _losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in of(events, "metrics") if "loss" in e}


def test_two_processes_train_the_same_steps_as_one_and_only_rank_0_speaks(tiny_model, tmp_path):
    one = [sys.executable, "-m", TRAIN, "--spec", str(_spec(tmp_path, tiny_model, "one", GLOBAL_BATCH))]
    rc, single, out = _run(one, tmp_path)
    assert rc == 0, out[-3000:]
    two_spec = _spec(tmp_path, tiny_model, "two", GLOBAL_BATCH // 2)
    two = dist_launch.command([sys.executable, "-m", TRAIN, "--spec", str(two_spec)], processes=2)
    assert two[2] == dist_launch.MODULE
    rc, double, out = _run(two, tmp_path)
    assert rc == 0, out[-3000:]

    a, b = _losses(single), _losses(double)
    assert sorted(a) == sorted(b) == list(range(1, STEPS + 1)), (a, b)
    for step in a:
        assert math.isclose(a[step], b[step], abs_tol=LOSS_TOL), (step, a, b)
    # rank 0 speaks: one final result, each checkpoint reported once, the others' output elsewhere
    finals = [e for e in of(double, "result") if "adapter_dir" in e["data"]]
    assert len(finals) == 1 and finals[0]["data"]["global_step"] == STEPS
    steps = [e["step"] for e in of(double, "checkpoint")]
    assert steps == sorted(set(steps)) and steps, steps
    progress = [e for e in of(double, "progress") if e.get("phase") == "training" and e.get("step")]
    assert [e["step"] for e in progress][-1] == STEPS and all("eta_seconds" in e for e in progress)
    rank1 = (two_spec.parent / "ranks" / "rank-1.log").read_text()
    assert not parse_events(rank1.splitlines()), "rank 1 reported events"

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), finals[0]["data"]["adapter_dir"])
    assert any("lora_B" in n and float(p.abs().sum()) > 0 for n, p in model.named_parameters())


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_rank_fails_the_run_naming_the_rank_and_its_last_lines(how, tmp_path):
    spec = tmp_path / "job" / "spec.json"
    spec.parent.mkdir()
    spec.write_text(json.dumps({"shard": "s-17", "how": how}))
    argv = dist_launch.command([sys.executable, "-m", "rank_failing_worker", "--spec", str(spec)], processes=2,
                               shutdown_timeout=10)
    rc, events, out = _run(argv, tmp_path, timeout=120)
    assert rc == 1, out[-3000:]
    error = of(events, "error")[-1]
    assert error["reason"] == "RANK_FAILED", error
    assert error["message"].startswith("rank 1 of 2 "), error
    assert "shard s-17" in error["message"] or how == "kill", error
    assert "something is wrong with this shard" in error["message"], error
    if how == "raise":
        assert "ValueError: shard s-17 is corrupt" in error["message"], error
    else:
        assert "killed by SIGKILL" in error["message"], error
    assert not of(events, "result")


def test_a_stop_reaches_every_rank_and_ends_in_a_checkpoint(tiny_model, tmp_path):
    spec = _spec(tmp_path, tiny_model, "stop", 1, max_steps=200)
    argv = dist_launch.command([sys.executable, "-m", TRAIN, "--spec", str(spec)], processes=2)
    proc = subprocess.Popen(argv, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    events: list[dict] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        events += parse_events([line])
        if any(e["event"] == "progress" and (e.get("step") or 0) >= 2 for e in events[-1:]):
            break
        assert time.monotonic() < deadline, events[-5:]
    os.killpg(proc.pid, signal.SIGTERM)  # what LocalExecutor sends on a stop
    rest, err = proc.communicate(timeout=120)
    events += parse_events(rest.splitlines())
    assert proc.returncode == 0, err[-3000:]
    result = of(events, "result")[-1]["data"]
    assert result["stopped"] is True and result["checkpoint"], result
    assert Path(result["checkpoint"], "adapter_model.safetensors").exists()
    assert of(events, "checkpoint")[-1]["path"] == result["checkpoint"]


def test_the_settings_come_from_the_environment():
    from tuneforge.runtime.config import load_config
    from tuneforge.runtime.errors import TuneforgeError

    env = {"TUNEFORGE_TRAINING_EXECUTOR": "slurm", "TUNEFORGE_TRAIN_NUM_NODES": "2",
           "TUNEFORGE_TRAIN_NUM_PROCESSES": "2", "TUNEFORGE_SLURM_PARTITION": "gpu"}
    config, origin = load_config(environ=env)
    assert (config.training_executor, config.train_num_nodes, config.train_num_processes) == ("slurm", 2, 2)
    assert config.slurm_partition == "gpu" and origin["train_num_nodes"] == "env TUNEFORGE_TRAIN_NUM_NODES"
    for bad in ({"TUNEFORGE_TRAINING_EXECUTOR": "mpi"}, {"TUNEFORGE_TRAIN_NUM_NODES": "0"}):
        with pytest.raises(TuneforgeError) as err:
            load_config(environ=bad)
        assert err.value.violations[0].field in {"training_executor", "train_num_nodes"}


def test_a_job_through_the_service_trains_on_two_processes_and_registers_its_adapter(
        server_factory, tiny_model, tmp_path, monkeypatch):
    from trainer_helpers import FAST_TYPED, make_dataset
    from tuneforge.client import Client, job_result
    from tuneforge.common.v1 import common_pb2

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    server = server_factory(train_num_processes=2)
    with Client(server.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 16)
        job = client.trainer.create_training_job(
            dataset="learn", base_model=str(tiny_model), preset="quick", adapter_name="ddp",
            config={**FAST_TYPED, "batch_size": 2, "epochs": 1})
        done = client.wait_job(job.id)
        assert done.state == common_pb2.Job.STATE_SUCCEEDED, done.error_message
        adapter = client.registry.get_adapter(name="ddp")
        assert adapter.job_id == job.id
        result = job_result(done)
    started = (server.config.root / "jobs" / job.id / "events.jsonl").read_text()
    assert "tuneforge.runtime.dist_launch" in started and "--nproc-per-node 2" in started
    assert (server.config.root / "jobs" / job.id / "ranks" / "rank-1.log").exists()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), result.adapter_dir)
