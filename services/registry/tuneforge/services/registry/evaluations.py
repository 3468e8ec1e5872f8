"""Evaluation reports, kept per adapter version, with where each came from.

The trainer's evaluation job (base vs adapter on held-out dialogs, see
``services/trainer/eval_worker.py``) sends its report here; it is stored with the adapter
version it measured, so a retrained adapter (a new version) is never judged by its
predecessor's report. Versions never repeat for a name, even after a delete, so a report can
never be mistaken for a later adapter's.

Provenance is what the activation gate trusts, and a client cannot forge it: a report that
names its ``job_id`` is checked against that job through the job engine (``find_job``,
reading the job store every service of an installation shares, in one process or as
separate ones on one data root) — a job
of kind ``evaluate``, finishing or SUCCEEDED, that measured this adapter and version — and
the report kept is the one *the job* produced, not the copy in the request. That is
``evaluation_job`` provenance; only it satisfies the gate. A report sent without a job is
kept as ``client`` (shown, never trusted); one naming a job that is not such an evaluation
is refused (``EVALUATION_JOB_UNVERIFIED``). Each version keeps its newest report of each
provenance (``registry_evaluation_reports``), so a client's report never displaces a job's.

:func:`summary` is the short form ``adapters list/show`` print: both style scores and losses,
whether the adapter is closer to the owner than its base, and the provenance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.runtime.store import Store
from tuneforge.services.registry.adapters import AdapterCatalog, utc_now
from tuneforge.services.registry.job_reports import JobReportRule, report_of_job

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
    (
        # Reports stored before provenance was recorded cannot be told apart: "unspecified",
        # never trusted (run the evaluation again).
        "registry_0004_evaluation_provenance",
        """
        CREATE TABLE registry_evaluation_reports (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            provenance TEXT NOT NULL,
            job_id TEXT NOT NULL DEFAULT '',
            report TEXT NOT NULL,
            create_time TEXT NOT NULL,
            PRIMARY KEY (name, version, provenance)
        );
        INSERT INTO registry_evaluation_reports(name, version, provenance, job_id, report, create_time)
            SELECT name, version, 'unspecified', job_id, report, create_time FROM registry_evaluations;
        DROP TABLE registry_evaluations;
        """,
    ),
]
SUMMARY_FIELDS = ("style_score", "eval_loss")
EVALUATION_JOB, CLIENT, UNSPECIFIED = "evaluation_job", "client", "unspecified"
EVALUATION_KIND = "evaluate"  # the trainer's job kind (Job.kind in the jobs contract)
EVALUATION_JOB_RULE = JobReportRule(
    EVALUATION_KIND, "an evaluation", "evaluated", "EVALUATION_JOB_UNVERIFIED",
    "a report is kept under a job id only when it is that evaluation job's own")
_PREFERENCE = f"CASE provenance WHEN '{EVALUATION_JOB}' THEN 0 WHEN '{CLIENT}' THEN 1 ELSE 2 END"


class EvaluationStore:
    def __init__(self, store: Store, catalog: AdapterCatalog,
                 find_job: Callable[[str], Any] | None = None) -> None:
        """``find_job(job_id)``: the job engine's view of a job (kind, state, params, result);
        raises NOT_FOUND. Without it no report can be verified (all are ``client``)."""
        self.store = store
        self.catalog = catalog
        self.find_job = find_job
        store.migrate(MIGRATIONS)

    def record(self, name: str, version: int, report: dict[str, Any], job_id: str = "") -> dict:
        """Keep ``report`` for ``name`` at ``version`` (0 = the current version). NOT_FOUND for an
        unknown adapter; FAILED_PRECONDITION ``EVALUATION_VERSION_MISMATCH`` when the version
        is not the adapter's current one (it was retrained meanwhile), ``EVALUATION_JOB_UNVERIFIED``
        when ``job_id`` names no evaluation job of this adapter version."""
        adapter = self.catalog.get(name)
        version = version or adapter.version
        if version != adapter.version:
            raise failed_precondition(
                "EVALUATION_VERSION_MISMATCH",
                f"the report measured {name} v{version}, but the registry now has v{adapter.version}",
                adapter=name, version=str(version))
        provenance = CLIENT
        if job_id:
            report, provenance = report_of_job(self.find_job, EVALUATION_JOB_RULE, job_id, name, version), EVALUATION_JOB
        for side in ("base", "adapter"):
            if not isinstance(report.get(side), dict) or "style_score" not in report[side]:
                raise invalid_argument(f"report.{side}", "needs the side's metrics and style_score")
        report = {k: v for k, v in report.items() if k not in ("provenance", "job_id")}
        report = {**report, "adapter_name": name, "adapter_version": version}
        self.store.execute(
            "INSERT OR REPLACE INTO registry_evaluation_reports(name, version, provenance, job_id, report,"
            " create_time) VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, provenance, job_id, json.dumps(report), utc_now()))
        return _with_provenance(report, provenance, job_id)

    def latest(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The report of ``version`` (default: the adapter's current version) to show: the
        evaluation job's when there is one, else a client's; with ``provenance`` and
        ``job_id``. None when there is none."""
        if version is None:
            version = self.catalog.get(name).version
        row = self.store.query_one(
            "SELECT report, provenance, job_id FROM registry_evaluation_reports WHERE name = ? AND version = ?"
            f" ORDER BY {_PREFERENCE}, create_time DESC LIMIT 1", (name, version))
        return _with_provenance(json.loads(row["report"]), row["provenance"], row["job_id"]) if row else None

    def trusted(self, name: str, version: int) -> dict[str, Any] | None:
        """The report of an evaluation job for ``name`` v``version``: what the gate judges by."""
        report = self.latest(name, version)
        return report if report is not None and report["provenance"] == PROVENANCE_PB[EVALUATION_JOB] else None


PROVENANCE_PB = {EVALUATION_JOB: "PROVENANCE_EVALUATION_JOB", CLIENT: "PROVENANCE_CLIENT",
                 UNSPECIFIED: "PROVENANCE_UNSPECIFIED"}


def _with_provenance(report: dict[str, Any], provenance: str, job_id: str) -> dict[str, Any]:
    """The report as the API shows it: ``provenance`` (the proto enum's name) and its job."""
    return {**report, "provenance": PROVENANCE_PB.get(provenance, PROVENANCE_PB[UNSPECIFIED]),
            "job_id": job_id if provenance == EVALUATION_JOB else ""}


def closer_to_owner(report: dict[str, Any]) -> bool:
    """The adapter's style score beats its base's: the one verdict the activation gate uses."""
    return float(report["adapter"]["style_score"]) > float(report["base"]["style_score"])


def summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    out: dict[str, Any] = {"version": report.get("adapter_version", 0),
                           "closer_to_owner": closer_to_owner(report),
                           "samples": len(report.get("samples") or []),
                           "provenance": report.get("provenance") or PROVENANCE_PB[UNSPECIFIED]}
    for side in ("base", "adapter"):
        for field in SUMMARY_FIELDS:
            out[f"{side}_{field}"] = report[side].get(field)
    return out
