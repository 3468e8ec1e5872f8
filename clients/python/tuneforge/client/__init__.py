"""tuneforge client SDK: ``Client`` / ``AsyncClient`` and typed errors. Needs no torch."""

from tuneforge.client.client import DEFAULT_TARGET, AsyncClient, Client, job_params, job_result
from tuneforge.client.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    TuneforgeClientError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

__all__ = [
    "DEFAULT_TARGET", "AsyncClient", "Client", "AlreadyExists", "FailedPrecondition",
    "FieldViolation", "InvalidArgument", "NotFound", "ResourceExhausted",
    "TuneforgeClientError", "Unauthenticated", "Unavailable", "Unimplemented", "job_params", "job_result",
]
