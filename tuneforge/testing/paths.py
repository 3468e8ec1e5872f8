"""Where this checkout's code lives, for child processes that are given a ``PYTHONPATH``.

The code is split over the card's layout (``clients/python``, ``runtime/``, ``services/<name>/``
and the root), each a distribution root holding a part of the ``tuneforge`` namespace package;
a child process that should run this checkout's code needs all of them on its path.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source_roots() -> list[Path]:
    """The distribution roots of this checkout, the all-in-one root first."""
    roots = [ROOT, ROOT / "clients" / "python", ROOT / "runtime"]
    roots += sorted(p.parent for p in (ROOT / "services").glob("*/pyproject.toml"))
    return [p for p in roots if p.is_dir()]


def source_path() -> str:
    """``source_roots()`` as a ``PYTHONPATH`` value."""
    return os.pathsep.join(str(p) for p in source_roots())
