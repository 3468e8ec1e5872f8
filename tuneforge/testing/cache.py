"""Build a test asset once per cache root: under a file lock, into a temporary directory,
renamed into place only when complete, so parallel test processes never see half of one."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_once(root: Path, name: str, marker: str, build: Callable[[Path], object]) -> Path:
    """``root/name``, built by ``build(out_dir)`` unless ``root/name/marker`` already exists."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if (final / marker).is_file():
        return final
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (final / marker).is_file():
                return final
            work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
            try:
                out = work / "out"
                build(out)
                if final.exists():  # an incomplete leftover: it has no marker
                    shutil.rmtree(final)
                os.rename(out, final)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final
