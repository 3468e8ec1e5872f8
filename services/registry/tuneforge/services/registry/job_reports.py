"""Reports the registry keeps only from the trainer's own jobs: an evaluation's (the evaluation
gate) and a leak audit's (the audit gate).

A client cannot forge one. A report names the job that made it (``job_id``); the registry
looks that job up through the job engine (every service of one installation shares its
store), checks it is a job of the right kind for this adapter version, and keeps the report
the job itself produced, never the copy in the request. Jobs are created only by the
services, and only the worker writes a job's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError

# RUNNING: the job is finishing — its on_success hook is what sends the report here.
VERIFIABLE_STATES = ("RUNNING", "SUCCEEDED")


@dataclass(frozen=True)
class JobReportRule:
    """What a report of one kind must come from, and how a refusal says it."""

    kind: str  # the trainer's job kind (Job.kind in the jobs contract)
    noun: str  # "an evaluation": what the job must be
    verb: str  # "evaluated": what the job did to an adapter version
    reason: str  # the refusal's ErrorInfo reason
    kept: str  # the end of the refusal's message: when a report is kept


def report_of_job(find_job: Callable[[str], Any] | None, rule: JobReportRule, job_id: str,
                  name: str, version: int) -> dict[str, Any]:
    """The report job ``job_id`` produced for adapter ``name`` v``version``; FAILED_PRECONDITION
    ``rule.reason`` naming ``job_id`` when it is not such a job."""
    def unverified(why: str) -> TuneforgeError:
        return TuneforgeError(Code.FAILED_PRECONDITION, rule.reason, f"job {job_id!r} {why}; {rule.kept}",
                              [FieldViolation("job_id", why)], {"adapter": name, "job_id": job_id})
    if find_job is None:
        raise unverified("cannot be checked: this registry has no job engine")
    try:
        job = find_job(job_id)
    except TuneforgeError:
        raise unverified("is not a job this installation knows") from None
    params = job.params or {}
    measured = int(params.get("adapter_version") or 0)
    report = (job.result or {}).get("report")
    if job.kind != rule.kind:
        raise unverified(f"is a {job.kind} job, not {rule.noun}")
    if job.state not in VERIFIABLE_STATES:
        raise unverified(f"is {job.state}")
    if params.get("adapter_name") != name or measured not in (0, version):
        raise unverified(f"{rule.verb} {params.get('adapter_name')!r} v{measured}, not {name} v{version}")
    if not isinstance(report, dict):
        raise unverified("has no report")
    return report
