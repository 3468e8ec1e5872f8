"""A ``PYTHONPATH`` that lets another interpreter import the tuneforge code this process runs.

tuneforge is one namespace package spread over several distributions (client, runtime, each
service, the all-in-one root), installed or run from a checkout. A worker started under a
different interpreter (a separate virtualenv for a tool stack) needs every directory that
holds a part of ``tuneforge``, not one repository root; this reads them off the namespace.
"""

from __future__ import annotations

import os
from pathlib import Path

import tuneforge


def tuneforge_roots() -> list[str]:
    """The directories holding a part of the ``tuneforge`` namespace, in import order."""
    roots: list[str] = []
    for portion in tuneforge.__path__:
        path = Path(portion)
        if path.is_dir() and str(path.parent) not in roots:
            roots.append(str(path.parent))
    return roots


def worker_pythonpath(existing: str | None = None) -> str:
    """``tuneforge_roots()`` joined as a ``PYTHONPATH``, ``existing`` (if any) after them."""
    parts = tuneforge_roots() + ([existing] if existing else [])
    return os.pathsep.join(parts)
