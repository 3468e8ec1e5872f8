"""Evaluation/chat job specs, and relaying a real chat worker's pieces through the job engine."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.runtime.jobs import Job, JobEngine, JobKind
from tuneforge.runtime.store import Store
from tuneforge.services.trainer import eval_jobs

SLEEPER = Path(__file__).resolve().parents[1] / "runtime" / "worker_script.py"
HELLO = [{"role": "user", "content": "hello"}]


def _train_job(config: dict, validation_file: str = "", result: dict | None = None) -> Job:
    params = {"base_model": "/m", "train_file": "/d/data.jsonl", "validation_file": validation_file,
              "config": config, "adapter_name": "bob", "dataset_name": "chats"}
    return Job("job-1", "trainer", "train", "SUCCEEDED", params, 0.0,
               result=result or {"adapter_dir": "/a/bob/final",
                                 "registration": {"state": "REGISTERED", "version": 3}})


def test_training_with_a_validation_split_gets_evaluated_on_that_split():
    spec = eval_jobs.spec_after_training(_train_job({"validation_split": 0.1, "seed": 7}))
    assert spec["train_file"] == "/d/data.jsonl" and spec["validation_split"] == 0.1
    assert spec["seed"] == 7 and spec["adapter_version"] == 3 and spec["samples"] == 20


def test_training_without_held_out_data_is_not_evaluated():
    assert eval_jobs.spec_after_training(_train_job({"validation_split": 0})) is None
    assert eval_jobs.spec_after_training(_train_job({}, result={"stopped": True})) is None
    assert eval_jobs.spec_after_training(_train_job({}, "/d/validation.jsonl")) is not None


def test_preference_and_full_model_trainings_are_not_evaluated_by_themselves():
    assert eval_jobs.spec_after_training(_train_job({"validation_split": 0.1, "method": "dpo"})) is None
    full = {"adapter_dir": "/a/m/final", "artifact": "model"}
    assert eval_jobs.spec_after_training(_train_job({"validation_split": 0.1, "method": "full"}, result=full)) is None


def test_chat_spec_refuses_a_conversation_that_does_not_end_with_the_user():
    with pytest.raises(TuneforgeError) as info:
        eval_jobs.spec_chat(base_model="/m", adapter_dir=None, sides=["base"], deadline=0,
                            messages=[*HELLO, {"role": "assistant", "content": "hi"}])
    assert info.value.code == Code.INVALID_ARGUMENT and info.value.violations[0].field == "messages"


def test_chat_spec_refuses_bad_sampling_settings():
    with pytest.raises(TuneforgeError) as info:
        eval_jobs.spec_chat(base_model="/m", adapter_dir=None, sides=["base"], deadline=0,
                            messages=HELLO, temperature=-1)
    assert info.value.violations[0].field == "temperature"


def test_chat_deadline_is_the_callers_capped_or_a_default():
    assert eval_jobs.chat_deadline(10, now=100) == 110
    assert eval_jobs.chat_deadline(None, now=0) == eval_jobs.DEFAULT_CHAT_SECONDS
    assert eval_jobs.chat_deadline(1e9, now=0) == eval_jobs.MAX_CHAT_SECONDS


def _engine(tmp_path: Path) -> JobEngine:
    engine = JobEngine(Store(tmp_path / "state.db"), tmp_path, worker_python=sys.executable)
    engine.register_kind(JobKind(name="chat", service="trainer", gpu=True, command=lambda job: [
        sys.executable, "-m", "tuneforge.services.trainer.chat_worker", "--spec", str(job.spec_path)]))
    engine.register_kind(JobKind(name="block", service="trainer", gpu=True, command=lambda job: [
        sys.executable, str(SLEEPER), "--spec", str(job.spec_path)]))
    return engine


async def _collect(engine: JobEngine, job: Job, deadline: float) -> list:
    return [u async for u in eval_jobs.relay_chat(engine, job.id, deadline)]


def test_relay_streams_the_pieces_of_the_reply_as_the_worker_writes_them(tmp_path, tiny_model):
    async def run():
        engine = _engine(tmp_path)
        await engine.start()
        deadline = time.time() + 120
        spec = eval_jobs.spec_chat(base_model=str(tiny_model), adapter_dir=None, sides=["base"],
                                   messages=HELLO, deadline=deadline, max_new_tokens=8)
        job = await engine.create("chat", spec)
        try:
            return await _collect(engine, job, deadline)
        finally:
            await engine.close()

    updates = asyncio.run(run())
    pieces, final = updates[:-1], updates[-1]
    assert len(pieces) >= 2 and all(u.side == "base" for u in pieces)
    (reply,) = final.replies
    assert "".join(u.piece for u in pieces) == reply["text"]
    assert reply["tokens"] <= 8 and reply["finish_reason"] in ("stop", "length")


def test_a_chat_queued_past_its_deadline_behind_training_is_cancelled(tmp_path):
    async def run():
        engine = _engine(tmp_path)
        await engine.start()
        try:
            await engine.create("block", {"steps": 400, "sleep": 0.05})  # holds the GPU lock
            deadline = time.time() + 1
            spec = eval_jobs.spec_chat(base_model="/m", adapter_dir=None, sides=["base"],
                                       messages=HELLO, deadline=deadline)
            job = await engine.create("chat", spec)
            with pytest.raises(TuneforgeError) as info:
                await _collect(engine, job, deadline)
            return info.value, engine.get(job.id)
        finally:
            await engine.close(stop_workers=True)

    error, job = asyncio.run(run())
    assert error.code == Code.DEADLINE_EXCEEDED and "queued" in str(error)
    assert job.state == "CANCELLED"


def test_a_caller_that_leaves_mid_reply_cancels_the_chat_job(tmp_path, tiny_model):
    async def run():
        engine = _engine(tmp_path)
        await engine.start()
        try:
            deadline = time.time() + 120
            spec = eval_jobs.spec_chat(base_model=str(tiny_model), adapter_dir=None, sides=["base"],
                                       messages=HELLO, deadline=deadline, max_new_tokens=4000)
            job = await engine.create("chat", spec)
            updates = eval_jobs.relay_chat(engine, job.id, deadline)
            first = await updates.__anext__()
            await updates.aclose()  # what grpc does when the caller hangs up
            for _ in range(300):
                if engine.get(job.id).terminal:
                    break
                await asyncio.sleep(0.1)
            return first, engine.get(job.id)
        finally:
            await engine.close(stop_workers=True)

    first, job = asyncio.run(run())
    assert first.piece and job.cancel_requested and job.state == "CANCELLED"
