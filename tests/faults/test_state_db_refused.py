"""A corrupt or locked ``state.db`` at server start: one clear paragraph (what is wrong, the
path, who holds the lock, the restore procedure) and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from server_process import ServerProcess

REPO_DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")


def made_root(tmp_path):
    """A data root a real server created (every table) and left, checkpointed and closed."""
    root = tmp_path / "var"
    assert ServerProcess(root, tmp_path / "create.err").ready().stop() == 0
    return root


def refusal(tmp_path, root, **env):
    srv = ServerProcess(root, tmp_path / "refused.err", env=env)
    rc = srv.wait(120)
    err = srv.stderr()
    assert rc != 0, err
    assert "Traceback" not in err, err
    return err


def test_a_state_db_of_garbage_bytes_is_refused_as_corrupt_with_the_restore_procedure(tmp_path):
    root = tmp_path / "var"
    root.mkdir()
    (root / "state.db").write_bytes(os.urandom(64 * 1024))
    err = refusal(tmp_path, root)
    assert "DATABASE_CORRUPT" in err or "corrupt or not a database" in err, err
    assert str(root / "state.db") in err and 'docs/operations.md, "Restore"' in err, err


def test_a_truncated_state_db_is_refused_as_corrupt(tmp_path):
    root = made_root(tmp_path)
    db = root / "state.db"
    assert not (root / "state.db-wal").exists() or (root / "state.db-wal").stat().st_size == 0
    size = db.stat().st_size
    assert size > 8 * 4096, size
    with open(db, "r+b") as fh:
        fh.truncate(size // 2)
    err = refusal(tmp_path, root)
    assert "corrupt or not a database" in err and str(db) in err, err


def test_a_state_db_another_process_holds_locked_is_refused_naming_that_process(tmp_path):
    root = made_root(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(root / 'state.db')!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        err = refusal(tmp_path, root, TUNEFORGE_DATABASE_BUSY_TIMEOUT_SECONDS="1")
        assert time.monotonic() - started < 60
        assert "is locked by another process" in err and f"pid {holder.pid} " in err, err
    finally:
        holder.kill()
        holder.wait()


def test_the_restore_procedure_the_refusal_points_to_exists():
    with open(REPO_DOCS, encoding="utf-8") as fh:
        text = fh.read()
    assert "\n## Restore\n" in text and "state.db-wal" in text
