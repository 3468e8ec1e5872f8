"""The one table from domain error codes to gRPC status codes, and the rich status builder.

A status never tells a client where the server keeps its files: in its message, its field
violations and its ErrorInfo metadata, the data root's absolute path becomes ``<data root>``
(``<data root>/merged/x``) and any other absolute path its last component
(:func:`redact_paths`). The server's own log keeps the full text.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tuneforge.runtime.errors import DOMAIN, Code, TuneforgeError

GRPC_CODES: dict[Code, grpc.StatusCode] = {
    Code.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Code.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Code.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Code.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Code.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Code.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Code.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    Code.ABORTED: grpc.StatusCode.ABORTED,
    Code.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Code.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Code.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    Code.INTERNAL: grpc.StatusCode.INTERNAL,
}


MAX_VIOLATIONS = 20
MAX_DESCRIPTION = 300
MAX_MESSAGE = 2000


# An absolute path: "/" at the start of a word (not inside a URL, a MIME type or a relative
# path), up to a space, a quote or a bracket.
_ABSOLUTE = re.compile(r"(?<![\w.:/~%@-])/[^\s'\"`,;()\[\]{}<>]*")
_GRPC_METHOD = re.compile(r"/[A-Za-z_]\w*(\.[A-Za-z_]\w*)+/[A-Za-z_]\w*")  # /pkg.v1.Service/Method
DATA_ROOT = "<data root>"


def redact_paths(text: str, data_root: Path | str | None = None) -> str:
    """``text`` with the data root's absolute path written ``<data root>`` and any other
    absolute path cut to its last component (gRPC method names are kept)."""
    roots: list[str] = []
    if data_root is not None:
        root = Path(data_root).absolute()
        roots = sorted({str(root), str(root.resolve())}, key=len, reverse=True)

    def rewrite(match: re.Match[str]) -> str:
        path = match.group(0)
        bare = path.rstrip(".:")  # sentence punctuation after a path stays
        if len(bare) <= 1 or _GRPC_METHOD.fullmatch(bare):
            return path
        for root in roots:
            if bare == root or bare.startswith(root + "/"):
                return DATA_ROOT + path[len(root):]
        return (PurePosixPath(bare).name or bare) + path[len(bare):]

    return _ABSOLUTE.sub(rewrite, text)


def to_status(error: TuneforgeError, data_root: Path | str | None = None) -> grpc.Status:
    """A grpc.Status carrying ErrorInfo and, when present, BadRequest field violations.

    The details travel in a trailer that gRPC caps at 16 KiB, so at most 20 violations of
    at most 300 characters go out; the message says how many there were in all. Absolute
    paths are rewritten (:func:`redact_paths`) everywhere a client reads.
    """
    grpc_code = GRPC_CODES[error.code]
    details = []
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=DOMAIN,
        metadata={k: redact_paths(str(v), data_root) for k, v in error.metadata.items()},
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    message = redact_paths(error.message, data_root)
    if error.violations:
        shown = error.violations[:MAX_VIOLATIONS]
        if len(error.violations) > len(shown):
            message += f" ({len(error.violations)} problems; the first {len(shown)} are listed)"
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field[:MAX_DESCRIPTION], description=redact_paths(v.description, data_root)[:MAX_DESCRIPTION]
                )
                for v in shown
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    status = status_pb2.Status(
        code=getattr(code_pb2, grpc_code.name), message=message[:MAX_MESSAGE], details=details
    )
    out = rpc_status.to_status(status)
    challenge = error.metadata.get("www-authenticate") if error.code is Code.UNAUTHENTICATED else None
    if challenge:  # RFC 6750 §3: an unauthenticated answer names the scheme it wants
        out = out._replace(trailing_metadata=(*out.trailing_metadata, ("www-authenticate", challenge)))
    return out
