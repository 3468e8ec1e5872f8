"""The files vLLM's launcher reads: ``adapters/.active`` and ``adapters/.serving``.

``.active`` names the active adapter on its first line and, on its second, the name vLLM
serves it under (``support@v3``). Both lines are written in one atomic step, so
deploy/vllm/launch.py never has to open ``state.db`` (a read-only mount, or vLLM running as
another user, must work). ``.serving`` lists the other adapters kept loaded beside the
active one (``tuneforge adapters serve``), one ``name served_name`` pair a line.

Each file is only ever replaced whole: a temp file in the same directory, mode 0644 (vLLM
may run as its own user), fsynced, renamed over the old one, then the directory fsynced. A
reader sees the old content or the new, never a mix. No ``.active`` means no adapter is
active; no ``.serving`` means none is served beside it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tuneforge.runtime.paths import ACTIVE_MARKER as MARKER_NAME, SERVING_MARKER as SERVING_NAME

FILE_MODE = 0o644


def read_active(adapters_dir: Path) -> str | None:
    """The active adapter's name (first line of ``.active``), or None."""
    lines = _lines(adapters_dir / MARKER_NAME)
    return lines[0] if lines else None


def read_active_served_name(adapters_dir: Path) -> str | None:
    """The name vLLM serves the active adapter under (second line), or None."""
    lines = _lines(adapters_dir / MARKER_NAME)
    return lines[1] if len(lines) > 1 else None


def write_active(adapters_dir: Path, name: str | None, served_name: str | None = None) -> None:
    """Point the marker at ``name`` served as ``served_name`` (``None`` removes it)."""
    if name is None:
        _remove(adapters_dir, MARKER_NAME)
        return
    _write(adapters_dir, MARKER_NAME, name + "\n" + (served_name + "\n" if served_name else ""))


def read_serving(adapters_dir: Path) -> list[tuple[str, str]]:
    """``[(name, served_name)]`` from ``.serving``."""
    out = []
    for line in _lines(adapters_dir / SERVING_NAME):
        name, _, served = line.partition(" ")
        out.append((name, served.strip() or name))
    return out


def write_serving(adapters_dir: Path, pairs: list[tuple[str, str]]) -> None:
    if not pairs:
        _remove(adapters_dir, SERVING_NAME)
        return
    _write(adapters_dir, SERVING_NAME, "".join(f"{n} {s}\n" for n, s in pairs))


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _remove(adapters_dir: Path, filename: str) -> None:
    try:
        os.unlink(adapters_dir / filename)
    except FileNotFoundError:
        return
    _fsync_dir(adapters_dir)


def _write(adapters_dir: Path, filename: str, content: str) -> None:
    adapters_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{filename}.", suffix=".tmp", dir=adapters_dir)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600: unreadable for a vLLM running as its own user
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, adapters_dir / filename)
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
