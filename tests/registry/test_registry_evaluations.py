"""Evaluation reports per adapter version, their provenance, their summary, and the
activation gate (which trusts only reports of an evaluation job, issue 22 item 4).

``jobs`` stands in for the job engine's ``get`` (the registry's only view of a job): a job
record with the engine's fields, NOT_FOUND for an unknown id, as the engine answers. The real
evaluation job's path is tests/trainer/test_trainer_eval_grpc.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError, not_found
from tuneforge.runtime.store import Store
from tuneforge.services.registry.eval_gate import check_activation
from tuneforge.services.registry.evaluations import MIGRATIONS, EvaluationStore, summary

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL


def _report(base_score: float, adapter_score: float) -> dict:
    return {"base": {"style_score": base_score, "eval_loss": 7.0},
            "adapter": {"style_score": adapter_score, "eval_loss": 5.0},
            "samples": [{"reference": "hi", "base": "", "adapter": "hi"}]}


@pytest.fixture
def jobs():
    return {}


@pytest.fixture
def evaluations(store, catalog, jobs):
    def find_job(job_id):
        if job_id not in jobs:
            raise not_found("job", job_id)
        return jobs[job_id]
    return EvaluationStore(store, catalog, find_job)


def _evaluation_job(jobs, job_id, report, *, name="bob", version=1, kind="evaluate", state="SUCCEEDED"):
    jobs[job_id] = SimpleNamespace(kind=kind, state=state, params={"adapter_name": name, "adapter_version": version},
                                   result={"report": report})


def _evaluated(evaluations, jobs, base_score, adapter_score, job_id="job-1"):
    _evaluation_job(jobs, job_id, _report(base_score, adapter_score))
    return evaluations.record("bob", 1, _report(base_score, adapter_score), job_id=job_id)


def test_a_report_is_kept_with_the_adapter_version(evaluations, catalog, src, jobs):
    catalog.import_directory("bob", src())
    _evaluation_job(jobs, "job-1", _report(0.1, 0.8))
    stored = evaluations.record("bob", 0, _report(0.1, 0.8), job_id="job-1")
    assert stored["adapter_version"] == 1 and stored["adapter_name"] == "bob"
    assert stored["provenance"] == "PROVENANCE_EVALUATION_JOB" and stored["job_id"] == "job-1"
    assert evaluations.latest("bob")["adapter"]["style_score"] == 0.8


def test_a_retrained_adapter_has_no_report_until_evaluated_again(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    evaluations.record("bob", 1, _report(0.1, 0.8))
    catalog.import_directory("bob", src(), replace=True)
    assert evaluations.latest("bob") is None and evaluations.latest("bob", 1) is not None


def test_a_report_for_an_older_version_is_refused(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    catalog.import_directory("bob", src(), replace=True)
    with pytest.raises(TuneforgeError) as info:
        evaluations.record("bob", 1, _report(0.1, 0.8))
    assert info.value.reason == "EVALUATION_VERSION_MISMATCH"


def test_a_report_without_scores_is_invalid(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    with pytest.raises(TuneforgeError) as info:
        evaluations.record("bob", 1, {"base": {}, "adapter": {"style_score": 1}})
    assert info.value.code == Code.INVALID_ARGUMENT


def test_summary_names_both_scores_and_the_verdict():
    out = summary({**_report(0.2, 0.7), "adapter_version": 3, "provenance": "PROVENANCE_EVALUATION_JOB"})
    assert out == {"version": 3, "closer_to_owner": True, "samples": 1,
                   "base_style_score": 0.2, "base_eval_loss": 7.0,
                   "adapter_style_score": 0.7, "adapter_eval_loss": 5.0,
                   "provenance": "PROVENANCE_EVALUATION_JOB"}
    assert summary(None) is None


def test_gate_refuses_an_adapter_without_a_report(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.code == Code.FAILED_PRECONDITION and info.value.reason == "EVALUATION_MISSING"


def test_gate_refuses_an_adapter_no_closer_than_its_base(evaluations, catalog, src, jobs):
    catalog.import_directory("bob", src())
    _evaluated(evaluations, jobs, 0.5, 0.5)
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.reason == "EVALUATION_NOT_BETTER" and "0.500" in str(info.value)


def test_gate_passes_an_adapter_closer_to_the_owner(evaluations, catalog, src, jobs):
    catalog.import_directory("bob", src())
    _evaluated(evaluations, jobs, 0.1, 0.8)
    check_activation(evaluations, "bob")


# ------------------------------------------------------------------ provenance (issue 22 item 4)
def test_a_report_sent_without_a_job_is_kept_as_a_clients_and_never_opens_the_gate(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    stored = evaluations.record("bob", 1, {**_report(0.1, 0.99), "provenance": "PROVENANCE_EVALUATION_JOB"})
    assert stored["provenance"] == "PROVENANCE_CLIENT"  # what the client claimed is ignored
    assert evaluations.latest("bob")["provenance"] == "PROVENANCE_CLIENT"
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.reason == "EVALUATION_NOT_TRUSTED"


@pytest.mark.parametrize("job_id, job, why", [
    ("job-none", None, "not a job this installation knows"),
    ("job-train", dict(kind="train"), "is a train job"),
    ("job-failed", dict(state="FAILED"), "is FAILED"),
    ("job-alice", dict(name="alice"), "evaluated 'alice' v1"),
    ("job-v2", dict(version=2), "evaluated 'bob' v2"),
])
def test_a_report_naming_a_job_that_is_not_its_evaluation_is_refused(evaluations, catalog, src, jobs, job_id, job,
                                                                      why):
    catalog.import_directory("bob", src())
    if job is not None:
        _evaluation_job(jobs, job_id, _report(0.1, 0.8), **job)
    with pytest.raises(TuneforgeError) as info:
        evaluations.record("bob", 1, _report(0.1, 0.8), job_id=job_id)
    assert info.value.code == Code.FAILED_PRECONDITION and info.value.reason == "EVALUATION_JOB_UNVERIFIED"
    assert why in str(info.value) and [v.field for v in info.value.violations] == ["job_id"]
    assert evaluations.latest("bob") is None


def test_the_report_kept_under_a_job_is_the_jobs_own_not_the_requests(evaluations, catalog, src, jobs):
    catalog.import_directory("bob", src())
    _evaluation_job(jobs, "job-1", _report(0.5, 0.2))  # the job found the adapter worse
    stored = evaluations.record("bob", 1, _report(0.1, 0.9), job_id="job-1")  # the request says better
    assert stored["adapter"]["style_score"] == 0.2
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.reason == "EVALUATION_NOT_BETTER"


def test_a_clients_report_never_displaces_the_jobs(evaluations, catalog, src, jobs):
    catalog.import_directory("bob", src())
    _evaluated(evaluations, jobs, 0.1, 0.8)
    evaluations.record("bob", 1, _report(0.9, 0.0))  # a later hand-written report
    assert evaluations.latest("bob")["provenance"] == "PROVENANCE_EVALUATION_JOB"
    check_activation(evaluations, "bob")


def test_reports_stored_before_provenance_was_recorded_are_not_trusted(data_root, catalog, src):
    catalog.import_directory("bob", src())
    old = Store(data_root / "old.db")
    old.migrate(MIGRATIONS[:1])
    old.execute("INSERT INTO registry_evaluations(name, version, job_id, report, create_time)"
                " VALUES ('bob', 1, 'job-1', ?, '2026-01-01T00:00:00Z')", (json.dumps(_report(0.1, 0.8)),))
    upgraded = EvaluationStore(old, catalog)
    try:
        assert upgraded.latest("bob")["provenance"] == "PROVENANCE_UNSPECIFIED"
        with pytest.raises(TuneforgeError) as info:
            check_activation(upgraded, "bob")
        assert info.value.reason == "EVALUATION_NOT_TRUSTED"
    finally:
        old.close()
