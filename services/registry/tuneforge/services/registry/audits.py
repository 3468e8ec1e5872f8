"""Leak audit reports, kept per adapter version — and the gate that reads them.

The trainer's audit job (``services/trainer/audit_worker.py``) prompts an adapter with the
contexts of what the import's scrubber removed and with openings of training messages, and
counts completions that reproduce a scrubbed value or a long verbatim span. Its report comes
here the way an evaluation's does (evaluations.py), with one difference: there is no
client-written audit at all. ``record`` needs the ``job_id`` of an ``audit`` job of this
adapter version, which the job engine confirms (``find_job``), and keeps the report *that job*
produced. Each version keeps its newest audit.

With the setting ``activation_requires_audit`` on, the activation manager calls
:func:`check_audit` (beside the evaluation gate) before every activate, rollback and serve:
FAILED_PRECONDITION ``AUDIT_MISSING`` when the adapter's current version has no audit,
``AUDIT_FAILED`` when its audit failed. Reports hold no secret: the worker masks every
example (``[MASKED]``) before it writes its result.
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
        "registry_audits_0001",
        """
        CREATE TABLE registry_audits (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            job_id TEXT NOT NULL,
            report TEXT NOT NULL,
            create_time TEXT NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
]
AUDIT_KIND = "audit"  # the trainer's job kind
AUDIT_JOB = JobReportRule(AUDIT_KIND, "an audit", "audited", "AUDIT_JOB_UNVERIFIED",
                          "an audit report is kept only from that audit job itself")


class AuditStore:
    def __init__(self, store: Store, catalog: AdapterCatalog,
                 find_job: Callable[[str], Any] | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.find_job = find_job
        store.migrate(MIGRATIONS)

    def record(self, name: str, version: int, job_id: str) -> dict[str, Any]:
        """Keep the report of audit job ``job_id`` for ``name`` at ``version`` (0 = current).
        NOT_FOUND for an unknown adapter; FAILED_PRECONDITION ``AUDIT_VERSION_MISMATCH`` when
        the adapter was re-registered meanwhile, ``AUDIT_JOB_UNVERIFIED`` when the job is not
        an audit of this adapter version."""
        adapter = self.catalog.get(name)
        version = version or adapter.version
        if version != adapter.version:
            raise failed_precondition(
                "AUDIT_VERSION_MISMATCH", f"the audit covered {name} v{version}, but the registry now has "
                f"v{adapter.version}", adapter=name, version=str(version))
        if not job_id:
            raise invalid_argument("job_id", "required: only the trainer's audit job makes audit reports")
        report = {**report_of_job(self.find_job, AUDIT_JOB, job_id, name, version), "adapter_name": name,
                  "adapter_version": version, "job_id": job_id}
        self.store.execute(
            "INSERT OR REPLACE INTO registry_audits(name, version, job_id, report, create_time)"
            " VALUES (?, ?, ?, ?, ?)", (name, version, job_id, json.dumps(report), utc_now()))
        return report

    def latest(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The audit of ``version`` (default: the adapter's current one), or None."""
        if version is None:
            version = self.catalog.get(name).version
        row = self.store.query_one("SELECT report FROM registry_audits WHERE name = ? AND version = ?",
                                   (name, version))
        return json.loads(row["report"]) if row else None


def summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The short form ``adapters list/show`` print (Adapter.audit)."""
    if report is None:
        return None
    return {"version": int(report.get("adapter_version") or 0), "passed": bool(report.get("passed")),
            "probes": int(report.get("probes") or 0), "reproduced": int(report.get("reproduced") or 0),
            "verbatim": int(report.get("verbatim") or 0), "job_id": report.get("job_id") or ""}


def check_audit(audits: AuditStore, name: str) -> None:
    """The audit gate: the adapter's current version has a passed audit of an audit job."""
    adapter = audits.catalog.get(name)
    report = audits.latest(name, adapter.version)
    if report is None:
        raise failed_precondition(
            "AUDIT_MISSING", f"adapter {name} v{adapter.version} has no leak audit and activation requires "
            f"one; run `tuneforge adapters audit {name}` first", adapter=name, version=str(adapter.version))
    if not report.get("passed"):
        why = "; ".join(report.get("reasons") or []) or "it failed"
        raise failed_precondition(
            "AUDIT_FAILED", f"adapter {name} v{adapter.version} failed its leak audit ({why}); retrain it "
            f"on scrubbed data or with fewer epochs", adapter=name, version=str(adapter.version))
