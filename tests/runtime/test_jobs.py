"""The job engine, driven through gRPC with a real subprocess worker."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.store_backends

from tuneforge.client import Client, FailedPrecondition, InvalidArgument, NotFound, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import JobKind
from tuneforge.tts.v1 import tts_pb2

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job
# The test worker reports {"steps": N, "stopped": bool}: the fields of a TTS training result.
TEST_RESULT = tts_pb2.TtsTrainingJobResult


def add_test_kind(srv, name="test", gpu=False, service="dataset"):
    srv.engine.register_kind(JobKind(
        name=name, service=service, gpu=gpu,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
        result_type=TEST_RESULT,
    ))


def create(srv, params, kind="test"):
    return srv.call(srv.engine.create(kind, params))


def wait_state(client, job_id, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.jobs.get_job(id=job_id)
        if job.state in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}; last {job}")


def test_job_runs_queued_running_succeeded_with_progress_metrics_and_logs(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 4, "print_noise": True})
    assert job.state == "QUEUED"
    events = list(client.watch_job(job.id, include_logs=True))
    states = [State.State.Name(e.job.state) for e in events if e.WhichOneof("kind") == "job"]
    assert states[0] == "STATE_QUEUED" and "STATE_RUNNING" in states and states[-1] == "STATE_SUCCEEDED"
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    progress = [e.progress for e in events if e.WhichOneof("kind") == "progress"]
    assert progress[-1].step == 4 and progress[-1].percent == 100.0
    metrics = [e.metrics for e in events if e.WhichOneof("kind") == "metrics"]
    assert [m.step for m in metrics] == [1, 2, 3, 4] and metrics[-1].loss == pytest.approx(0.25)
    logs = [e.log.message for e in events if e.WhichOneof("kind") == "log"]
    assert "step 3" in logs and "plain stdout line" in logs and "plain stderr line" in logs
    final = client.jobs.get_job(id=job.id)
    assert job_result(final).steps == 4
    assert final.last_checkpoint.endswith("checkpoint-4")
    assert final.metrics.loss == pytest.approx(0.25)


def test_failed_worker_reports_its_reason(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 5, "fail_at": 2})
    final = client.wait_job(job.id)
    assert final.state == State.STATE_FAILED
    assert final.error_reason == "TEST_FAILURE"
    assert "step 2" in final.error_message


def test_nonzero_exit_without_error_event_fails_with_exit_code(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 1, "exit_code": 3})
    final = client.wait_job(job.id)
    assert final.state == State.STATE_FAILED
    assert final.error_reason == "WORKER_EXITED" and "code 3" in final.error_message


def test_worker_killed_with_sigkill_fails_with_reason_and_last_checkpoint(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 200, "sleep": 0.05})
    # wait for the second checkpoint, then kill -9 the worker itself
    deadline = time.time() + 30
    while not client.jobs.get_job(id=job.id).last_checkpoint and time.time() < deadline:
        time.sleep(0.05)
    pid = server.engine.get(job.id).pid
    os.kill(pid, signal.SIGKILL)
    final = client.wait_job(job.id)
    assert final.state == State.STATE_FAILED
    assert final.error_reason == "WORKER_KILLED"
    assert "SIGKILL" in final.error_message and "resumable" in final.error_message
    assert final.last_checkpoint


def test_cancel_is_graceful_and_keeps_the_checkpoint(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 400, "sleep": 0.05})
    wait_state(client, job.id, {State.STATE_RUNNING})
    time.sleep(0.5)
    client.jobs.cancel_job(id=job.id)
    final = client.wait_job(job.id)
    assert final.state == State.STATE_CANCELLED
    assert final.error_reason == ""
    assert final.last_checkpoint.rsplit("-", 1)[1].isdigit()
    logs = [line.message for line in client.jobs.stream_job_logs(id=job.id)]
    assert any(m.startswith("stopped at step") for m in logs)
    with pytest.raises(FailedPrecondition) as err:
        client.jobs.cancel_job(id=job.id)
    assert err.value.reason == "JOB_FINISHED"


def test_cancel_of_a_queued_job_never_starts_it(server, client):
    add_test_kind(server, name="gpu-test", gpu=True)
    first = create(server, {"steps": 100, "sleep": 0.05}, kind="gpu-test")
    second = create(server, {"steps": 1}, kind="gpu-test")
    wait_state(client, first.id, {State.STATE_RUNNING})
    queued = client.jobs.get_job(id=second.id)
    assert queued.state == State.STATE_QUEUED and queued.queue_position == 1
    cancelled = client.jobs.cancel_job(id=second.id)
    assert cancelled.state == State.STATE_CANCELLED
    client.jobs.cancel_job(id=first.id)
    assert client.wait_job(first.id).state == State.STATE_CANCELLED
    assert not (server.engine.get(second.id).job_dir / "worker.out").exists()


def test_gpu_lock_runs_gpu_jobs_one_at_a_time_in_order(server, client):
    add_test_kind(server, name="gpu-test", gpu=True)
    jobs = [create(server, {"steps": 3, "sleep": 0.1}, kind="gpu-test") for _ in range(3)]
    for job in jobs:
        client.wait_job(job.id)
    spans = [(server.engine.get(j.id).start_time, server.engine.get(j.id).end_time) for j in jobs]
    assert all(s[0] is not None for s in spans)
    for (s1, e1), (s2, _e2) in zip(spans, spans[1:]):
        assert s2 >= e1 - 0.05, "GPU jobs overlapped"


def test_logs_replay_from_after_seq_and_several_watchers_follow_live(server, client):
    add_test_kind(server)
    job = create(server, {"steps": 12, "sleep": 0.1})
    seen: dict[int, list[int]] = {}

    def watch(i):
        with Client(server.target) as c:
            seen[i] = [line.seq for line in c.jobs.stream_job_logs(id=job.id, follow=True)]

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2] and len(seen[0]) >= 12
    middle = seen[0][len(seen[0]) // 2]
    replay = [line.seq for line in client.jobs.stream_job_logs(id=job.id, after_seq=middle)]
    assert replay == [s for s in seen[0] if s > middle]


def test_server_restart_mid_job_reattaches_and_loses_nothing(server_factory, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root)
    add_test_kind(srv)
    job = create(srv, {"steps": 30, "sleep": 0.1})
    with Client(srv.target) as c:
        wait_state(c, job.id, {State.STATE_RUNNING})
        time.sleep(0.6)
    srv.stop()  # the worker keeps running while no service watches it
    time.sleep(0.8)
    srv2 = server_factory(root)
    add_test_kind(srv2)
    with Client(srv2.target) as c:
        final = c.wait_job(job.id)
        assert final.state == State.STATE_SUCCEEDED, final
        logs = [line.message for line in c.jobs.stream_job_logs(id=job.id)]
        steps = [int(m.split()[1]) for m in logs if m.startswith("step ")]
        assert steps == list(range(1, 31)), "a log line was lost or duplicated across the restart"
        assert any("re-attached" in m for m in logs)
        seqs = [e.seq for e in c.watch_job(job.id, include_logs=True)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_job_whose_worker_died_while_the_service_was_down_ends_failed(server_factory, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root)
    add_test_kind(srv)
    job = create(srv, {"steps": 300, "sleep": 0.05})
    with Client(srv.target) as c:
        deadline = time.time() + 30
        while not c.jobs.get_job(id=job.id).last_checkpoint and time.time() < deadline:
            time.sleep(0.05)
    pid = srv.engine.get(job.id).pid
    srv.stop()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    srv2 = server_factory(root)
    add_test_kind(srv2)
    with Client(srv2.target) as c:
        final = wait_state(c, job.id, {State.STATE_FAILED, State.STATE_SUCCEEDED}, timeout=10)
        assert final.state == State.STATE_FAILED
        assert final.error_reason == "WORKER_LOST"
        assert "resumable" in final.error_message


def test_unknown_job_and_bad_job_requests(client):
    with pytest.raises(NotFound) as err:
        client.jobs.get_job(id="job-doesnotexist")
    assert err.value.reason == "JOB_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        client.jobs.get_job(id="../etc/passwd")
    with pytest.raises(NotFound):
        list(client.jobs.watch_job(id="job-nope"))
    with pytest.raises(InvalidArgument) as err:
        client.jobs.list_jobs(page_size=-1)
    assert err.value.field_violations[0].field == "page_size"
    with pytest.raises(InvalidArgument) as err:
        client.jobs.list_jobs(page_token="forged-token")
    assert err.value.reason == "INVALID_PAGE_TOKEN"


def test_list_jobs_pages_through_everything(server, client):
    add_test_kind(server)
    ids = {create(server, {"steps": 0}).id for _ in range(7)}
    listed = list(client.iter_pages(client.jobs.list_jobs, "jobs", page_size=3))
    assert {j.id for j in listed} == ids
    first = client.jobs.list_jobs(page_size=3)
    assert first.total_size == 7 and first.next_page_token
    with pytest.raises(InvalidArgument):
        client.jobs.list_jobs(service="trainer", page_token=first.next_page_token)  # another list's token


async def test_async_client_calls_streams_and_raises_typed_errors(server):
    from tuneforge.client import AsyncClient

    add_test_kind(server)
    job = create(server, {"steps": 2})
    async with AsyncClient(server.target) as c:
        assert (await c.jobs.list_jobs(page_size=10)).total_size == 1
        with pytest.raises(NotFound) as err:
            await c.jobs.get_job(id="job-000000000000")
        assert err.value.reason == "JOB_NOT_FOUND"
        with pytest.raises(AttributeError, match="RPCs: "):
            c.dataset.no_such_rpc  # noqa: B018
        states = [e.job.state async for e in c.jobs.watch_job(id=job.id) if e.WhichOneof("kind") == "job"]
    assert states[-1] == State.STATE_SUCCEEDED
