"""An unexpected exception in a servicer: INTERNAL with the request id, never its text."""

from __future__ import annotations

import pytest

from tuneforge.client import Client, TuneforgeClientError
from tuneforge.services.dataset.catalog import DatasetCatalog


def test_internal_error_sends_the_request_id_not_the_exception_text(server, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("secret detail /srv/data/state.db")

    monkeypatch.setattr(DatasetCatalog, "list", broken)
    with Client(server.target) as c, pytest.raises(TuneforgeClientError) as err:
        c.dataset.list_datasets()
    assert err.value.code.name == "INTERNAL" and err.value.reason == "INTERNAL"
    assert "secret" not in str(err.value) and "state.db" not in str(err.value)
    assert "request id" in str(err.value)


def test_a_reason_that_repeats_the_code_name_is_said_once():
    import grpc

    from tuneforge.client.errors import TuneforgeClientError

    assert str(TuneforgeClientError(grpc.StatusCode.INTERNAL, "INTERNAL", "boom")) == "INTERNAL: boom"
    assert str(TuneforgeClientError(grpc.StatusCode.UNAVAILABLE, "VLLM_TIMEOUT", "slow")) == "UNAVAILABLE VLLM_TIMEOUT: slow"
