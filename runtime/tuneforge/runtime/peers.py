"""A peer tuneforge service's gRPC error, translated once for every caller.

When the trainer asks the dataset service for a dataset, or the registry for an adapter,
the peer's status must reach our client as OUR error about OUR request field: its NOT_FOUND
becomes NOT_FOUND naming the field the client sent, its INVALID_ARGUMENT an INVALID_ARGUMENT
on that field, and anything else (down, timed out, broken) UNAVAILABLE with a stable reason.
A peer's INTERNAL text is not forwarded (it may hold paths or stack detail): only its code.
"""

from __future__ import annotations

import grpc

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, invalid_argument, unavailable

# Codes after which a retry may succeed (the peer is down, restarting or overloaded).
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED,
})


def describe(exc: grpc.RpcError) -> str:
    """``CODE: details`` of a peer's error, without an INTERNAL error's text."""
    code = exc.code()
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        return code.name
    return f"{code.name}: {exc.details()}"


def peer_error(
    exc: grpc.RpcError, *, peer: str, reason: str, field: str, resource: str, value: str
) -> TuneforgeError:
    """Our error for a failed call to ``peer`` (e.g. "dataset service") about ``resource``
    ``value``, which the client sent as ``field``.

    NOT_FOUND → NOT_FOUND ``<RESOURCE>_NOT_FOUND`` on ``field``; INVALID_ARGUMENT → on
    ``field``; anything else → UNAVAILABLE with ``reason`` (e.g. REGISTRY_UNAVAILABLE).
    """
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:
        return TuneforgeError(
            Code.NOT_FOUND, f"{resource.upper()}_NOT_FOUND", f"{resource} {value!r} not found",
            [FieldViolation(field, f"no {resource} named {value!r}")],
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return invalid_argument(field, exc.details() or f"invalid {resource} name")
    return unavailable(reason, f"the {peer} did not answer: {describe(exc)}")
