"""Faults short of a crash: a storage error or a bug in supervision ends the job (it never
hangs RUNNING), frees the GPU for the next job and keeps the event log readable; a stop
that lands before the worker's pid is known still stops it; finished jobs keep no ring."""

from __future__ import annotations

import pytest

import asyncio
import errno
import os
import sys
import threading
import time
from pathlib import Path

from tuneforge.client import Client
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.executors import pid_alive
from tuneforge.runtime.jobs import JobKind

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job
ENDED = {State.STATE_SUCCEEDED, State.STATE_FAILED, State.STATE_CANCELLED}


def add_kind(srv, name="test", gpu=False):
    srv.engine.register_kind(JobKind(
        name=name, service="dataset", gpu=gpu,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))  # fmt: skip


def create(srv, params, kind="test"):
    return srv.call(srv.engine.create(kind, params))


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_ended(client, job_id, timeout=30.0):
    return wait_for(lambda: (j := client.jobs.get_job(id=job_id)).state in ENDED and j, timeout, f"{job_id} to end")


def fail_appends(srv, job_id, exc_for, after_step=2):
    """From the worker's step ``after_step`` on, every event of ``job_id`` fails to be stored."""
    events = srv.engine.events
    original = events.append
    tripped = threading.Event()

    def append(job, type_, data):
        if job.id == job_id and (tripped.is_set() or (type_ == "progress" and data.get("step", 0) >= after_step)):
            tripped.set()
            raise exc_for(job)
        return original(job, type_, data)

    events.append = append
    return tripped


def disk_full(job):
    return OSError(errno.ENOSPC, "No space left on device", str(job.job_dir / "events.jsonl"))


def test_a_full_disk_during_a_job_fails_it_with_disk_full_and_the_next_job_runs(server, client):
    add_kind(server, "gpu-test", gpu=True)
    first = create(server, {"steps": 400, "sleep": 0.05}, "gpu-test")
    second = create(server, {"steps": 2}, "gpu-test")
    fail_appends(server, first.id, disk_full)
    ended = wait_ended(client, first.id)
    assert ended.state == State.STATE_FAILED
    assert ended.error_reason == "DISK_FULL"
    assert "events.jsonl" in ended.error_message and "free" in ended.error_message
    assert wait_ended(client, second.id).state == State.STATE_SUCCEEDED


def test_a_job_failed_by_a_supervision_fault_has_its_worker_stopped(server, client):
    add_kind(server)
    job = create(server, {"steps": 400, "sleep": 0.05})
    fail_appends(server, job.id, lambda job: RuntimeError("boom"))
    ended = wait_ended(client, job.id)
    assert (ended.state, ended.error_reason) == (State.STATE_FAILED, "SUPERVISION_FAILED")
    assert "boom" in ended.error_message
    pid = int(next(line for line in (Path(server.engine.get(job.id).job_dir) / "events.jsonl").read_text().splitlines()
                   if "worker started (pid" in line).split("pid ")[1].split(")")[0])  # fmt: skip
    wait_for(lambda: not pid_alive(pid, None), 15, "the worker to be stopped")


def test_watchers_end_when_the_final_event_cannot_be_written(server, client, monkeypatch):
    from tuneforge.runtime.jobs import events as events_module

    add_kind(server)
    job = create(server, {"steps": 3, "sleep": 0.05})
    path = str(server.engine.get(job.id).job_dir / "events.jsonl")

    def refuse(target, text):
        if str(target) == path and ('"state": "SUCCEEDED"' in text or '"state": "FAILED"' in text):
            raise OSError(errno.ENOSPC, "No space left on device", path)

    real_open, real_append_line = events_module.open if hasattr(events_module, "open") else open, getattr(events_module, "append_line", None)

    class _Refusing:
        def __init__(self, fh, target):
            self.fh, self.target = fh, target

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            refuse(self.target, text)
            return self.fh.write(text)

    def fake_open(target, mode="r", *args, **kwargs):
        fh = real_open(target, mode, *args, **kwargs)
        return _Refusing(fh, target) if "a" in mode else fh

    def fake_append_line(target, text):
        refuse(target, text)
        return real_append_line(target, text)

    monkeypatch.setattr(events_module, "open", fake_open, raising=False)
    if real_append_line is not None:
        monkeypatch.setattr(events_module, "append_line", fake_append_line)
    got: list[int] = []
    watcher = threading.Thread(target=lambda: got.extend(e.seq for e in client.watch_job(job.id, include_logs=True)))
    watcher.start()
    watcher.join(30)
    assert not watcher.is_alive(), "a watcher hung on an event that was never written"
    stored = [int(line.split('"seq": ')[1].split(",")[0]) for line in Path(path).read_text().splitlines()]
    assert server.engine.get(job.id).last_seq == max(stored), "last_seq counts an event the log does not have"
    assert server.engine.get(job.id).terminal


