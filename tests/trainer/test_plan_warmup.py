"""The wall-time estimate of ``PlanTraining``: a short warm-up job times real batches.

On these CPUs the warm-up runs only on request (WARMUP_RUN), which is what lets the tests run
the same code a GPU server runs by default. The estimate is checked for what can be checked
exactly: the job's step count against a real training job's, the arithmetic, the job's
bookkeeping (kind warmup, scratch removed, cancelled at the deadline). How close the seconds
come to a real run is measured in bench/plan_walltime.py, not asserted here.
"""

from __future__ import annotations

import pytest
from test_trainer_cli import cli
from trainer_helpers import FAST_TYPED as FAST
from trainer_helpers import make_dataset
from tuneforge.client import InvalidArgument, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.services.trainer.warmup_jobs import for_processes
from tuneforge.services.trainer.warmup_worker import batch_cost, expected_padded_tokens, timing, total_steps

Job = common_pb2.Job
RUN, SKIP = "WARMUP_RUN", "WARMUP_SKIP"
SLOW = 180  # model inspection plus a worker that loads torch and the model, on a busy CPU
# 2 epochs of 18 records (20 less the held-out 2) in batches of 4 with accumulation 2:
# 5 batches per epoch -> 3 optimizer steps per epoch (the last one short) -> 6 steps
CONFIG = {**FAST, "batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 2,
          "validation_split": 0.1}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def _plan(client, tiny, **kw):
    return client.trainer.plan_training(dataset="chats", base_model=str(tiny),
                                        config={**CONFIG, **kw.pop("config", {})},
                                        timeout=kw.pop("timeout", SLOW), **kw)


def _warmup_jobs(client):
    return [j for j in client.jobs.list_jobs(service="trainer").jobs if j.kind == "warmup"]


def test_total_steps_round_up_per_epoch_as_the_trainer_does():
    assert total_steps(5, 2, 2) == 6
    assert total_steps(4, 2, 1.5) == 3
    assert total_steps(1, 8, 3) == 3


def test_timing_leaves_out_the_first_batch_and_takes_updates_out_of_the_batches_they_follow():
    # batches end at 10, 10.5, 11.5, 12; updates of 0.5 s (the first, allocating the
    # optimizer's state, left out) and 0.25 s follow batches 1 and 3
    t = timing([10.0, 10.5, 11.5, 12.0], [(1, 0.5), (3, 0.25)], began=0.0, tokens=[9, 100, 400, 100])
    assert t == {"seconds_per_batch": pytest.approx((0.0 + 1.0 + 0.25) / 3), "timed_batches": 3,
                 "optimizer_seconds": 0.25, "samples": [(100, 0.0), (400, 1.0), (100, 0.25)]}


def test_timing_of_a_warmup_without_updates_counts_none():
    t = timing([1.0, 2.0, 3.0], [], began=0.0)
    assert (t["seconds_per_batch"], t["timed_batches"], t["optimizer_seconds"], t["samples"]) == (1.0, 2, 0.0, [])


def test_a_batch_costs_a_fixed_part_and_a_part_per_padded_token():
    samples = [(100, 0.3), (200, 0.5), (400, 0.9), (800, 1.7)]  # 0.1 s + 2 ms a token
    fixed, per_token = batch_cost(samples)
    assert fixed == pytest.approx(0.1) and per_token == pytest.approx(0.002)


def test_batches_of_one_size_or_a_negative_fit_cost_per_token_only():
    assert batch_cost([(100, 0.2)] * 5) == (0.0, pytest.approx(0.002))
    assert batch_cost([(100, 0.5), (200, 0.2), (300, 0.2), (400, 0.1)])[0] == 0.0


def test_a_batch_pads_to_its_longest_record_so_long_tails_cost_more_than_their_sum():
    assert expected_padded_tokens([10] * 8, batch=4, epochs=2, seed=0) == 160
    assert expected_padded_tokens([100], batch=4, epochs=1.5, seed=0) == 150  # a short last batch
    lengths = [10] * 7 + [100]  # one long record pads its whole batch
    assert expected_padded_tokens(lengths, batch=4, epochs=1, seed=0) == 4 * 10 + 4 * 100


def test_a_data_parallel_job_shares_the_timed_steps_among_its_processes():
    one = trainer_pb2.TimeEstimate(measured=True, total_steps=101, total_batches=202, seconds_per_batch=0.25,
                                   optimizer_seconds=0.1, load_seconds=10, note="n")
    four = for_processes(one, 4)
    assert (four.total_steps, four.total_batches) == (26, 51)
    assert four.estimated_seconds == pytest.approx(10 + 51 * 0.25 + 26 * 0.1)
    assert "4 data-parallel processes" in four.note


