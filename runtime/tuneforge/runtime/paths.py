"""Paths a client names, confined: under the data root or a directory the operator lists in
``allowed_paths`` (empty by default), never through a symbolic link that leads out.

Every request field that reaches a server path goes through :func:`confine` (the list is in
docs/security.md). A refusal says only that the path is not allowed — never whether it
exists — so the API cannot be used to probe the server's file system.

Jobs that *write* where a client says (merge, export) go through :func:`confine_output`: inside
the data root only under their own directory (``merged/``, ``models/``), never onto one of
the service's own files (:data:`RESERVED`, the layout of docs/data-root.md — named here once,
and the store and the registry take their file names from here), never onto a path that
exists and holds something.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, invalid_argument

NOT_ALLOWED = "PATH_NOT_ALLOWED"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")

# The data root's own names (docs/data-root.md).
STATE_DB = "state.db"
LOCKS_DIR = "locks"  # locks/server-<service>.lock (one server per service), locks/gpu-*.lock
ADAPTERS_DIR = "adapters"
ACTIVE_MARKER = ".active"  # adapters/.active: the active adapter, read by vLLM's launcher
SERVING_MARKER = ".serving"  # adapters/.serving: the adapters served beside it
MERGED_DIR = "merged"  # MergeAdapter's outputs
MODELS_DIR = "models"  # CreateExportJob's outputs (the registry catalogues them)
RESERVED = (
    "tuneforge.toml", STATE_DB, f"{STATE_DB}-wal", f"{STATE_DB}-shm", f"{STATE_DB}-journal",
    LOCKS_DIR, "uploads", "datasets", ADAPTERS_DIR, f"{ADAPTERS_DIR}/{ACTIVE_MARKER}",
    f"{ADAPTERS_DIR}/{SERVING_MARKER}", "tts", "jobs", "tmp",
)  # fmt: skip


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


def confine_output(raw: str, field: str, data_root: Path, own_dir: str, roots: list[Path], *,
                   base: Path | None = None) -> Path:
    """Where a job writes what a client asked for: ``raw`` (relative to ``base``, default the
    data root) confined like any path, and inside the data root only strictly under
    ``own_dir``; never on or in a :data:`RESERVED` name, never an ancestor of the data root,
    never a file or a non-empty directory (ALREADY_EXISTS ``OUTPUT_EXISTS``). Refusals show
    what the client sent, not the server's absolute path."""
    out = confine(raw, field, roots, base=base)
    root = Path(data_root).resolve()
    if out == root or out in root.parents:
        raise invalid_argument(field, f"{raw!r} is the data root or a directory holding it", reason=NOT_ALLOWED)
    if root in out.parents:
        relative = out.relative_to(root).as_posix()
        if any(relative == name or relative.startswith(f"{name}/") for name in RESERVED):
            raise invalid_argument(field, f"{raw!r} names one of the service's own files or directories "
                                   f"({relative.split('/')[0]})", reason=NOT_ALLOWED)
        own = (root / own_dir).resolve()
        if own not in out.parents:
            raise invalid_argument(field, f"{raw!r}: inside the data root an output goes under {own_dir}/ "
                                   "(elsewhere: a directory listed in allowed_paths)", reason=NOT_ALLOWED)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TuneforgeError(Code.ALREADY_EXISTS, "OUTPUT_EXISTS", f"{raw!r} already exists and is not empty",
                             [FieldViolation(field, f"{raw!r} exists and is not empty")])
    return out


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
