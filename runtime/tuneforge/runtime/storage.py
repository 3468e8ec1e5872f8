"""Storage failures told apart from bugs: a full disk (``ENOSPC``/``EDQUOT``, or SQLite's
"database or disk is full") is RESOURCE_EXHAUSTED with the reason ``DISK_FULL`` and a message
that names the path and the free space, wherever it happens — in an RPC, in a job's
supervision, in a worker."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from tuneforge.runtime.errors import Code, TuneforgeError

DISK_FULL = "DISK_FULL"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def free_space(path: Path | str) -> str:
    """"12.0 KiB free of 64.0 MiB" for the filesystem holding ``path`` (or its nearest parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{human_bytes(usage.free)} free of {human_bytes(usage.total)}"


def disk_full_message(exc: BaseException, fallback_path: Path | str) -> str:
    path = getattr(exc, "filename", None) or fallback_path
    return f"disk full writing {path} ({free_space(path)}): {exc}"


def disk_full_error(exc: BaseException, fallback_path: Path | str) -> TuneforgeError:
    path = getattr(exc, "filename", None) or fallback_path
    return TuneforgeError(Code.RESOURCE_EXHAUSTED, DISK_FULL, disk_full_message(exc, fallback_path),
                          metadata={"path": str(path), "free": free_space(path)})  # fmt: skip


def nearly_full(path: Path | str, min_free_bytes: int = 1024 * 1024) -> bool:
    """Whether the filesystem holding ``path`` has less than ``min_free_bytes`` left."""
    try:
        return shutil.disk_usage(path).free < min_free_bytes
    except OSError:
        return False


def append_line(path: Path, line: str) -> None:
    """Append one whole line, or nothing: a write cut short by a full disk is undone, so the
    next line does not glue onto half of this one."""
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)
