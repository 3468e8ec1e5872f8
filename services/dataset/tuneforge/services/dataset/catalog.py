"""The dataset catalog: rows in ``state.db`` plus files under ``datasets/<name>/``.

Each dataset is ``data.jsonl`` (train), ``validation.jsonl`` (when a split was asked for and
the data allowed one) and ``meta.json`` (the row plus the source report). A dataset is built
in ``datasets/.tmp-<uuid>/`` and renamed into place in one step, so a crash or a bad input
never leaves a half-written dataset; deletes rename to ``datasets/.trash-<uuid>`` first.
Leftovers of either kind are removed by :meth:`DatasetCatalog.sweep_leftovers`.

Versions: a dataset is version 1 when created; every change of its records (an append, a
forgotten contact, :meth:`DatasetCatalog.rewrite`) makes the next version, with the SHA-256 of
its ``data.jsonl``; one change at a time per dataset (an flock on
``locks/dataset-<name>.lock``, held from reading the files to swapping them: an append in a
worker process and a forget in the service never interleave). The trainer records both on the adapter it registers (lineage); a forget
tells the registry that the versions before it are retracted. Only the current version's files
are kept. Workers (separate processes)
open their own :class:`~tuneforge.runtime.store.Store` on the same ``state.db`` and create
datasets through this class too. Timestamps are ISO-8601 UTC strings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import already_exists, invalid_argument, not_found
from tuneforge.runtime.names import confined, validate_name
from tuneforge.runtime.request_checks import stored_json
from tuneforge.runtime.store import IntegrityError, Store
from tuneforge.services.dataset import stats as stats_mod
from tuneforge.services.dataset.scrub import PROBES_FILE

MIGRATIONS = [
    (
        "dataset_0001_datasets",
        """
        CREATE TABLE datasets (
            name TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            format TEXT NOT NULL DEFAULT '',
            record_count INTEGER NOT NULL DEFAULT 0,
            validation_record_count INTEGER NOT NULL DEFAULT 0,
            size_bytes INTEGER NOT NULL DEFAULT 0,
            create_time TEXT NOT NULL,
            job_id TEXT NOT NULL DEFAULT '',
            meta TEXT NOT NULL DEFAULT '{}'
        );
        """,
    ),
    (
        "dataset_0002_settings",
        "CREATE TABLE dataset_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
    (
        "dataset_0003_versions",
        """
        ALTER TABLE datasets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE datasets ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
        """,
    ),
    (
        # Contacts forgotten from a dataset, by digest only (dialogs.contact_digest): an
        # append_to of a newer export leaves them out.
        "dataset_0004_forgotten",
        "CREATE TABLE dataset_forgotten (name TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (name, digest));",
    ),
]
SOURCES = ("telegram", "import", "generate")
MAX_PREVIEW = 100


@dataclass
class DatasetInfo:
    name: str
    source: str
    format: str
    record_count: int
    validation_record_count: int
    size_bytes: int
    create_time: str
    path: str
    validation_path: str  # "" when there is no validation split
    job_id: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    sha256: str = ""  # of data.jsonl at this version

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DatasetCatalog:
    def __init__(self, store: Store, data_root: Path | str) -> None:
        self.store = store
        store.migrate(MIGRATIONS)
        self.root = Path(data_root) / "datasets"
        self.root.mkdir(parents=True, exist_ok=True)

    def sweep_leftovers(self) -> int:
        """Remove ``.tmp-*``/``.trash-*`` left by a crash. Call once at service start, before
        any worker runs (workers stage their files under the same names)."""
        n = 0
        for leftover in [*self.root.glob(".tmp-*"), *self.root.glob(".trash-*")]:
            n += 1
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        return n

    def work_file(self, suffix: str = ".jsonl") -> Path:
        """A fresh staging file path inside ``datasets/`` (swept by :meth:`sweep_leftovers`)."""
        return self.root / f".tmp-{uuid.uuid4().hex}{suffix}"

    # --- reads -------------------------------------------------------------------------

    def dir(self, name: str) -> Path:
        return confined(self.root, validate_name(name, "name"))

    def get(self, name: str) -> DatasetInfo:
        """Raises INVALID_ARGUMENT (bad name) or NOT_FOUND ``DATASET_NOT_FOUND``."""
        validate_name(name, "name")
        row = self.store.query_one("SELECT * FROM datasets WHERE name = ?", (name,))
        if row is None:
            raise not_found("dataset", name)
        return self._info(row)

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[DatasetInfo], int]:
        """Datasets by name; returns ``(items, total)``."""
        if offset < 0 or limit < 0:
            raise invalid_argument("page_size", "must not be negative")
        total = self.store.query_one("SELECT COUNT(*) AS n FROM datasets")["n"]
        rows = self.store.query(
            "SELECT * FROM datasets ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
        )
        return [self._info(r) for r in rows], int(total)

    def file(self, name: str, validation: bool = False) -> Path:
        """Path of ``data.jsonl`` (or ``validation.jsonl``); NOT_FOUND when absent."""
        info = self.get(name)
        path = info.validation_path if validation else info.path
        if not path or not Path(path).is_file():
            raise not_found(
                "dataset file", f"{name}/{'validation' if validation else 'data'}.jsonl"
            )
        return Path(path)

    def preview(
        self, name: str, count: int = 5, validation: bool = False
    ) -> list[dict[str, Any]]:
        """The first ``count`` records (default 5, at most 100)."""
        if count < 0:
            raise invalid_argument("count", "must not be negative")
        count = min(count or 5, MAX_PREVIEW)
        out: list[dict[str, Any]] = []
        with open(self.file(name, validation), encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(json.loads(line))
                    if len(out) >= count:
                        break
        return out

    def stats(
        self, name: str, base_model: str | None = None, max_seq_length: int = 0
    ) -> stats_mod.DatasetStats:
        """Stats over train + validation (see :mod:`tuneforge.services.dataset.stats`).

        ``base_model``: a local model directory or a cached hub id whose ``tokenizer.json``
        counts tokens; empty = the documented estimate."""
        info = self.get(name)
        paths = [Path(info.path)] + (
            [Path(info.validation_path)] if info.validation_path else []
        )
        return stats_mod.compute_stats(
            paths,
            tokenizer_dir=base_model or None,
            max_seq_length=max_seq_length or stats_mod.DEFAULT_MAX_SEQ_LENGTH,
            default_source=info.source,
        )

    def get_settings(self, key: str) -> dict[str, Any]:
        """A stored settings object (e.g. ``"telegram"`` for Get/UpdateTelegramConfig); {} if unset."""
        row = self.store.query_one(
            "SELECT value FROM dataset_settings WHERE key = ?", (key,)
        )
        return json.loads(row["value"]) if row else {}

    def put_settings(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        self.store.execute(
            "INSERT INTO dataset_settings(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, stored_json(value)),
        )
        return value

    # --- writes ------------------------------------------------------------------------

    def check_free(self, name: str) -> None:
        """INVALID_ARGUMENT for a bad name, ALREADY_EXISTS when taken (checked before a job)."""
        validate_name(name, "dataset_name")
        if (
            self.store.query_one("SELECT 1 FROM datasets WHERE name = ?", (name,))
            or (self.root / name).exists()
        ):
            raise already_exists("dataset", name)

    def create(
        self,
        name: str,
        records_jsonl: Path,
        *,
        source: str,
        format: str = "",
        validation_split: float = stats_mod.DEFAULT_VALIDATION_SPLIT,
        seed: int = stats_mod.DEFAULT_SEED,
        report: dict[str, Any] | None = None,
        job_id: str = "",
    ) -> DatasetInfo:
        """Create ``name`` from a normalised JSONL file (left in place; the caller owns it).

        Raises INVALID_ARGUMENT (name, source, ``validation_split`` outside [0, 0.5],
        ``DATASET_EMPTY`` for no records) or ALREADY_EXISTS ``DATASET_ALREADY_EXISTS``.
        """
        self.check_free(name)
        if source not in SOURCES:
            raise invalid_argument("source", f"must be one of {', '.join(SOURCES)}")
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            train, val = stats_mod.split_jsonl(
                Path(records_jsonl),
                staging / "data.jsonl",
                staging / "validation.jsonl",
                validation_split,
                seed,
            )
            if train == 0:
                raise invalid_argument(
                    "dataset",
                    "no records to store",
                    reason="DATASET_EMPTY",
                    message="the input produced no records",
                )
            final = self.root / name
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            size = sum(p.stat().st_size for p in staging.glob("*.jsonl"))
            info = DatasetInfo(
                name=name, source=source, format=format, record_count=train,
                validation_record_count=val, size_bytes=size, create_time=now,
                path=str(final / "data.jsonl"),
                validation_path=str(final / "validation.jsonl") if val else "",
                job_id=job_id, report=report or {}, sha256=file_sha256(staging / "data.jsonl"),
            )  # fmt: skip
            meta = {
                **info.to_dict(),
                "validation_split": validation_split,
                "seed": seed,
            }
            with open(staging / "meta.json", "w", encoding="utf-8") as fh:
                json.dump(meta, fh, ensure_ascii=False, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.rename(staging, final)  # fails if the name appeared meanwhile
            except OSError:
                raise already_exists("dataset", name) from None
            try:
                self.store.execute(
                    "INSERT INTO datasets(name, source, format, record_count,"
                    " validation_record_count, size_bytes, create_time, job_id, meta, sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, source, format, train, val, size, now, job_id,
                     json.dumps(info.report, ensure_ascii=False), info.sha256),
                )  # fmt: skip
            except IntegrityError:
                shutil.rmtree(final, ignore_errors=True)
                raise already_exists("dataset", name) from None
            return info
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def append(
        self,
        name: str,
        records_jsonl: Path,
        *,
        validation_split: float = stats_mod.DEFAULT_VALIDATION_SPLIT,
        seed: int = stats_mod.DEFAULT_SEED,
        report: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        """Add the records of ``records_jsonl`` to dataset ``name`` (split like a new one).

        The new files are staged beside the old, then swapped in by renames; the row's
        counts follow. ``report`` is stored as the dataset's latest report. Raises NOT_FOUND.
        """
        with self.exclusive(name):
            return self._append(name, records_jsonl, validation_split, seed, report)

    def _append(self, name: str, records_jsonl: Path, validation_split: float, seed: int,
                report: dict[str, Any] | None) -> DatasetInfo:
        old = self.get(name)
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            train, val = stats_mod.split_jsonl(
                Path(records_jsonl), staging / "new.jsonl", staging / "new-validation.jsonl",
                validation_split, seed,
            )  # fmt: skip
            final = self.root / name
            for fname, new in (("data.jsonl", "new.jsonl"), ("validation.jsonl", "new-validation.jsonl")):
                with open(staging / fname, "wb") as out:
                    for part in (final / fname, staging / new):
                        if part.exists():
                            with open(part, "rb") as src:
                                shutil.copyfileobj(src, out, 1 << 20)
                (staging / new).unlink(missing_ok=True)
            n_train, n_val = old.record_count + train, old.validation_record_count + val
            if not n_val:
                (staging / "validation.jsonl").unlink(missing_ok=True)
            size = sum(p.stat().st_size for p in staging.glob("*.jsonl"))
            info = DatasetInfo(
                **{**old.to_dict(), "record_count": n_train, "validation_record_count": n_val,
                   "size_bytes": size, "report": report or old.report,
                   "validation_path": str(final / "validation.jsonl") if n_val else ""},
            )  # fmt: skip
            if (final / PROBES_FILE).exists():  # the leak audit's private probes (scrub.py) stay
                shutil.copy2(final / PROBES_FILE, staging / PROBES_FILE)
            return self._swap_in(info, staging, {"validation_split": validation_split, "seed": seed})
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def rewrite(
        self, name: str, transform: Any, report: dict[str, Any] | None = None,
    ) -> tuple[DatasetInfo, DatasetInfo]:
        """Rewrite ``name``'s records as its next version: ``transform(records_iter)`` yields the
        records to keep (called once for data.jsonl, once for validation.jsonl). The old files
        are removed. Returns ``(old, new)``; INVALID_ARGUMENT ``DATASET_EMPTY`` when no training
        record would be left (the dataset is unchanged then). The leak audit's private probe
        file (scrub.PROBES_FILE) is not carried over: it holds the values the scrubber removed,
        a forgotten person's among them, and cannot tell whose they were."""
        with self.exclusive(name):
            return self._rewrite(name, transform, report)

    @contextlib.contextmanager
    def exclusive(self, name: str):
        """Hold the dataset's change lock (across processes) for one read-modify-swap."""
        locks = self.root.parent / "locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"dataset-{validate_name(name, 'name')}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _rewrite(self, name: str, transform: Any,
                 report: dict[str, Any] | None) -> tuple[DatasetInfo, DatasetInfo]:
        old = self.get(name)
        final = self.root / name
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            counts = {}
            for fname in ("data.jsonl", "validation.jsonl"):
                counts[fname] = 0
                if not (final / fname).exists():
                    continue
                with open(final / fname, encoding="utf-8") as src, open(staging / fname, "w", encoding="utf-8") as out:
                    records = (json.loads(line) for line in src if line.strip())
                    for record in transform(records):
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        counts[fname] += 1
            if counts["data.jsonl"] == 0:
                raise invalid_argument("dataset", "no training record would be left", reason="DATASET_EMPTY",
                                       message=f"dataset {name!r} would hold no training record; delete it instead")
            if not counts["validation.jsonl"]:
                (staging / "validation.jsonl").unlink(missing_ok=True)
            size = sum(p.stat().st_size for p in staging.glob("*.jsonl"))
            n_val = counts["validation.jsonl"]
            info = DatasetInfo(**{**old.to_dict(), "record_count": counts["data.jsonl"],
                                  "validation_record_count": n_val, "size_bytes": size,
                                  "report": old.report if report is None else report,
                                  "validation_path": str(final / "validation.jsonl") if n_val else ""})
            return old, self._swap_in(info, staging, {})
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _swap_in(self, info: DatasetInfo, staging: Path, extra_meta: dict[str, Any]) -> DatasetInfo:
        """The next version: ``staging`` (its .jsonl files written) replaces the dataset's
        directory by renames, the old files are removed, the row follows."""
        final = self.root / info.name
        info.version += 1
        info.sha256 = file_sha256(staging / "data.jsonl")
        with open(staging / "meta.json", "w", encoding="utf-8") as fh:
            json.dump({**info.to_dict(), **extra_meta}, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        trash = self.root / f".trash-{uuid.uuid4().hex}"
        os.rename(final, trash)
        os.rename(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
        self.store.execute(
            "UPDATE datasets SET record_count = ?, validation_record_count = ?, size_bytes = ?,"
            " meta = ?, version = ?, sha256 = ? WHERE name = ?",
            (info.record_count, info.validation_record_count, info.size_bytes,
             json.dumps(info.report, ensure_ascii=False), info.version, info.sha256, info.name),
        )
        return info

    def remember_forgotten(self, name: str, digest: str) -> None:
        self.store.execute("INSERT OR IGNORE INTO dataset_forgotten(name, digest) VALUES (?, ?)", (name, digest))

    def forgotten(self, name: str) -> frozenset[str]:
        """The digests of the contacts forgotten from ``name`` (see dialogs.contact_digest)."""
        rows = self.store.query("SELECT digest FROM dataset_forgotten WHERE name = ?", (name,))
        return frozenset(r["digest"] for r in rows)

    def delete(self, name: str) -> None:
        """Remove the row and the files; NOT_FOUND when there is no such dataset."""
        self.get(name)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM datasets WHERE name = ?", (name,))
            conn.execute("DELETE FROM dataset_forgotten WHERE name = ?", (name,))
        directory = self.root / name
        if directory.exists():
            trash = self.root / f".trash-{uuid.uuid4().hex}"
            os.rename(directory, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _info(self, row: Any) -> DatasetInfo:
        directory = self.root / row["name"]
        val = directory / "validation.jsonl"
        return DatasetInfo(
            name=row["name"], source=row["source"], format=row["format"],
            record_count=row["record_count"], validation_record_count=row["validation_record_count"],
            size_bytes=row["size_bytes"], create_time=row["create_time"],
            path=str(directory / "data.jsonl"),
            validation_path=str(val) if row["validation_record_count"] else "",
            job_id=row["job_id"], report=json.loads(row["meta"] or "{}"),
            version=row["version"], sha256=row["sha256"],
        )  # fmt: skip


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