def test_plan_on_a_cpu_does_not_warm_up_unless_asked_and_says_how(client, tiny_lm_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("on a GPU the warm-up runs by default")
    make_dataset(client, tmp_path, "chats", 20)
    plan = _plan(client, tiny_lm_dir)
    assert not plan.time.measured and "--warmup" in plan.time.note
    assert "skipped" in _plan(client, tiny_lm_dir, warmup=SKIP).time.note
    assert not _warmup_jobs(client)


def test_warmup_times_real_batches_and_counts_the_jobs_steps_as_training_does(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    t = _plan(client, tiny_lm_dir, warmup=RUN, warmup_batches=5).time
    assert t.measured, t.note
    assert (t.warmup_batches, t.timed_batches, t.device, t.total_batches) == (5, 4, "cpu", 10)
    assert t.seconds_per_batch > 0 and t.optimizer_seconds > 0 and t.load_seconds > 0
    assert t.seconds_per_step == pytest.approx(2 * t.seconds_per_batch + t.optimizer_seconds)
    assert t.estimated_seconds == pytest.approx(
        t.load_seconds + t.total_batches * t.seconds_per_batch + t.total_steps * t.optimizer_seconds)
    assert t.measured_peak_bytes > 0 and t.tokens_per_second > 0 and "padded tokens" in t.note
    warmup = client.jobs.get_job(id=t.job_id)
    assert warmup.kind == "warmup" and warmup.state == Job.STATE_SUCCEEDED
    job = client.trainer.create_training_job(dataset="chats", base_model=str(tiny_lm_dir),
                                             adapter_name="timed", register=False,
                                             config=CONFIG, timeout=SLOW)
    done = client.wait_job(job.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    assert t.total_steps == job_result(done).max_steps == 6


def test_warmup_leaves_nothing_behind_but_its_job_record(client, server, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    t = _plan(client, tiny_lm_dir, warmup=RUN, warmup_batches=2).time
    assert t.measured, t.note
    job_dir = server.config.root / "jobs" / t.job_id
    assert not (job_dir / "scratch").exists()
    assert not (server.config.root / "adapters").exists() or not any((server.config.root / "adapters").iterdir())


def test_warmup_still_running_at_the_deadline_is_cancelled_and_the_plan_says_so(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    _plan(client, tiny_lm_dir, warmup=SKIP)  # the model inspection is cached from here on
    plan = _plan(client, tiny_lm_dir, warmup=RUN, warmup_batches=256, timeout=5)
    assert plan.fits and not plan.time.measured
    assert "deadline" in plan.time.note and plan.time.job_id in plan.time.note
    assert client.wait_job(plan.time.job_id).state == Job.STATE_CANCELLED


def test_warmup_that_fails_reports_why_in_the_plan(client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    plan = _plan(client, tiny_lm_dir, warmup=RUN, config={"max_seq_length": 16})
    assert not plan.time.measured and "FAILED" in plan.time.note
    assert "EMPTY_ASSISTANT_MASK" in plan.time.note and "raise max_seq_length" in plan.time.note


def test_warmup_is_not_run_for_a_job_that_would_be_refused(client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    plan = _plan(client, tiny_lm_dir, warmup=RUN, config={"batch_size": 2_000_000})
    assert not plan.fits and "INSUFFICIENT_MEMORY" in plan.time.note
    assert not _warmup_jobs(client)


def test_warmup_batches_out_of_range_are_refused_naming_the_field(client, tiny_lm_dir, tmp_path):
    with pytest.raises(InvalidArgument) as info:
        _plan(client, tiny_lm_dir, warmup=RUN, warmup_batches=257)
    assert info.value.field_violations[0].field == "warmup_batches"


def test_a_warmup_shorter_than_one_accumulated_step_says_updates_are_not_included(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    t = _plan(client, tiny_lm_dir, warmup=RUN, warmup_batches=3,
              config={"batch_size": 1, "gradient_accumulation_steps": 8}).time
    assert t.measured and t.optimizer_seconds == 0 and t.timed_batches == 2
    assert "no optimizer update fell inside the warm-up" in t.note
    assert t.total_steps == 6 and t.total_batches == 36  # 18 records a batch each, 2 epochs


def test_cli_plan_with_warmup_prints_the_estimated_wall_time(server, client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 20)
    sets = [a for k, v in {"max_seq_length": 64, "epochs": 2}.items() for a in ("--set", f"{k}={v}")]
    run = cli(server.target, "plan", "--dataset", "chats", "--base-model", str(tiny_lm_dir),
              "--warmup", "--warmup-batches", "2", *sets)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "time: about" in run.stdout and "batches x" in run.stdout and "on cpu" in run.stdout
    assert trainer_pb2.TimeEstimate.DESCRIPTOR.fields_by_name["estimated_seconds"]
