"""AIP-155 on the registry's creates: a retried RegisterAdapter / ImportAdapter with the same
request_id answers what the first call created instead of registering a second version."""

from __future__ import annotations

import pytest

from registry_helpers import make_adapter

from tuneforge.client import AlreadyExists, Client

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL


def test_a_retried_registration_returns_the_first_version(server, tmp_path):
    src = make_adapter(tmp_path / "incoming" / "a")
    with Client(server.target) as c:
        first = c.registry.register_adapter(name="a", path=str(src), replace=True, request_id="reg-1")
        again = c.registry.register_adapter(name="a", path=str(src), replace=True, request_id="reg-1")
        assert (again.version, again.create_time) == (first.version, first.create_time) == (1, first.create_time)
        assert c.registry.get_adapter(name="a").version == 1
        assert c.registry.register_adapter(name="a", path=str(src), replace=True, request_id="reg-2").version == 2


def test_a_failed_registration_is_not_remembered(server, tmp_path):
    src = make_adapter(tmp_path / "incoming" / "b")
    with Client(server.target) as c:
        c.registry.register_adapter(name="b", path=str(src))
        try:
            c.registry.register_adapter(name="b", path=str(src), request_id="reg-3")
        except AlreadyExists:
            pass
        else:
            raise AssertionError("a taken name must be refused")
        assert c.registry.register_adapter(name="b", path=str(src), replace=True, request_id="reg-3").version == 2


def test_a_retried_archive_import_returns_the_first_import(server, tmp_path):
    src = make_adapter(tmp_path / "incoming" / "c")
    with Client(server.target) as c:
        c.registry.register_adapter(name="c", path=str(src))
        archive = c.download(c.registry.export_adapter(name="c"), tmp_path / "c.tar.gz")
        first = c.import_adapter_archive(archive, name="c2", request_id="imp-1")
        again = c.import_adapter_archive(archive, name="c2", request_id="imp-1")
        assert again == first and c.registry.get_adapter(name="c2").version == 1
