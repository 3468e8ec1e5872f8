"""What a server says when ``state.db`` cannot be used, instead of a raw sqlite3 traceback.

Three cases an operator meets: the file is corrupt or not a database (restore it: the
procedure is in docs/operations.md, "Restore"), another process holds it locked (say which:
the server lock's holder, else whoever holds a write lock on it per ``/proc/locks``, else
whoever has it open), or it cannot be read or written at all (permissions, a full disk, a
``state.db-journal`` that is not a file). Each is one FAILED_PRECONDITION paragraph with a
stable reason, which ``tuneforge serve`` prints before exiting non-zero.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tuneforge.runtime.errors import TuneforgeError, failed_precondition

RESTORE = "docs/operations.md, \"Restore\""
_CORRUPT = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
_LOCKED = {"SQLITE_BUSY", "SQLITE_LOCKED"}


def unusable(path: Path, exc: sqlite3.Error, waited: float) -> TuneforgeError:
    """The error to raise for ``exc`` met while opening or checking the database at ``path``."""
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc)
    if name in _CORRUPT or "malformed" in text or "not a database" in text:
        return corrupt(path, text)
    if name in _LOCKED or "locked" in text:
        return failed_precondition(
            "DATABASE_LOCKED",
            f"{path} is locked by another process (still locked after {waited:g}s): {holders(path)}. "
            "Stop that process or let it finish (an online backup holds the lock only briefly), "
            f"then start again; if the database is damaged, restore it ({RESTORE}).",
            path=str(path),
        )
    return failed_precondition(
        "DATABASE_UNUSABLE",
        f"{path} cannot be used ({text}): check that it and its directory are readable and writable "
        f"by this user, that the disk has space, and that no state.db-journal, state.db-wal or "
        f"state.db-shm there is other than a regular file; to go back to a backup see {RESTORE}.",
        path=str(path),
    )


def corrupt(path: Path, detail: str) -> TuneforgeError:
    return failed_precondition(
        "DATABASE_CORRUPT",
        f"{path} is not a usable SQLite database: it is corrupt or not a database ({detail}). "
        "The server does not start on it. Keep the damaged file aside (mv state.db state.db.damaged), "
        f"then restore the last backup of state.db as described in {RESTORE} (stop every tuneforge "
        "process on the data root, put the copy back, remove state.db-wal and state.db-shm).",
        path=str(path),
    )


def holders(path: Path) -> str:
    """Who holds ``path`` locked, as far as this host can tell."""
    from tuneforge.runtime.server_lock import describe, held_locks

    servers = [f"the tuneforge server {describe(info)}" for info in held_locks(path.parent)
               if info.get("pid") != os.getpid()]  # fmt: skip
    pids = _lock_holders(path) or _openers(path)
    others = [f"pid {pid} ({_command(pid)})" for pid in pids if not any(f"pid {pid} " in s for s in servers)]
    found = servers + others
    return "; ".join(found) if found else "the holder could not be found (another host, or another user's process)"


def _files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _lock_holders(path: Path) -> list[int]:
    """Pids holding a write lock on the database or its WAL index (``/proc/locks``)."""
    inodes = set()
    for file in _files(path):
        try:
            inodes.add(os.stat(file).st_ino)
        except OSError:
            pass
    pids: list[int] = []
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return pids
    for line in lines:
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) < 6 or parts[3] != "WRITE":
            continue
        try:
            pid, inode = int(parts[4]), int(parts[5].rsplit(":", 1)[1])
        except (ValueError, IndexError):
            continue
        if inode in inodes and pid > 0 and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return pids


def _openers(path: Path) -> list[int]:
    """Pids that have the database open (``/proc/<pid>/fd``), this one excepted."""
    names = {str(f) for f in _files(path.resolve())}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) in names for fd in (entry / "fd").iterdir()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "command unknown"
    return " ".join(raw.decode(errors="replace").replace("\0", " ").split())[:200] or "command unknown"
