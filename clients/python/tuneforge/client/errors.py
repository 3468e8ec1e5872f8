"""Typed exceptions built from the server's rich status (ErrorInfo + BadRequest)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class TuneforgeClientError(Exception):
    """A failed call: gRPC code, stable reason (ErrorInfo), message and bad fields."""

    code: grpc.StatusCode
    reason: str
    message: str
    field_violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        # a reason that repeats the code's name (INTERNAL, UNAVAILABLE) is said once
        if self.reason and self.reason != self.code.name:
            return f"{self.code.name} {self.reason}: {self.message}"
        return f"{self.code.name}: {self.message}"


class InvalidArgument(TuneforgeClientError):
    pass


class NotFound(TuneforgeClientError):
    pass


class AlreadyExists(TuneforgeClientError):
    pass


class FailedPrecondition(TuneforgeClientError):
    pass


class ResourceExhausted(TuneforgeClientError):
    pass


class Unavailable(TuneforgeClientError):
    pass


class Unauthenticated(TuneforgeClientError):
    pass


class Unimplemented(TuneforgeClientError):
    pass


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def from_rpc_error(error: grpc.RpcError) -> TuneforgeClientError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    reason, violations, metadata = "", [], {}
    try:
        status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    except Exception:  # noqa: BLE001 - a malformed status still becomes an error
        status = None
    if status is not None:
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    cls = _BY_CODE.get(code, TuneforgeClientError)
    return cls(code, reason, message or "", violations, metadata)
