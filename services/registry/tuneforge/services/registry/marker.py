"""The ``adapters/.active`` marker: one line, the name of the active adapter.

It is what the vLLM launcher (deploy/vllm/launch.py) reads at start, so it is only ever
replaced whole: write a temp file in the same directory, fsync it, rename it over the
marker, fsync the directory. A reader sees the old name or the new one, never a mix.
No marker means no adapter is active.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MARKER_NAME = ".active"


def read_active(adapters_dir: Path) -> str | None:
    try:
        text = (adapters_dir / MARKER_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    name = text.strip().splitlines()[0].strip() if text.strip() else ""
    return name or None


def write_active(adapters_dir: Path, name: str | None) -> None:
    """Point the marker at ``name`` (``None`` removes it), atomically and durably."""
    adapters_dir.mkdir(parents=True, exist_ok=True)
    target = adapters_dir / MARKER_NAME
    if name is None:
        try:
            os.unlink(target)
        except FileNotFoundError:
            return
        _fsync_dir(adapters_dir)
        return
    fd, tmp = tempfile.mkstemp(prefix=".active.", suffix=".tmp", dir=adapters_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(adapters_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
