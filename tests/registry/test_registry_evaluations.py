"""Evaluation reports per adapter version, their summary, and the activation gate."""

from __future__ import annotations

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.registry.eval_gate import check_activation
from tuneforge.services.registry.evaluations import EvaluationStore, summary


def _report(base_score: float, adapter_score: float) -> dict:
    return {"base": {"style_score": base_score, "eval_loss": 7.0},
            "adapter": {"style_score": adapter_score, "eval_loss": 5.0},
            "samples": [{"reference": "hi", "base": "", "adapter": "hi"}]}


@pytest.fixture
def evaluations(store, catalog):
    return EvaluationStore(store, catalog)


def test_a_report_is_kept_with_the_adapter_version(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    stored = evaluations.record("bob", 0, _report(0.1, 0.8), job_id="job-1")
    assert stored["adapter_version"] == 1 and stored["adapter_name"] == "bob"
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
    out = summary({**_report(0.2, 0.7), "adapter_version": 3})
    assert out == {"version": 3, "closer_to_owner": True, "samples": 1,
                   "base_style_score": 0.2, "base_eval_loss": 7.0,
                   "adapter_style_score": 0.7, "adapter_eval_loss": 5.0}
    assert summary(None) is None


def test_gate_refuses_an_adapter_without_a_report(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.code == Code.FAILED_PRECONDITION and info.value.reason == "EVALUATION_MISSING"


def test_gate_refuses_an_adapter_no_closer_than_its_base(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    evaluations.record("bob", 1, _report(0.5, 0.5))
    with pytest.raises(TuneforgeError) as info:
        check_activation(evaluations, "bob")
    assert info.value.reason == "EVALUATION_NOT_BETTER" and "0.500" in str(info.value)


def test_gate_passes_an_adapter_closer_to_the_owner(evaluations, catalog, src):
    catalog.import_directory("bob", src())
    evaluations.record("bob", 1, _report(0.1, 0.8))
    check_activation(evaluations, "bob")
