"""Uploads leave nothing behind that nobody asked for: a retried upload (same ``request_id``)
is answered from the first one without storing its bytes again, a retry with other content is
refused, and a partial left by a server killed mid-upload is gone at the next start."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tuneforge.client import AlreadyExists, Client
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.runtime.transfer import sweep_partial_uploads

SIZE = 5 * 1024 * 1024


def stored_bytes(uploads: Path) -> tuple[int, int]:
    """(number of stored files, their bytes) under ``uploads/``, metadata files aside."""
    files = [p for p in uploads.rglob("*") if p.is_file() and p.name != "upload.json"]
    return len(files), sum(p.stat().st_size for p in files)


def test_three_retries_of_an_upload_with_one_request_id_store_one_copy(server, client, tmp_path):
    data = tmp_path / "big.jsonl"
    data.write_bytes(os.urandom(SIZE))
    answers = [client.upload_file("dataset", data, request_id="same-upload") for _ in range(3)]
    assert {a.id for a in answers} == {answers[0].id}
    assert {a.sha256 for a in answers} == {answers[0].sha256}
    assert stored_bytes(server.config.root / "uploads") == (1, SIZE)


def test_a_retry_with_the_same_request_id_and_other_content_is_refused(server, client, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b'{"text": "one"}\n')
    second.write_bytes(b'{"text": "two"}\n')
    client.upload_file("dataset", first, request_id="reused")
    with pytest.raises(AlreadyExists) as err:
        client.upload_file("dataset", second, request_id="reused")
    assert err.value.reason == "REQUEST_ID_REUSED"
    assert stored_bytes(server.config.root / "uploads") == (1, first.stat().st_size)


def test_a_partial_upload_left_by_a_killed_server_is_removed_at_start(server_factory, tmp_path):
    root = tmp_path / "var"
    partial = root / "uploads" / ".tmp-up-0123456789ab"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 1024)  # what a server killed mid-upload leaves (its writer is gone)
    srv = server_factory(root)
    assert not partial.exists()
    with Client(srv.target, timeout=30) as c:  # and uploads still work
        assert c.upload_file("dataset", Path(__file__), request_id="after").size_bytes > 0


SERVE = """
import sys, threading
from tuneforge.testing.server import ServerThread
srv = ServerThread(sys.argv[1], services=("dataset",)).start()
print("PORT", srv.port, flush=True)
threading.Event().wait()
"""


def test_a_partial_upload_of_a_server_killed_mid_upload_is_gone_after_the_next_start(server_factory, tmp_path):
    root = tmp_path / "var"
    child = subprocess.Popen([sys.executable, "-c", SERVE, str(root)], stdout=subprocess.PIPE, text=True)
    hold = threading.Event()
    try:
        port = next(int(line.split()[1]) for line in child.stdout if line.startswith("PORT "))

        def requests():
            yield dataset_pb2.UploadFileRequest(metadata=common_pb2.UploadMetadata(filename="half.jsonl"))
            yield dataset_pb2.UploadFileRequest(chunk=b'{"text": "first half"}\n' * 1000)
            hold.wait(60)  # the rest never comes: the server dies first

        c = Client(f"127.0.0.1:{port}", timeout=60)
        threading.Thread(target=lambda: _ignore_errors(c.dataset.upload_file, requests()), daemon=True).start()
        deadline = time.monotonic() + 30
        while not list((root / "uploads").glob(".tmp-up-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((root / "uploads").glob(".tmp-up-*")), "the upload never started writing"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        hold.set()
        child.kill()
    server_factory(root)
    assert list((root / "uploads").glob(".tmp-up-*")) == []


def _ignore_errors(call, *args):
    try:
        call(*args)
    except Exception:  # noqa: BLE001, S110 - the server is killed under this call
        pass


def test_a_partial_still_being_written_is_kept_by_the_start_up_sweep(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    live, dead = uploads / ".tmp-up-live", uploads / ".tmp-up-dead"
    dead.write_bytes(b"x")
    with open(live, "wb") as writer:  # a live writer holds the lock while it writes
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert sweep_partial_uploads(uploads) == 1
    assert live.exists() and not dead.exists()