def test_a_stop_that_lands_before_the_worker_pid_is_recorded_still_stops_it(server, client):
    add_kind(server)
    local = server.engine.executors["local"]
    original = local.start

    async def slow_start(*args, **kwargs):
        await asyncio.sleep(1.0)
        return await original(*args, **kwargs)

    local.start = slow_start
    job = create(server, {"steps": 200, "sleep": 0.05})
    wait_for(lambda: client.jobs.get_job(id=job.id).state == State.STATE_RUNNING, what="RUNNING")
    assert server.engine.get(job.id).pid is None
    client.jobs.cancel_job(id=job.id)
    ended = wait_ended(client, job.id, timeout=60)
    assert ended.state == State.STATE_CANCELLED
    assert ended.progress.step < 100, f"the worker ran on to step {ended.progress.step} after the stop"


def test_finished_jobs_keep_no_event_ring_and_replay_from_the_log(server, client):
    add_kind(server)
    jobs = [create(server, {"steps": 3}) for _ in range(3)]
    for job in jobs:
        wait_ended(client, job.id)
    wait_for(lambda: not set(server.engine.events._channels) & {j.id for j in jobs}, 10, "rings to be released")
    logs = [line for line in client.jobs.stream_job_logs(id=jobs[0].id)]
    assert [m.message for m in logs if m.message.startswith("step ")] == ["step 1", "step 2", "step 3"]
    middle = logs[len(logs) // 2].seq
    assert [line.seq for line in client.jobs.stream_job_logs(id=jobs[0].id, after_seq=middle)] == [
        line.seq for line in logs if line.seq > middle
    ]
    list(client.watch_job(jobs[1].id))
    assert jobs[1].id not in server.engine.events._channels, "watching a finished job made a ring for it"


def test_worker_reports_a_full_disk_as_disk_full(tmp_path, monkeypatch):
    import json
    import subprocess

    script = tmp_path / "w.py"
    script.write_text(
        "import errno\nfrom tuneforge.runtime import worker_events as ev\n"
        "def main(spec):\n    raise OSError(errno.ENOSPC, 'No space left on device', '/data/ckpt')\n"
        "ev.run_main(main)\n"
    )
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    out = subprocess.run([sys.executable, str(script), "--spec", str(spec)], capture_output=True, text=True,
                         env={**os.environ}, timeout=60)  # fmt: skip
    errors = [json.loads(line) for line in out.stdout.splitlines() if '"event": "error"' in line]
    assert out.returncode == 1 and errors[-1]["reason"] == "DISK_FULL"
    assert "/data/ckpt" in errors[-1]["message"]



class UnwritableLog:
    """A logger whose lines fail, while ``full`` is set, as stderr on a full disk does."""

    def __init__(self, log):
        self.log = log
        self.full = threading.Event()

    def __getattr__(self, name):
        def write(*args, **kwargs):
            if self.full.is_set():
                raise OSError(errno.ENOSPC, "No space left on device")
            return getattr(self.log, name)(*args, **kwargs)

        return write


def test_a_log_that_cannot_be_written_never_keeps_the_gpu_from_the_next_job(server, client, monkeypatch):
    """A full disk under the events and under the log at once: the first job still ends
    DISK_FULL with its worker stopped, and once space is back the next GPU job runs;
    repeated, as the race was intermittent."""
    from tuneforge.runtime.jobs import engine, store, supervisor

    add_kind(server, "gpu-test", gpu=True)
    log = UnwritableLog(supervisor.log)
    monkeypatch.setattr(supervisor, "log", log)
    monkeypatch.setattr(engine, "log", log)
    claim = store.JobStore.claim_start

    def claim_start(self, job_id):  # the database is on the full disk too
        if log.full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return claim(self, job_id)

    monkeypatch.setattr(store.JobStore, "claim_start", claim_start)
    events = server.engine.events
    for _ in range(3):
        first = create(server, {"steps": 400, "sleep": 0.02}, "gpu-test")
        second = create(server, {"steps": 2}, "gpu-test")
        wait_for(lambda: server.engine.get(first.id).pid, what="the first worker")
        log.full.set()
        fail_appends(server, first.id, disk_full)
        ended = wait_ended(client, first.id)
        assert (ended.state, ended.error_reason) == (State.STATE_FAILED, "DISK_FULL"), ended
        log.full.clear()  # space is back
        del events.append  # the class's own again
        done = wait_ended(client, second.id)
        assert done.state == State.STATE_SUCCEEDED, "the GPU lock was never released"
        assert server.engine.get(first.id).state == "FAILED"


def test_a_supervision_that_died_is_taken_up_again_and_the_queue_goes_on(server, client):
    """The dispatcher's safety net: a job whose supervision task is gone (here: cancelled
    under it) is re-attached to its worker, ends, and frees the GPU for the next job."""
    add_kind(server, "gpu-test", gpu=True)
    first = create(server, {"steps": 30, "sleep": 0.05}, "gpu-test")
    second = create(server, {"steps": 2}, "gpu-test")
    wait_for(lambda: client.jobs.get_job(id=first.id).progress.step >= 2, what="step 2")
    server.loop.call_soon_threadsafe(server.engine.supervisor.running[first.id].cancel)
    assert wait_ended(client, first.id).state == State.STATE_SUCCEEDED
    assert wait_ended(client, second.id).state == State.STATE_SUCCEEDED
