"""The adapter catalog: rows in ``state.db`` plus files under ``adapters/<name>/final/``.

An adapter gets in two ways: the trainer registers the ``final/`` directory it wrote
(in place when it already lies at ``adapters/<name>/final``), or a user brings an existing
PEFT adapter directory, which is copied in. Copies are staged in ``adapters/.tmp-*`` and
renamed into place only once the staged files pass validation, so a failed import leaves
nothing behind; deletes rename to ``adapters/.trash-*`` first, then remove. Leftovers of
either kind (a crash mid-way) are swept when the catalog opens.

Every registration gets a version number that never repeats for a name (even after a
delete), so vLLM can serve each version under its own name (``name@v3``).
Timestamps are ISO-8601 UTC strings.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import (
    FieldViolation,
    already_exists,
    failed_precondition,
    invalid_argument,
    invalid_fields,
    not_found,
)
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.store import Store
from tuneforge.services.registry import marker
from tuneforge.services.registry.peft_files import ADAPTER_FILES, AdapterFiles, inspect_adapter_dir

MIGRATIONS = [
    (
        "registry_0001_adapters",
        """
        CREATE TABLE registry_adapters (
            name TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            base_model TEXT NOT NULL,
            dataset TEXT NOT NULL DEFAULT '',
            job_id TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            rank INTEGER NOT NULL,
            lora_alpha REAL NOT NULL,
            target_modules TEXT NOT NULL,
            lora_modules TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',
            size_bytes INTEGER NOT NULL,
            create_time TEXT NOT NULL,
            update_time TEXT NOT NULL
        );
        CREATE TABLE registry_adapter_versions (
            name TEXT PRIMARY KEY,
            last_version INTEGER NOT NULL
        );
        """,
    ),
    (
        "registry_0002_adapter_variant",
        "ALTER TABLE registry_adapters ADD COLUMN variant TEXT NOT NULL DEFAULT '';",
    ),
]

SOURCES = ("trainer", "directory", "archive")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Adapter:
    name: str
    version: int
    path: Path  # adapters/<name>/final
    base_model: str
    dataset: str
    job_id: str
    source: str  # trainer | directory | archive
    rank: int
    lora_alpha: float
    target_modules: list[str]
    lora_modules: list[str]  # module names present in the weights
    metrics: dict[str, float]
    size_bytes: int
    create_time: str
    update_time: str
    variant: str = ""  # lora | dora | rslora ("" = registered before variants were recorded)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def served_name(self) -> str:
        """The name vLLM serves this version under."""
        return f"{self.name}@v{self.version}"


class AdapterCatalog:
    def __init__(self, store: Store, data_root: Path | str) -> None:
        self.store = store
        self.adapters_dir = Path(data_root) / "adapters"
        self.adapters_dir.mkdir(parents=True, exist_ok=True)
        store.migrate(MIGRATIONS)
        self._lock = threading.RLock()
        self._sweep_leftovers()

    # ---------------------------------------------------------------- paths
    def adapter_dir(self, name: str) -> Path:
        return self.adapters_dir / validate_name(name)

    def final_dir(self, name: str) -> Path:
        return self.adapter_dir(name) / "final"

    def staging_dir(self) -> Path:
        """A fresh empty directory inside adapters/ (same filesystem, so rename is atomic)."""
        path = self.adapters_dir / f".tmp-{uuid.uuid4().hex}"
        path.mkdir()
        return path

    def active_name(self) -> str | None:
        return marker.read_active(self.adapters_dir)

    # ------------------------------------------------------------- register
    def register(
        self,
        name: str,
        path: Path | str,
        *,
        base_model: str | None = None,
        dataset: str = "",
        metrics: dict[str, float] | None = None,
        job_id: str = "",
        source: str = "trainer",
        replace: bool = False,
    ) -> Adapter:
        """Register the adapter in ``path``: in place if it is ``adapters/<name>/final``,
        else copied in. ``replace`` swaps the files of an existing adapter and bumps its
        version; without it a taken name is ALREADY_EXISTS. Bad files: INVALID_ARGUMENT."""
        validate_name(name)
        if source not in SOURCES:
            raise invalid_argument("source", f"must be one of {', '.join(SOURCES)}")
        clean_metrics = _check_metrics(metrics or {})
        src = Path(path)
        if not src.is_dir():
            raise invalid_argument("path", f"{str(src)!r} is not a directory", reason="ADAPTER_INVALID")
        final = self.final_dir(name)
        if src.resolve() == final.resolve() and not src.is_symlink():
            with self._lock:
                files = inspect_adapter_dir(final, base_model)
                return self._record(name, files, dataset, clean_metrics, job_id, source, replace)
        staging = self.staging_dir()
        try:
            _copy_adapter_files(src, staging / "final")
            files = inspect_adapter_dir(staging / "final", base_model)
            with self._lock:
                return self._install(name, staging, files, dataset, clean_metrics, job_id, source, replace)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def register_from_trainer(
        self,
        name: str,
        final_dir: Path | str,
        base_model: str,
        dataset: str = "",
        metrics: dict[str, float] | None = None,
        job_id: str = "",
        replace: bool = True,
    ) -> Adapter:
        """What the trainer calls when a job succeeds (a retrained name gets a new version)."""
        return self.register(
            name, final_dir, base_model=base_model, dataset=dataset, metrics=metrics,
            job_id=job_id, source="trainer", replace=replace,
        )

    def import_directory(self, name: str, path: Path | str, replace: bool = False) -> Adapter:
        """Copy an existing PEFT adapter directory in (the top-level files a PEFT adapter
        uses; links and sub-directories such as checkpoints are skipped)."""
        return self.register(name, path, source="directory", replace=replace)

    def install_staged(
        self, name: str, staging: Path, *, source: str, replace: bool = False,
        dataset: str = "", metrics: dict[str, float] | None = None,
    ) -> Adapter:
        """Move ``staging/final`` (a directory made by :meth:`staging_dir`) into place."""
        validate_name(name)
        files = inspect_adapter_dir(staging / "final")
        with self._lock:
            return self._install(name, staging, files, dataset, _check_metrics(metrics or {}), "", source, replace)

    def _install(
        self, name: str, staging: Path, files: AdapterFiles, dataset: str,
        metrics: dict[str, float], job_id: str, source: str, replace: bool,
    ) -> Adapter:
        exists = self._row(name) is not None
        if exists and not replace:
            raise already_exists("adapter", name)
        target = self.adapter_dir(name)
        final = target / "final"
        trash: Path | None = None
        created = not target.exists()
        if created:
            os.rename(staging, target)  # one rename: adapters/<name>/ appears complete
            staging.mkdir()  # so the caller's cleanup finds something to remove
        else:
            if final.exists():
                trash = self.adapters_dir / f".trash-{uuid.uuid4().hex}"
                os.rename(final, trash)
            try:
                os.rename(staging / "final", final)
            except BaseException:
                if trash is not None:
                    os.rename(trash, final)
                raise
        try:
            return self._record(name, files, dataset, metrics, job_id, source, replace=True)
        except BaseException:
            if created:  # no row, so no files either
                os.rename(target, self.adapters_dir / f".trash-{uuid.uuid4().hex}")
            raise
        finally:
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)

    def _record(
        self, name: str, files: AdapterFiles, dataset: str, metrics: dict[str, float],
        job_id: str, source: str, replace: bool,
    ) -> Adapter:
        now = utc_now()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT create_time FROM registry_adapters WHERE name=?", (name,)).fetchone()
            if row is not None and not replace:
                raise already_exists("adapter", name)
            conn.execute(
                "INSERT INTO registry_adapter_versions(name, last_version) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET last_version = registry_adapter_versions.last_version + 1",
                (name,),
            )
            version = conn.execute(
                "SELECT last_version FROM registry_adapter_versions WHERE name=?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT OR REPLACE INTO registry_adapters(name, version, base_model, dataset, job_id,"
                " source, rank, lora_alpha, target_modules, lora_modules, metrics, size_bytes,"
                " create_time, update_time, variant) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    name, version, files.base_model, dataset, job_id, source, files.rank,
                    files.lora_alpha, json.dumps(files.target_modules), json.dumps(files.lora_modules),
                    json.dumps(metrics), files.size_bytes, row["create_time"] if row else now, now,
                    files.variant,
                ),
            )
        return self.get(name)

    # ----------------------------------------------------------------- read
    def get(self, name: str) -> Adapter:
        validate_name(name)
        row = self._row(name)
        if row is None:
            raise not_found("adapter", name)
        return self._adapter(row)

    def exists(self, name: str) -> bool:
        return self._row(name) is not None

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[Adapter], int]:
        """Adapters by name; returns ``(page, total)``."""
        if offset < 0:
            raise invalid_argument("offset", "must not be negative")
        if limit <= 0:
            raise invalid_argument("limit", "must be positive")
        total = self.store.query_one("SELECT COUNT(*) FROM registry_adapters")[0]
        rows = self.store.query(
            "SELECT * FROM registry_adapters ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
        )
        return [self._adapter(r) for r in rows], total

    # --------------------------------------------------------------- delete
    def delete(self, name: str, force: bool = False) -> None:
        """Remove the row and ``adapters/<name>/`` (checkpoints included). The active
        adapter is FAILED_PRECONDITION ``ADAPTER_ACTIVE`` unless ``force``; forcing clears
        the marker here but tells vLLM nothing — prefer ActivationManager.delete_adapter."""
        validate_name(name)
        with self._lock:
            if self._row(name) is None:
                raise not_found("adapter", name)
            if self.active_name() == name:
                if not force:
                    raise failed_precondition(
                        "ADAPTER_ACTIVE",
                        f"adapter {name!r} is active; deactivate it or delete with force",
                        adapter=name,
                    )
                marker.write_active(self.adapters_dir, None)
            target = self.adapter_dir(name)
            trash = self.adapters_dir / f".trash-{uuid.uuid4().hex}"
            with self.store.transaction() as conn:
                conn.execute("DELETE FROM registry_adapters WHERE name=?", (name,))
                if target.exists():
                    os.rename(target, trash)
            shutil.rmtree(trash, ignore_errors=True)

    # -------------------------------------------------------------- helpers
    def _row(self, name: str):
        return self.store.query_one("SELECT * FROM registry_adapters WHERE name=?", (name,))

    def _adapter(self, row) -> Adapter:
        return Adapter(
            name=row["name"], version=row["version"], path=self.adapters_dir / row["name"] / "final",
            base_model=row["base_model"], dataset=row["dataset"], job_id=row["job_id"],
            source=row["source"], rank=row["rank"], lora_alpha=row["lora_alpha"],
            target_modules=json.loads(row["target_modules"]), lora_modules=json.loads(row["lora_modules"]),
            metrics=json.loads(row["metrics"]), size_bytes=row["size_bytes"],
            create_time=row["create_time"], update_time=row["update_time"], variant=row["variant"],
        )

    def _sweep_leftovers(self) -> None:
        for entry in self.adapters_dir.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def _check_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    problems, clean = [], {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            problems.append(FieldViolation("metrics", f"bad metric name {key!r}"))
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(FieldViolation(f"metrics.{key}", f"must be a number, got {value!r}"))
        else:
            clean[key] = float(value)
    if problems:
        raise invalid_fields(problems)
    return clean


def _copy_adapter_files(src: Path, dst: Path) -> None:
    """Copy the files a PEFT adapter uses (:data:`ADAPTER_FILES`), never through a link."""
    dst.mkdir(parents=True)
    for entry in sorted(src.iterdir()):
        if entry.name not in ADAPTER_FILES or entry.is_symlink() or not entry.is_file():
            continue
        shutil.copyfile(entry, dst / entry.name, follow_symlinks=False)
