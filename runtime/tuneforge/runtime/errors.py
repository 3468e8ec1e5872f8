"""Domain errors with a neutral code, raised by transport-free code.

Services never import grpc in their domain modules; they raise :class:`TuneforgeError`
(or one of the helpers below) and the server runtime turns it into a gRPC status with
``google.rpc.ErrorInfo`` and, for bad parameters, ``BadRequest.FieldViolation`` details.
The one table that maps codes to gRPC status codes lives in ``tuneforge.runtime.grpc_errors``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

DOMAIN = "tuneforge.dev"


class Code(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    ABORTED = "ABORTED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class TuneforgeError(Exception):
    """An error a client can act on: a code, a stable UPPER_SNAKE reason and a message."""

    code: Code
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.violations:
            return self.message
        # A violation the message already spells out is not repeated.
        details = "; ".join(
            f"{v.field}: {v.description}" for v in self.violations if v.description not in self.message
        )
        return f"{self.message} ({details})" if details else self.message


def invalid_argument(
    field_name: str, description: str, reason: str = "INVALID_ARGUMENT", message: str | None = None
) -> TuneforgeError:
    """One bad parameter: INVALID_ARGUMENT with a single field violation."""
    return TuneforgeError(
        Code.INVALID_ARGUMENT,
        reason,
        message or f"invalid {field_name}: {description}",
        [FieldViolation(field_name, description)],
    )


def invalid_fields(
    violations: list[FieldViolation], reason: str = "INVALID_ARGUMENT", message: str | None = None
) -> TuneforgeError:
    """Several bad parameters reported at once."""
    return TuneforgeError(
        Code.INVALID_ARGUMENT, reason, message or "invalid request", list(violations)
    )


def not_found(kind: str, name: str) -> TuneforgeError:
    return TuneforgeError(
        Code.NOT_FOUND,
        f"{kind.upper()}_NOT_FOUND",
        f"{kind} {name!r} not found",
        metadata={kind: name},
    )


def already_exists(kind: str, name: str) -> TuneforgeError:
    return TuneforgeError(
        Code.ALREADY_EXISTS,
        f"{kind.upper()}_ALREADY_EXISTS",
        f"{kind} {name!r} already exists",
        metadata={kind: name},
    )


def failed_precondition(reason: str, message: str, **metadata: str) -> TuneforgeError:
    return TuneforgeError(Code.FAILED_PRECONDITION, reason, message, metadata=dict(metadata))


def resource_exhausted(reason: str, message: str, **metadata: str) -> TuneforgeError:
    return TuneforgeError(Code.RESOURCE_EXHAUSTED, reason, message, metadata=dict(metadata))


def unavailable(reason: str, message: str, **metadata: str) -> TuneforgeError:
    return TuneforgeError(Code.UNAVAILABLE, reason, message, metadata=dict(metadata))


class Violations:
    """The bad parameters of one request, gathered so they all come back in one
    INVALID_ARGUMENT instead of one per round trip."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []
        self.reasons: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, field_name: str, description: str, reason: str = "INVALID_ARGUMENT") -> None:
        self.items.append(FieldViolation(field_name, description))
        self.reasons.add(reason)

    def extend(self, violations: list[FieldViolation], reason: str = "INVALID_ARGUMENT") -> None:
        if violations:
            self.items += violations
            self.reasons.add(reason)

    def absorb(self, exc: TuneforgeError) -> None:
        """Keep an INVALID_ARGUMENT with field violations; re-raise anything else."""
        if exc.code is not Code.INVALID_ARGUMENT or not exc.violations:
            raise exc
        self.extend(exc.violations, exc.reason)

    def run(self, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        """``fn(...)``, or None with its violations kept when it raises INVALID_ARGUMENT."""
        try:
            return fn(*args, **kwargs)
        except TuneforgeError as exc:
            self.absorb(exc)
            return None

    def raise_if_any(self, message: str = "invalid request") -> None:
        if self.items:
            reason = next(iter(self.reasons)) if len(self.reasons) == 1 else "INVALID_ARGUMENT"
            raise invalid_fields(self.items, reason=reason, message=message)
