"""One server per service on a data root: a lock each hosted service holds for the process's life.

Two servers hosting the same service on one SQLite data root both re-attach to the same
jobs, store every event twice and register every adapter twice. So at start a server takes
``<data root>/locks/server-<service>.lock`` (a ``flock``) for every service it hosts and
keeps it until it stops; the kernel drops it when the process dies (kill -9 included), so a
restart never finds a stale lock. The file says who holds it — pid, host, address, start
time — for the refusal a second server prints, and for the "who holds the database" note
of a locked ``state.db``.

The lock is per service, not per data root: ``tuneforge serve dataset`` and ``tuneforge
serve trainer`` (the systemd template, compose) share one data root by design. A store
shared by replicas (PostgreSQL) would skip it: :attr:`Store.single_server` says whether the
store needs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, failed_precondition
from tuneforge.runtime.paths import LOCKS_DIR



def lock_path(root: Path, service: str) -> Path:
    return root / LOCKS_DIR / f"server-{service}.lock"


class ServerLock:
    """The held ``flock`` of each hosted service, with who holds it written inside."""

    def __init__(self, root: Path, services: tuple[str, ...]) -> None:
        self.root = root
        self.services = services
        self._fds: list[int] = []
        self._info: dict[str, Any] = {}

    def acquire(self) -> None:
        """Take every service's lock, or none: FAILED_PRECONDITION naming the holder."""
        (self.root / LOCKS_DIR).mkdir(parents=True, exist_ok=True)
        self._info = {"pid": os.getpid(), "host": socket.gethostname(), "services": list(self.services),
                      "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "address": ""}  # fmt: skip
        for service in self.services:
            path = lock_path(self.root, service)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.release()
                raise already_served(self.root, service, holder(path)) from None
            self._fds.append(fd)
        self._write()

    def set_address(self, address: str) -> None:
        """Record where this server listens (known only once the port is bound)."""
        self._info["address"] = address
        self._write()

    def _write(self) -> None:
        data = (json.dumps(self._info) + "\n").encode()
        for fd in self._fds:
            with contextlib.suppress(OSError):  # a full disk must not stop a server that holds the lock
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        self._fds.clear()


def holder(path: Path) -> dict[str, Any]:
    """What the lock file says about the server holding it ({} when unreadable)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def held_locks(root: Path) -> list[dict[str, Any]]:
    """The holders of the server locks under ``root`` that some process holds now."""
    found = []
    for path in sorted((root / LOCKS_DIR).glob("server-*.lock")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            if (info := holder(path)) and info not in found:
                found.append(info)
        finally:
            os.close(fd)  # closing drops a shared lock taken just to test
    return found


def describe(info: dict[str, Any]) -> str:
    """``pid 123 on host box, listening on 127.0.0.1:50051, started …`` (what is known)."""
    if not info:
        return "another process (its lock file names no holder)"
    parts = [f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"]
    if info.get("address"):
        parts.append(f"listening on {info['address']}")
    if info.get("started"):
        parts.append(f"started {info['started']}")
    return ", ".join(parts)


def already_served(root: Path, service: str, info: dict[str, Any]) -> TuneforgeError:
    return failed_precondition(
        "SERVER_ALREADY_RUNNING",
        f"another tuneforge server already serves {service} from the data root {root}: "
        f"{describe(info)} (lock {lock_path(root, service)}). Two servers on one data root would "
        "run every job twice; stop that one first, or give this one its own data root (TUNEFORGE_HOME)",
        service=service, pid=str(info.get("pid", "")),
    )
