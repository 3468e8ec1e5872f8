"""Adapter lineage and retracted data in the registry (issue 25 items 6 and 7), over gRPC:
every path that puts a marked adapter version in front of users needs force."""

from __future__ import annotations

import pytest
from registry_helpers import make_adapter

from tuneforge.client import FailedPrecondition, InvalidArgument

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL

FORGOTTEN = "ADAPTER_TRAINED_ON_FORGOTTEN_DATA"


def _register(client, server, name: str, dataset_version: int):
    src = make_adapter(server.config.root / "incoming" / name)
    return client.registry.register_adapter(name=name, path=str(src), dataset="chats", dataset_version=dataset_version)


def test_rollback_to_an_adapter_trained_on_forgotten_data_needs_force(client, server):
    _register(client, server, "old", 1)
    _register(client, server, "new", 2)
    client.registry.activate_adapter(name="old")
    client.registry.activate_adapter(name="new")
    client.registry.retract_dataset_data(dataset="chats", version=2, reason="a contact's messages were removed in v2")
    with pytest.raises(FailedPrecondition) as exc:
        client.registry.rollback_activation()
    assert exc.value.reason == FORGOTTEN
    assert client.registry.get_active_adapter().adapter_name == "new"  # unchanged
    assert client.registry.rollback_activation(force=True).adapter_name == "old"


def test_lineage_keeps_every_version_and_marks_only_those_before_the_retraction(client, server):
    _register(client, server, "bot", 1)
    src = make_adapter(server.config.root / "incoming" / "bot-2")
    client.registry.register_adapter(name="bot", path=str(src), dataset="chats", dataset_version=3, replace=True)
    client.registry.retract_dataset_data(dataset="chats", version=2)
    again = client.registry.retract_dataset_data(dataset="chats", version=2)  # idempotent
    assert [(e.adapter_name, e.version) for e in again.marked] == [("bot", 1)]
    versions = client.registry.get_adapter_lineage(name="bot").versions
    assert [(v.version, v.dataset_version, v.current, v.HasField("data_retraction")) for v in versions] == [
        (2, 3, True, False), (1, 1, False, True)]
    client.registry.activate_adapter(name="bot")  # the current version learned from v3: not marked


def test_retracting_needs_a_new_version_of_two_or_more(client):
    with pytest.raises(InvalidArgument) as exc:
        client.registry.retract_dataset_data(dataset="chats", version=1)
    assert [v.field for v in exc.value.field_violations] == ["version"]


def test_adapters_registered_before_lineage_was_kept_count_as_trained_on_an_unknown_version(catalog, store, src):
    from tuneforge.services.registry.evaluations import EvaluationStore
    from tuneforge.services.registry.lineage import Lineage

    catalog.register("legacy", src("legacy"), dataset="chats")  # before the lineage tables exist
    lineage = Lineage(store)
    assert lineage.entry("legacy", 1).dataset_version == 0
    marked, _ = lineage.retract("chats", 2, "removed", EvaluationStore(store, catalog), [], [])
    assert [(e.name, e.version) for e in marked] == [("legacy", 1)]
