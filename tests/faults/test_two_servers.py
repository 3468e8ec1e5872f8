"""Two servers on one data root: the second refuses at start, naming the first; the first
keeps serving; a server killed with -9 leaves no lock behind."""

from __future__ import annotations

import signal

from server_process import ServerProcess
from tuneforge.client import Client


def test_a_second_server_on_the_same_data_root_refuses_to_start_naming_the_first(tmp_path):
    root = tmp_path / "var"
    first = ServerProcess(root, tmp_path / "first.err").ready()
    try:
        second = ServerProcess(root, tmp_path / "second.err")
        try:
            rc = second.wait(60)
        finally:
            second.stop(signal.SIGKILL)
        err = second.stderr()
        assert rc != 0, err
        assert f"pid {first.pid}" in err and f"127.0.0.1:{first.port}" in err, err
        assert "SERVER_ALREADY_RUNNING" in err or "already serves" in err, err
        assert "Traceback" not in err, err
        with Client(first.target, timeout=10) as c:
            assert c.jobs.list_jobs().total_size == 0  # the first one still serves
        assert first.proc.poll() is None
    finally:
        assert first.stop() == 0


def test_a_server_on_another_data_root_or_for_another_service_starts_beside_it(tmp_path):
    root = tmp_path / "var"
    dataset = ServerProcess(root, tmp_path / "dataset.err", "dataset").ready()
    others = [ServerProcess(root, tmp_path / "registry.err", "registry"),
              ServerProcess(tmp_path / "other", tmp_path / "other.err")]  # fmt: skip
    try:
        for srv in others:
            srv.ready()
    finally:
        for srv in [dataset, *others]:
            srv.stop()


def test_a_server_killed_with_sigkill_leaves_no_lock_and_restarts(tmp_path):
    root = tmp_path / "var"
    first = ServerProcess(root, tmp_path / "first.err").ready()
    first.stop(signal.SIGKILL)
    again = ServerProcess(root, tmp_path / "again.err").ready()
    assert again.stop() == 0
