"""Paths a client names, confined: under the data root or a directory the operator lists in
``allowed_paths`` (empty by default), never through a symbolic link that leads out.

Every request field that reaches a server path goes through :func:`confine` (the list is in
docs/security.md). A refusal says only that the path is not allowed — never whether it
exists — so the API cannot be used to probe the server's file system.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tuneforge.runtime.errors import TuneforgeError, invalid_argument

NOT_ALLOWED = "PATH_NOT_ALLOWED"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def allowed_roots(data_root: Path | str, allowed_paths: str = "", *extra: str) -> list[Path]:
    """The data root, the operator's ``allowed_paths`` (comma-separated) and ``extra`` dirs."""
    roots = [Path(data_root)]
    roots += [Path(p.strip()) for p in allowed_paths.split(",") if p.strip()]
    roots += [Path(p) for p in extra if p]
    return [r.expanduser().resolve() for r in roots]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def confine(raw: str, field: str, roots: list[Path], *, base: Path | None = None) -> Path:
    """``raw`` (absolute, or relative to ``base``/the data root) as a resolved path under one of
    ``roots``; INVALID_ARGUMENT ``PATH_NOT_ALLOWED`` otherwise (also for ``..`` and links out)."""
    if "\x00" in raw:
        raise invalid_argument(field, "must not contain NUL")
    path = Path(raw)
    if not path.is_absolute():
        path = (base or roots[0]) / path
    lexical = Path(os.path.normpath(path))
    resolved = path.resolve()  # follows every link on the way
    if not (_inside(lexical, roots) and _inside(resolved, roots)):
        raise not_allowed(field, raw)
    return resolved


def is_hub_id(text: str) -> bool:
    """Whether a model name reads as a Hugging Face hub id (``owner/name``), not a path."""
    return _HUB_ID.fullmatch(text) is not None and not text.startswith(".")


def confine_model(raw: str, field: str, roots: list[Path]) -> str:
    """A base model a client names, for a service that hands it to a worker as is: a hub id
    passes unchanged (the worker looks it up in the local cache, as the trainer does);
    anything else is a path (``~`` expanded), confined like every other and returned resolved.
    Empty stays empty, for the caller's own "required" check."""
    text = raw.strip()
    if not text or is_hub_id(text):
        return text
    try:
        return str(confine(os.path.expanduser(text), field, roots))
    except TuneforgeError as exc:
        if exc.reason != NOT_ALLOWED:
            raise
        raise not_allowed(field, text) from None  # what the client sent, not the expanded path


def not_allowed(field: str, raw: str):
    return invalid_argument(
        field, f"{raw!r} is not under the data root or a directory listed in allowed_paths",
        reason=NOT_ALLOWED,
    )  # fmt: skip


def links_out(directory: Path, roots: list[Path]) -> list[str]:
    """Entries of ``directory`` (recursively) that are links resolving outside ``roots``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [*dirnames, *filenames]:
            entry = Path(dirpath) / name
            if entry.is_symlink() and not _inside(entry.resolve(), roots):
                found.append(str(entry.relative_to(directory)))
    return found
