"""The leak audit gate binds (issue 25, item 8): with ``activation_requires_audit`` on, no path
puts an unaudited adapter in front of users, and no client can write an audit report: the
registry keeps one only from the trainer's audit job, read from that job itself.

The audit itself (an adapter overfit on a planted phone number caught, a normal one passing)
is tests/trainer/test_trainer_audit_grpc.py (it trains).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneforge.client import Client, FailedPrecondition, InvalidArgument
from tuneforge.services.registry import marker

sys.path.insert(0, str(Path(__file__).parent.parent / "registry"))
from registry_helpers import make_adapter  # noqa: E402


def _register(c: Client, tmp_path: Path, *names: str) -> None:
    for name in names:
        c.registry.register_adapter(name=name, path=str(make_adapter(tmp_path / "incoming" / name)))


@pytest.fixture
def gated(server_factory, tmp_path):
    srv = server_factory(activation_requires_audit=True)
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a")
        yield srv, c


def test_activation_of_an_unaudited_adapter_is_refused_with_audit_missing(gated):
    srv, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.activate_adapter(name="a")
    assert err.value.reason == "AUDIT_MISSING" and "tuneforge adapters audit a" in str(err.value)
    assert marker.read_active(srv.config.root / "adapters") is None


def test_serving_an_unaudited_adapter_is_refused(gated):
    _, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.serve_adapter(name="a")
    assert err.value.reason == "AUDIT_MISSING"
    assert not c.registry.get_adapter(name="a").served


def test_rollback_to_an_unaudited_adapter_is_refused(server_factory, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root, activation_requires_audit=False)  # both went live before the gate was on
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a", "b")
        c.registry.activate_adapter(name="a")
        c.registry.activate_adapter(name="b")
    srv.stop()
    srv = server_factory(root, activation_requires_audit=True)
    with Client(srv.target, timeout=60) as c:
        with pytest.raises(FailedPrecondition) as err:
            c.registry.rollback_activation()
        assert err.value.reason == "AUDIT_MISSING"
        assert c.registry.get_active_adapter().adapter_name == "b"


def test_an_audit_report_without_its_job_is_refused(gated):
    _, c = gated
    with pytest.raises(InvalidArgument) as err:
        c.registry.create_audit(adapter_name="a")
    assert [v.field for v in err.value.field_violations] == ["job_id"]


def test_an_audit_report_naming_a_job_that_is_no_audit_is_refused(gated):
    _, c = gated
    with pytest.raises(FailedPrecondition) as err:
        c.registry.create_audit(adapter_name="a", job_id="job-20261207-forged")
    assert err.value.reason == "AUDIT_JOB_UNVERIFIED"
    with pytest.raises(FailedPrecondition) as err:
        c.registry.activate_adapter(name="a")
    assert err.value.reason == "AUDIT_MISSING"


def test_without_the_setting_an_unaudited_adapter_activates(server_factory, tmp_path):
    srv = server_factory()
    with Client(srv.target, timeout=60) as c:
        _register(c, tmp_path, "a")
        assert c.registry.activate_adapter(name="a").adapter_name == "a"
        assert not c.registry.get_adapter(name="a").HasField("audit")
