"""Validation of client-supplied names and confinement of paths to the data root.

Every name a client sends (dataset, adapter, sample file, job id) goes through
:func:`validate_name` before it touches the filesystem, and every path built from one goes
through :func:`confined`, so nothing a client sends can reach outside the data root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tuneforge.runtime.errors import invalid_argument

MAX_NAME_LENGTH = 128
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def validate_name(value: str, field_name: str = "name") -> str:
    """Return ``value`` if it is a safe single path component, else raise INVALID_ARGUMENT.

    Allowed: letters, digits, ``. _ - @ +``; must start with a letter or digit; at most
    128 characters; never ``.``/``..``, a separator, NUL or an absolute path.
    """
    if not isinstance(value, str) or value == "":
        raise invalid_argument(field_name, "must not be empty", reason="INVALID_NAME")
    if "\x00" in value:
        raise invalid_argument(field_name, "must not contain NUL", reason="INVALID_NAME")
    if "/" in value or "\\" in value or os.path.isabs(value):
        raise invalid_argument(
            field_name, "must be a plain name, not a path", reason="INVALID_NAME"
        )
    if value in (".", "..") or ".." in value:
        raise invalid_argument(field_name, "must not contain '..'", reason="INVALID_NAME")
    if len(value) > MAX_NAME_LENGTH:
        raise invalid_argument(
            field_name, f"must be at most {MAX_NAME_LENGTH} characters", reason="INVALID_NAME"
        )
    if not _NAME_RE.match(value):
        raise invalid_argument(
            field_name,
            "may contain only letters, digits and . _ - @ + and must start with a letter or digit",
            reason="INVALID_NAME",
        )
    return value


def confined(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and check the result (links resolved) stays inside it."""
    root_resolved = Path(root).resolve()
    candidate = root_resolved.joinpath(*parts)
    resolved = candidate.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise invalid_argument(
            "path", f"{'/'.join(parts)!r} points outside the data root", reason="PATH_OUTSIDE_ROOT"
        )
    return candidate
