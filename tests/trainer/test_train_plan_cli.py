"""`tuneforge train plan` and `tuneforge train open-tensorboard` in subprocesses against a real
server."""

from __future__ import annotations

from test_trainer_cli import cli
from trainer_helpers import FAST_STRINGS as FAST
from trainer_helpers import make_dataset
from tuneforge.client import Client


def _sets(**extra: str) -> list[str]:
    return [a for k, v in {**FAST, **extra}.items() for a in ("--set", f"{k}={v}")]


def test_plan_prints_the_estimate_and_exits_0_when_it_fits(server, tiny_lm_dir, tmp_path):
    with Client(server.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 8)
    run = cli(server.target, "plan", "--dataset", "learn", "--base-model", str(tiny_lm_dir),
              *_sets(max_seq_length="1024"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "peak memory:" in run.stdout and "(longest record)" in run.stdout
    assert "-> fits" in run.stdout


def test_plan_of_a_job_that_cannot_fit_says_what_to_change_and_exits_1(server, tiny_lm_dir,
                                                                        tmp_path):
    with Client(server.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 8)
    run = cli(server.target, "plan", "--dataset", "learn", "--base-model", str(tiny_lm_dir),
              *_sets(batch_size="2000000"))
    assert run.returncode == 1
    assert "DOES NOT FIT" in run.stdout and "change: --set batch_size=1" in run.stdout


def test_open_tensorboard_prints_the_command_for_the_jobs_event_files(server, tiny_lm_dir,
                                                                      tmp_path):
    with Client(server.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 8)
        job = client.trainer.create_training_job(
            dataset="learn", base_model=str(tiny_lm_dir), adapter_name="tracked", register=False,
            config={"report_to": "tensorboard", "max_seq_length": 64})
        client.jobs.cancel_job(id=job.id)
        client.wait_job(job.id)
    run = cli(server.target, "open-tensorboard", job.id)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "tensorboard.main --logdir" in run.stdout
    assert str(server.config.root / "jobs" / job.id / "tensorboard") in run.stdout


def test_open_tensorboard_of_an_untracked_job_says_how_to_track(server, tiny_lm_dir, tmp_path):
    with Client(server.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 8)
        job = client.trainer.create_training_job(
            dataset="learn", base_model=str(tiny_lm_dir), adapter_name="plain", register=False,
            config={"max_seq_length": 64})
        client.jobs.cancel_job(id=job.id)
        client.wait_job(job.id)
    run = cli(server.target, "open-tensorboard", job.id)
    assert run.returncode != 0 and "report_to=tensorboard" in run.stderr
