"""A peer service's gRPC error, translated in one place (tuneforge.runtime.peers)."""

from __future__ import annotations

import grpc
import pytest

from tuneforge.runtime.errors import Code
from tuneforge.runtime.peers import peer_error


class _PeerError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(("code", "ours", "reason", "field"), [
    (grpc.StatusCode.NOT_FOUND, Code.NOT_FOUND, "DATASET_NOT_FOUND", "dataset"),
    (grpc.StatusCode.INVALID_ARGUMENT, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", "dataset"),
    (grpc.StatusCode.UNAVAILABLE, Code.UNAVAILABLE, "DATASET_SERVICE_UNAVAILABLE", None),
    (grpc.StatusCode.DEADLINE_EXCEEDED, Code.UNAVAILABLE, "DATASET_SERVICE_UNAVAILABLE", None),
    (grpc.StatusCode.PERMISSION_DENIED, Code.UNAVAILABLE, "DATASET_SERVICE_UNAVAILABLE", None),
])  # fmt: skip
def test_a_peer_status_becomes_our_error_on_our_field(code, ours, reason, field):
    err = peer_error(_PeerError(code, "bad name"), peer="dataset service", reason="DATASET_SERVICE_UNAVAILABLE",
                     field="dataset", resource="dataset", value="faq")  # fmt: skip
    assert (err.code, err.reason) == (ours, reason)
    assert [v.field for v in err.violations] == ([field] if field else [])


def test_a_peer_internal_error_text_is_not_forwarded():
    err = peer_error(_PeerError(grpc.StatusCode.INTERNAL, "Traceback: /srv/secret.py"), peer="registry",
                     reason="REGISTRY_UNAVAILABLE", field="adapter_name", resource="adapter", value="a")  # fmt: skip
    assert err.code is Code.UNAVAILABLE and "secret" not in err.message
