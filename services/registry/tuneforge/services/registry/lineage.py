"""Lineage: which dataset version each adapter version learned from, and retracted data.

Every registration adds a row to ``registry_adapter_lineage`` (name, version, dataset,
dataset version, the SHA-256 of its data.jsonl, job): the adapter catalog keeps only the
current version, this keeps all of them, so ``adapters lineage NAME`` can show each.

``dataset forget`` makes a dataset's next version without a person's messages and then
calls :meth:`Lineage.retract` (RetractDatasetData): a row in ``registry_data_retractions``
says "the versions of dataset D before V held removed data". An adapter version is *marked*
(``data_retraction``) when it was trained on D at a version below such a V — computed from
the two tables, so an adapter registered later on an old version (a job started before the
forget) is marked too, and retracting twice changes nothing. A version registered without a
dataset version (0: before lineage was recorded, or a client that gave none) counts as older
than any. The activation manager refuses to put a marked version in front of users
(activate, rollback, serve) with FAILED_PRECONDITION ``ADAPTER_TRAINED_ON_FORGOTTEN_DATA``
unless the request says ``force`` (:func:`check_not_retracted`).

Retracting also deletes, from every stored evaluation report of the marked versions, the
samples that hold the removed data: a sample message or reference whose SHA-256 is one the
dataset service sent (the texts themselves never reach the registry), or any sample text
containing one of the given terms (the person's name or id).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.store import Store
from tuneforge.services.registry.adapters import Adapter, utc_now

MIGRATIONS = [
    (
        "registry_0005_lineage",
        """
        CREATE TABLE registry_adapter_lineage (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            dataset TEXT NOT NULL DEFAULT '',
            dataset_version INTEGER NOT NULL DEFAULT 0,
            dataset_sha256 TEXT NOT NULL DEFAULT '',
            job_id TEXT NOT NULL DEFAULT '',
            register_time TEXT NOT NULL,
            PRIMARY KEY (name, version)
        );
        CREATE TABLE registry_data_retractions (
            dataset TEXT NOT NULL,
            version INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            retract_time TEXT NOT NULL,
            PRIMARY KEY (dataset, version)
        );
        -- adapters registered before lineage was kept: their dataset at an unknown version (0)
        INSERT INTO registry_adapter_lineage(name, version, dataset, dataset_version, dataset_sha256, job_id,
                                             register_time)
            SELECT name, version, dataset, 0, '', job_id, update_time FROM registry_adapters;
        """,
    ),
]
FORGOTTEN = "ADAPTER_TRAINED_ON_FORGOTTEN_DATA"


@dataclass(frozen=True)
class Retraction:
    dataset: str
    superseded_by_version: int
    reason: str
    retract_time: str


@dataclass(frozen=True)
class LineageEntry:
    name: str
    version: int
    dataset: str
    dataset_version: int
    dataset_sha256: str
    job_id: str
    register_time: str
    retraction: Retraction | None


class Lineage:
    def __init__(self, store: Store) -> None:
        """Open after the adapter catalog (its table is read once, by the migration)."""
        self.store = store
        store.migrate(MIGRATIONS)

    def record(self, adapter: Adapter, dataset_version: int = 0, dataset_sha256: str = "") -> None:
        """Called for every registration (the adapter as just registered)."""
        if dataset_version < 0:
            raise invalid_argument("dataset_version", "must not be negative")
        self.store.execute(
            "INSERT OR REPLACE INTO registry_adapter_lineage(name, version, dataset, dataset_version,"
            " dataset_sha256, job_id, register_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (adapter.name, adapter.version, adapter.dataset, dataset_version, dataset_sha256,
             adapter.job_id, adapter.update_time or utc_now()))  # fmt: skip

    def entry(self, name: str, version: int) -> LineageEntry | None:
        row = self.store.query_one(
            "SELECT * FROM registry_adapter_lineage WHERE name = ? AND version = ?", (name, version))
        return self._entry(row) if row else None

    def history(self, name: str) -> list[LineageEntry]:
        """Every recorded version of ``name``, newest first."""
        validate_name(name, "name")
        rows = self.store.query(
            "SELECT * FROM registry_adapter_lineage WHERE name = ? ORDER BY version DESC", (name,))
        return [self._entry(r) for r in rows]

    def retraction(self, dataset: str, dataset_version: int) -> Retraction | None:
        """The first retraction that covers ``dataset`` at ``dataset_version``."""
        if not dataset:
            return None
        row = self.store.query_one(
            "SELECT * FROM registry_data_retractions WHERE dataset = ? AND version > ?"
            " ORDER BY version LIMIT 1", (dataset, dataset_version))
        return Retraction(row["dataset"], row["version"], row["reason"], row["retract_time"]) if row else None

    def retract(self, dataset: str, version: int, reason: str, evaluations: Any,
                digests: list[str], terms: list[str]) -> tuple[list[LineageEntry], int]:
        """Mark the versions of ``dataset`` below ``version``; returns the adapter versions
        trained on them and how many evaluation samples were deleted."""
        validate_name(dataset, "dataset")
        if version < 2:
            raise invalid_argument("version", "must be the new dataset version (2 or more): every earlier one is retracted")
        self.store.execute(
            "INSERT OR IGNORE INTO registry_data_retractions(dataset, version, reason, retract_time)"
            " VALUES (?, ?, ?, ?)", (dataset, version, reason, utc_now()))
        rows = self.store.query(
            "SELECT * FROM registry_adapter_lineage WHERE dataset = ? AND dataset_version < ?"
            " ORDER BY name, version", (dataset, version))
        marked = [self._entry(r) for r in rows]
        redacted = sum(redact_reports(evaluations.store, e.name, e.version, set(digests), terms) for e in marked)
        return marked, redacted

    def _entry(self, row: Any) -> LineageEntry:
        return LineageEntry(row["name"], row["version"], row["dataset"], row["dataset_version"],
                            row["dataset_sha256"], row["job_id"], row["register_time"],
                            self.retraction(row["dataset"], row["dataset_version"]))


def check_not_retracted(lineage: Lineage, adapter: Adapter) -> None:
    """FAILED_PRECONDITION ``ADAPTER_TRAINED_ON_FORGOTTEN_DATA`` for a marked version."""
    entry = lineage.entry(adapter.name, adapter.version)
    mark = lineage.retraction(entry.dataset, entry.dataset_version) if entry else None
    if mark is not None:
        raise failed_precondition(
            FORGOTTEN,
            f"adapter {adapter.name} v{adapter.version} was trained on dataset {mark.dataset} before version "
            f"{mark.superseded_by_version}, whose data was since removed ({mark.reason}); retrain it on the new "
            "version, or pass force to use it anyway", adapter=adapter.name, version=str(adapter.version))


def _digest(text: Any) -> str:
    return hashlib.sha256(str(text).strip().encode("utf-8")).hexdigest() if isinstance(text, str) else ""


def _holds(sample: dict[str, Any], digests: set[str], terms: list[str]) -> bool:
    texts = [m.get("content", "") for m in sample.get("messages") or () if isinstance(m, dict)]
    texts += [sample.get(k, "") for k in ("reference", "base", "adapter")]
    texts = [t for t in texts if isinstance(t, str)]
    if any(_digest(t) in digests for t in texts):
        return True
    folded = [t.casefold() for t in texts]
    return any(term.casefold() in t for term in terms if term.strip() for t in folded)


def redact_reports(store: Store, name: str, version: int, digests: set[str], terms: list[str]) -> int:
    """Delete the samples holding removed data from every stored report of ``name`` v``version``."""
    removed = 0
    rows = store.query("SELECT provenance, report FROM registry_evaluation_reports WHERE name = ? AND version = ?",
                       (name, version))
    for row in rows:
        report = json.loads(row["report"])
        samples = report.get("samples") or []
        kept = [s for s in samples if not (isinstance(s, dict) and _holds(s, digests, terms))]
        if len(kept) != len(samples):
            removed += len(samples) - len(kept)
            report["samples"] = kept
            report["samples_redacted"] = int(report.get("samples_redacted") or 0) + len(samples) - len(kept)
            store.execute(
                "UPDATE registry_evaluation_reports SET report = ? WHERE name = ? AND version = ? AND provenance = ?",
                (json.dumps(report), name, version, row["provenance"]))
    return removed
