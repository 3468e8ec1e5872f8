"""Evaluation reports, kept per adapter version.

The trainer's evaluation job (base vs adapter on held-out dialogs, see
``services/trainer/eval_worker.py``) sends its report here; it is stored with the adapter
version it measured, so a retrained adapter (a new version) is never judged by its
predecessor's report. Reports are JSON in ``registry_evaluations`` (one row per name+version,
the newest evaluation of a version wins). Versions never repeat for a name, even after
a delete, so a report can never be mistaken for a later adapter's.

:func:`summary` is the short form ``adapters list/show`` print: both style scores and losses
and whether the adapter is closer to the owner than its base.
"""

from __future__ import annotations

import json
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.runtime.store import Store
from tuneforge.services.registry.adapters import AdapterCatalog, utc_now

MIGRATIONS = [
    (
        "registry_0003_evaluations",
        """
        CREATE TABLE registry_evaluations (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            job_id TEXT NOT NULL DEFAULT '',
            report TEXT NOT NULL,
            create_time TEXT NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
]
SUMMARY_FIELDS = ("style_score", "eval_loss")


class EvaluationStore:
    def __init__(self, store: Store, catalog: AdapterCatalog) -> None:
        self.store = store
        self.catalog = catalog
        store.migrate(MIGRATIONS)

    def record(self, name: str, version: int, report: dict[str, Any], job_id: str = "") -> dict:
        """Keep ``report`` for ``name`` at ``version`` (0 = the current version). NOT_FOUND for an
        unknown adapter; FAILED_PRECONDITION ``EVALUATION_VERSION_MISMATCH`` when the version
        is not the adapter's current one (it was retrained meanwhile)."""
        adapter = self.catalog.get(name)
        version = version or adapter.version
        if version != adapter.version:
            raise failed_precondition(
                "EVALUATION_VERSION_MISMATCH",
                f"the report measured {name} v{version}, but the registry now has v{adapter.version}",
                adapter=name, version=str(version))
        for side in ("base", "adapter"):
            if not isinstance(report.get(side), dict) or "style_score" not in report[side]:
                raise invalid_argument(f"report.{side}", "needs the side's metrics and style_score")
        report = {**report, "adapter_name": name, "adapter_version": version}
        self.store.execute(
            "INSERT OR REPLACE INTO registry_evaluations(name, version, job_id, report, create_time)"
            " VALUES (?, ?, ?, ?, ?)", (name, version, job_id, json.dumps(report), utc_now()))
        return report

    def latest(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The report of ``version`` (default: the adapter's current version), or None."""
        if version is None:
            version = self.catalog.get(name).version
        row = self.store.query_one(
            "SELECT report FROM registry_evaluations WHERE name = ? AND version = ?", (name, version))
        return json.loads(row["report"]) if row else None


def closer_to_owner(report: dict[str, Any]) -> bool:
    """The adapter's style score beats its base's: the one verdict the activation gate uses."""
    return float(report["adapter"]["style_score"]) > float(report["base"]["style_score"])


def summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    out: dict[str, Any] = {"version": report.get("adapter_version", 0),
                           "closer_to_owner": closer_to_owner(report),
                           "samples": len(report.get("samples") or [])}
    for side in ("base", "adapter"):
        for field in SUMMARY_FIELDS:
            out[f"{side}_{field}"] = report[side].get(field)
    return out
