"""Chat has bounds: at most ``chat_max_messages`` messages and ``chat_max_chars`` characters per
request (INVALID_ARGUMENT on ``messages``, before any job exists), and a chat job gives the GPU
back within seconds when its deadline passes or its caller hangs up — in every phase, not
only between generated tokens. Round 3 found 400,000 messages taking the chat worker past
13.9 GB, and a 20,000-message chat running ~170 s past its deadline under the GPU lock
because preparing the prompt ignored the stop signal.

The slow phase here is real work the worker cannot check a flag in: a copy of the tiny model
whose chat template loops for hours (a stand-in for a huge conversation's rendering and first
forward pass)."""

from __future__ import annotations

import fcntl
import shutil
import time
from pathlib import Path

import grpc
import pytest

from tuneforge.client import Client, InvalidArgument, TuneforgeClientError
from tuneforge.common.v1 import common_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc

Job = common_pb2.Job
ASK = {"role": "user", "content": "what about tree?"}
SECONDS_AFTER = 10.0  # the bound: the job is over this long after its deadline / hang-up
_SLOW = "{% for m in messages %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endfor %}"


@pytest.fixture
def chat_server(server_factory):
    srv = server_factory(stop_timeout_seconds=30)
    with Client(srv.target, timeout=60) as c:
        yield srv, c


@pytest.fixture
def slow_template_model(tiny_lm_dir, tmp_path) -> Path:
    """The tiny model with a chat template that renders for hours."""
    model = tmp_path / "slow-template"
    shutil.copytree(tiny_lm_dir, model)
    template = model / "chat_template.jinja"
    template.write_text(_SLOW + template.read_text())
    return model


def _chat_jobs(c: Client) -> list:
    return list(c.jobs.list_jobs(service="trainer", kind="chat").jobs)


def _until_ended(c: Client, seconds: float = 120.0):
    end = time.time() + seconds
    while time.time() < end:
        jobs = _chat_jobs(c)
        if jobs and all(j.state in (Job.STATE_SUCCEEDED, Job.STATE_FAILED, Job.STATE_CANCELLED) for j in jobs):
            return jobs[0]
        time.sleep(0.2)
    raise AssertionError(f"the chat job is still {[Job.State.Name(j.state) for j in _chat_jobs(c)]}")


def _gpu_lock_free(root: Path) -> bool:
    for path in (root / "locks").glob("gpu-*.lock"):  # the server holds its own locks/server-*.lock
        with open(path, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh, fcntl.LOCK_UN)
    return True


def test_more_messages_than_chat_max_messages_is_invalid_argument_on_messages(chat_server, tiny_lm_dir):
    _, c = chat_server
    messages = [{"role": "user", "content": "hi"}] * 512 + [ASK]
    with pytest.raises(InvalidArgument) as err:
        list(c.trainer.chat(base_model=str(tiny_lm_dir), messages=messages, timeout=60))
    assert err.value.reason == "CHAT_TOO_LONG" and err.value.field_violations[0].field == "messages"
    assert "512" in err.value.field_violations[0].description
    assert _chat_jobs(c) == []


def test_more_characters_than_chat_max_chars_is_invalid_argument_on_messages(chat_server, tiny_lm_dir):
    _, c = chat_server
    messages = [{"role": "user", "content": "x" * 200_000}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "y" * 70_000}]
    with pytest.raises(InvalidArgument) as err:
        list(c.trainer.chat(base_model=str(tiny_lm_dir), messages=messages, timeout=60))
    assert err.value.reason == "CHAT_TOO_LONG" and err.value.field_violations[0].field == "messages"
    assert _chat_jobs(c) == []


def test_a_conversation_past_the_models_context_is_invalid_argument_on_messages(chat_server, tiny_lm_dir):
    _, c = chat_server
    messages = [{"role": "user", "content": "hello there " * 1700}]  # ~7,000 tokens; the tiny model reads 2,048
    with pytest.raises(InvalidArgument) as err:
        list(c.trainer.chat(base_model=str(tiny_lm_dir), messages=messages, timeout=120))
    assert err.value.reason == "CHAT_TOO_LONG" and err.value.field_violations[0].field == "messages"
    assert "at most 2048" in err.value.field_violations[0].description


def test_the_issues_400000_messages_are_refused_before_any_job(chat_server, tiny_lm_dir):
    srv, c = chat_server
    request = trainer_pb2.ChatRequest(base_model=str(tiny_lm_dir), messages=[
        registry_pb2.ChatMessage(role="user", content="hi") for _ in range(400_000)])
    assert request.ByteSize() > 4_000_000
    with pytest.raises(InvalidArgument) as err:
        list(c.trainer.chat(request, timeout=60))
    assert err.value.field_violations[0].field == "messages" and _chat_jobs(c) == []


def test_a_chat_whose_deadline_passes_while_preparing_the_prompt_ends_within_seconds(chat_server, slow_template_model):
    srv, c = chat_server
    timeout = 40.0  # the tiny model loads in 3-20 s: the deadline passes while the template renders
    deadline = time.time() + timeout
    with pytest.raises(TuneforgeClientError) as err:
        list(c.trainer.chat(base_model=str(slow_template_model), messages=[ASK], timeout=timeout))
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    job = _until_ended(c)
    late = job.end_time.ToMicroseconds() / 1e6 - deadline
    print(f"chat job ended {late:.1f} s after its deadline ({Job.State.Name(job.state)} {job.error_reason},"
          f" in phase {job.progress.phase})")
    assert late < SECONDS_AFTER, late
    assert _gpu_lock_free(srv.config.root)


def test_a_caller_that_hangs_up_while_the_model_loads_cancels_the_job_within_seconds(chat_server, slow_template_model):
    srv, c = chat_server
    with grpc.insecure_channel(srv.target) as channel:
        call = trainer_pb2_grpc.TrainerServiceStub(channel).Chat(
            trainer_pb2.ChatRequest(base_model=str(slow_template_model), messages=[registry_pb2.ChatMessage(**ASK)]),
            timeout=600)
        first = next(call)
        assert first.WhichOneof("kind") == "job"
        end = time.time() + 120
        while c.jobs.get_job(id=first.job.id).progress.phase != "loading_model":
            assert time.time() < end, "the worker never started"
            time.sleep(0.2)
        hung_up = time.time()
        call.cancel()
    job = _until_ended(c)
    after = job.end_time.ToMicroseconds() / 1e6 - hung_up
    print(f"chat job ended {after:.1f} s after the caller hung up ({Job.State.Name(job.state)})")
    assert job.state == Job.STATE_CANCELLED and after < SECONDS_AFTER, (Job.State.Name(job.state), after)
    assert _gpu_lock_free(srv.config.root)
