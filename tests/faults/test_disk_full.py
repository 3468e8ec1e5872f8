"""A real server whose data root is a small tmpfs, filled to the last byte mid-job,
mid-upload and mid-import: jobs end FAILED with DISK_FULL (never hang RUNNING), RPCs answer
RESOURCE_EXHAUSTED, nothing half-written stays behind, and once space is back the queue
and the server go on."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import pytest

from tuneforge.client import Client, ResourceExhausted
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.jobs import JobKind

WORKER = Path(__file__).parent.parent / "runtime" / "worker_script.py"
State = common_pb2.Job
ENDED = {State.STATE_SUCCEEDED, State.STATE_FAILED, State.STATE_CANCELLED}


def start(server_factory, root):
    srv = server_factory(root, services=("dataset",))
    srv.engine.register_kind(JobKind(
        name="gpu-test", service="dataset", gpu=True,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))  # fmt: skip
    return srv


def wait(client, job_id, states, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.jobs.get_job(id=job_id)
        if job.state in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"{job_id} never reached {states}: {job}")


def test_a_disk_filled_mid_job_fails_it_with_disk_full_and_the_queue_goes_on(server_factory, small_root, filler):
    srv = start(server_factory, small_root)
    with Client(srv.target, timeout=30) as c:
        first = srv.call(srv.engine.create("gpu-test", {"steps": 2000, "sleep": 0.02}))
        second = srv.call(srv.engine.create("gpu-test", {"steps": 2}))
        deadline = time.time() + 30
        while c.jobs.get_job(id=first.id).progress.step < 5 and time.time() < deadline:
            time.sleep(0.05)
        filler.fill()
        ended = wait(c, first.id, ENDED)
        assert ended.state == State.STATE_FAILED, ended
        assert ended.error_reason == "DISK_FULL"
        assert "free of" in ended.error_message and str(small_root) in ended.error_message
        filler.free()
        assert wait(c, second.id, ENDED).state == State.STATE_SUCCEEDED
        stopped = srv.call(srv.engine.create("gpu-test", {"steps": 2000, "sleep": 0.02}))
        wait(c, stopped.id, {State.STATE_RUNNING})
        c.jobs.cancel_job(id=stopped.id)
        assert wait(c, stopped.id, ENDED).state == State.STATE_CANCELLED
        assert c.jobs.get_job(id=first.id).state == State.STATE_FAILED, "the end was not stored once space came back"
    lines = (small_root / "jobs" / first.id / "events.jsonl").read_text().splitlines()
    seqs = [json.loads(line)["seq"] for line in lines]  # every line whole
    assert seqs == sorted(set(seqs))


def test_an_upload_to_a_full_disk_is_resource_exhausted_and_leaves_nothing(server_factory, small_root, filler, tmp_path):
    srv = start(server_factory, small_root)
    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "q", "output": "a"}\n' * 20000)
    filler.fill(leave=64 * 1024)
    with Client(srv.target, timeout=30) as c:
        with pytest.raises(ResourceExhausted) as err:
            c.upload_file("dataset", data)
        assert err.value.reason == "DISK_FULL"
        filler.free()
        assert c.dataset.list_datasets().total_size == 0  # still serving
    assert [p.name for p in (small_root / "uploads").iterdir()] == []


def test_an_import_that_fills_the_disk_is_resource_exhausted_and_frees_its_upload(server_factory, small_root, filler, tmp_path):
    srv = start(server_factory, small_root)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"question {i}", "output": "answer " * 20}) + "\n" for i in range(4000)))
    with Client(srv.target, timeout=60) as c:
        upload = c.upload_file("dataset", data)
        filler.fill(leave=128 * 1024)
        with pytest.raises(ResourceExhausted) as err:
            c.dataset.import_dataset(upload_id=upload.id, dataset_name="full")
        assert err.value.reason == "DISK_FULL"
        filler.free()
        assert c.dataset.list_datasets().total_size == 0
    assert not (small_root / "uploads" / upload.id).exists(), "the failed import kept its upload"
    assert not list((small_root / "datasets").glob("*full*"))


def test_a_disk_full_rpc_reports_the_data_roots_filesystem_not_the_working_directorys(server_factory, small_root, filler, tmp_path):
    srv = start(server_factory, small_root)
    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "q", "output": "a"}\n' * 20000)
    filler.fill(leave=64 * 1024)
    with Client(srv.target, timeout=30) as c:
        with pytest.raises(ResourceExhausted) as err:
            c.upload_file("dataset", data)  # the write fails with ENOSPC naming no file
    filler.free()
    assert err.value.reason == "DISK_FULL"
    assert err.value.metadata["free"].endswith("free of 24.0 MiB"), err.value.metadata  # the data root's tmpfs
    assert "free of 24.0 MiB" in err.value.message


@pytest.fixture
def log_on_small_root(small_root, monkeypatch):
    """The server's logs go to a file on the small data root's filesystem (stderr redirected
    there, as `tuneforge serve all 2>>$ROOT/server.log` or nohup would)."""
    import structlog

    from tuneforge.runtime.logging import configure_logging

    small_root.mkdir(parents=True, exist_ok=True)
    path = small_root.parent / "server.log"
    saved, handlers = structlog.get_config(), list(logging.getLogger().handlers)
    with open(path, "a", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        configure_logging("error")
        yield path
        structlog.configure(**saved)
        logging.getLogger().handlers[:] = handlers


def pad_to_page(path, page=4096):
    """Fill the log file's last page, so that its next line needs a new block."""
    with open(path, "ab") as fh:
        fh.write(b" " * ((-fh.tell()) % page))


def test_a_full_disk_under_the_log_stream_never_keeps_the_next_job_queued(server_factory, small_root, filler, log_on_small_root):
    """Repeats the scenario: the disk fills while a GPU job runs and a second one waits; the
    first ends DISK_FULL, and once space is back the second runs (it once stayed QUEUED: a
    log line that could not be written ended the first job's supervision with its GPU lock
    held)."""
    srv = start(server_factory, small_root)
    with Client(srv.target, timeout=30) as c:
        for _ in range(3):
            first = srv.call(srv.engine.create("gpu-test", {"steps": 2000, "sleep": 0.02}))
            second = srv.call(srv.engine.create("gpu-test", {"steps": 2}))
            wait(c, first.id, {State.STATE_RUNNING})
            pad_to_page(log_on_small_root)
            filler.fill()
            ended = wait(c, first.id, ENDED)
            assert (ended.state, ended.error_reason) == (State.STATE_FAILED, "DISK_FULL"), ended
            filler.free()
            assert wait(c, second.id, ENDED).state == State.STATE_SUCCEEDED
            assert wait(c, first.id, ENDED).state == State.STATE_FAILED
