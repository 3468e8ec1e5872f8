"""Fault-suite fixtures: a data root on a small filesystem of its own (tmpfs, mounted here)
that a test can fill to the last byte, and a filler that gives the space back."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest


def _mount_tmpfs(path: Path, size_mb: int) -> str | None:
    """Mount a tmpfs of ``size_mb`` at ``path``; the reason why not, or None."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs as the data root"
    path.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run mount: {exc}"
    if out.returncode != 0:
        return f"this sandbox does not allow `mount -t tmpfs` ({out.stderr.strip() or out.returncode})"
    return None


@pytest.fixture
def small_root(tmp_path):
    """A data root on its own 24 MiB tmpfs (skipped with the reason where mounting fails)."""
    root = tmp_path / "small"
    why = _mount_tmpfs(root, 24)
    if why:
        pytest.skip(why)
    yield root / "var"
    subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


class Filler:
    """Fills the filesystem of ``root`` (leaving ``leave`` bytes) and frees it again."""

    def __init__(self, root: Path) -> None:
        self.path = root.parent / "filler.bin"

    def fill(self, leave: int = 0) -> None:
        chunk = b"\0" * (1 << 20)
        with open(self.path, "ab") as fh:
            while True:
                free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
                want = free - leave
                if want <= 0:
                    break
                try:
                    fh.write(chunk[: min(len(chunk), want)])
                    fh.flush()
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break

    def free(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def filler(small_root):
    f = Filler(small_root)
    yield f
    f.free()


@pytest.fixture
def json_logs():
    """The server's production logging (structlog JSON on stderr, as ``tuneforge serve``
    configures it), written to file descriptor 2 (where ``capfd`` reads), for one test; the
    previous configuration is restored after it."""
    import structlog

    from tuneforge.runtime.logging import configure_logging

    saved = structlog.get_config()
    configure_logging("info")
    with open(2, "w", closefd=False, encoding="utf-8") as fd2:
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=fd2))
        yield
        structlog.configure(**saved)
