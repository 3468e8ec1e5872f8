"""The evaluation gate binds (issue 22, item 4): with ``activation_requires_eval`` on, no
path puts an unevaluated adapter in front of users — a request's ``require_eval=false``, a
ServeAdapter, a RollbackActivation — and a hand-written report (CreateEvaluation from a
client) is kept as the client's and never opens it. The web console calls these same RPCs.

The path that does open it — the trainer's own evaluation job recording its report — is
tests/trainer/test_trainer_eval_grpc.py::test_gate_refuses_an_untrained_adapter_and_passes_the_trained_one
(it trains); the provenance rules themselves are tests/registry/test_registry_evaluations.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneforge.client import Client, FailedPrecondition
from tuneforge.registry.v1 import registry_pb2 as pb
from tuneforge.services.registry import marker

sys.path.insert(0, str(Path(__file__).parent.parent / "registry"))
from registry_helpers import make_adapter  # noqa: E402

Provenance = pb.EvaluationReport.Provenance


def _register(c: Client, tmp_path: Path, *names: str) -> None:
    for name in names:
        c.registry.register_adapter(name=name, path=str(make_adapter(tmp_path / "incoming" / name)))


@pytest.fixture
def gated(server_factory, tmp_path):
    srv = server_factory(activation_requires_eval=True)
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a", "b")
        yield srv, c


def _flattering_report() -> pb.EvaluationReport:
    return pb.EvaluationReport(base=pb.SideMetrics(style_score=0.1), adapter=pb.SideMetrics(style_score=0.99),
                               closer_to_owner=True, provenance=Provenance.PROVENANCE_EVALUATION_JOB)


def test_a_request_cannot_lift_the_operators_eval_gate(gated, capsys):
    srv, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.activate_adapter(name="a", require_eval=False)
    assert err.value.reason == "EVALUATION_MISSING"
    assert marker.read_active(srv.config.root / "adapters") is None
    assert c.registry.list_activations().activations[0].vllm_state == pb.Activation.VLLM_STATE_FAILED  # REJECTED
    assert "eval_gate_override_refused" in capsys.readouterr().out


def test_serve_adapter_is_gated_by_the_operators_policy(gated):
    _, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.serve_adapter(name="a")
    assert err.value.reason == "EVALUATION_MISSING"
    assert not c.registry.get_adapter(name="a").served


def test_rollback_is_gated_by_the_operators_policy(server_factory, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root, activation_requires_eval=False)  # both went live before the gate was on
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a", "b")
        c.registry.activate_adapter(name="a")
        c.registry.activate_adapter(name="b")
    srv.stop()
    srv = server_factory(root, activation_requires_eval=True)
    with Client(srv.target, timeout=60) as c:
        with pytest.raises(FailedPrecondition) as err:
            c.registry.rollback_activation()
        assert err.value.reason == "EVALUATION_MISSING" and "adapter a " in str(err.value)
        assert c.registry.get_active_adapter().adapter_name == "b"
    assert marker.read_active(root / "adapters") == "b"


def test_a_hand_written_report_is_kept_as_the_clients_and_does_not_open_the_gate(gated):
    _, c = gated
    stored = c.registry.create_evaluation(adapter_name="a", report=_flattering_report())
    assert stored.provenance == Provenance.PROVENANCE_CLIENT and stored.job_id == ""
    assert c.registry.get_evaluation(adapter_name="a").provenance == Provenance.PROVENANCE_CLIENT
    assert c.registry.get_adapter(name="a").evaluation.provenance == Provenance.PROVENANCE_CLIENT
    with pytest.raises(FailedPrecondition) as err:
        c.registry.activate_adapter(name="a")
    assert err.value.reason == "EVALUATION_NOT_TRUSTED"


def test_a_report_under_a_job_id_that_names_no_evaluation_job_is_refused(gated):
    _, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.create_evaluation(adapter_name="a", report=_flattering_report(), job_id="job-20261207-forged")
    assert err.value.reason == "EVALUATION_JOB_UNVERIFIED"
    assert [v.field for v in err.value.field_violations] == ["job_id"]
    with pytest.raises(FailedPrecondition) as err:
        c.registry.activate_adapter(name="a")
    assert err.value.reason == "EVALUATION_MISSING"


def test_replacing_the_live_adapters_files_is_refused_while_the_gate_is_on(server_factory, tmp_path):
    """A re-registered active adapter's new version goes live by itself (its served name
    changes and vLLM follows): with the gate on that would skip it."""
    root = tmp_path / "var"
    srv = server_factory(root, activation_requires_eval=False)
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a")
        c.registry.activate_adapter(name="a")
    srv.stop()
    srv = server_factory(root, activation_requires_eval=True)
    with Client(srv.target, timeout=60) as c:
        with pytest.raises(FailedPrecondition) as err:
            c.registry.register_adapter(name="a", path=str(make_adapter(tmp_path / "retrained" / "a")), replace=True)
        assert err.value.reason == "ADAPTER_LIVE"
        assert c.registry.get_adapter(name="a").version == 1
