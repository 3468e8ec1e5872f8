"""`tuneforge ... | head` : a reader that goes away ends the CLI quietly (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tuneforge.testing.paths import source_path

REPO = Path(__file__).resolve().parents[2]


def test_the_cli_exits_quietly_when_its_reader_closes_the_pipe(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    env = {**os.environ, "PYTHONPATH": source_path()}
    try:
        proc = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "config", "show", "--data-root", str(tmp_path)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=120)  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141
