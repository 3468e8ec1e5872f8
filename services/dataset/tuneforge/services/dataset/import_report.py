"""What an import says about a file: the report, its per-record errors and warnings, and the
error that rejects a file.

Kept apart from the readers and the import run because three audiences use these types
without reading a file: the servicer turns an :class:`ImportReport` into a
``ValidationReport`` and an :class:`ImportFailed` into a gRPC status, the catalog stores
``ImportReport.to_dict()`` with each dataset, and the JSON document reader adds an
:class:`ImportWarning` when it unwraps records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError

MAX_LISTED_ERRORS = 1000


@dataclass
class RecordError:
    """A bad record: its physical ``line`` (where it starts, or where its syntax error is),
    ``column`` for syntax errors, and its 1-based ``index`` among the file's records."""

    line: int
    code: str
    message: str
    column: int = 0
    index: int = 0

    def __str__(self) -> str:
        col = f", column {self.column}" if self.column else ""
        rec = f"record {self.index}, " if self.index else ""
        return f"{rec}line {self.line}{col}: {self.code}: {self.message}"

    def detail(self) -> str:
        """What a ``line N`` field violation says: the code, message, record and column."""
        where = ", ".join(x for x in (f"record {self.index}" if self.index else "",
                                       f"column {self.column}" if self.column else "") if x)  # fmt: skip
        return f"{self.code}: {self.message}" + (f" ({where})" if where else "")


@dataclass
class ImportWarning:
    """Something kept or read differently than a user may expect, with how often it happened."""

    code: str
    count: int
    message: str


@dataclass
class ImportReport:
    detected_format: str = ""
    file_kind: str = ""  # jsonl, json, csv, parquet, text
    records_read: int = 0
    records_valid: int = 0
    records_invalid: int = 0
    errors: list[RecordError] = field(
        default_factory=list
    )  # the first MAX_LISTED_ERRORS
    error_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[ImportWarning] = field(default_factory=list)
    scrubbed: dict[str, int] = field(default_factory=dict)  # placeholder kind → count

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected_format": self.detected_format,
            "file_kind": self.file_kind,
            "records_read": self.records_read,
            "records_valid": self.records_valid,
            "records_invalid": self.records_invalid,
            "errors": [e.__dict__ for e in self.errors],
            "error_counts": dict(self.error_counts),
            "warnings": [w.__dict__ for w in self.warnings],
            "scrubbed": dict(self.scrubbed),
        }


@dataclass
class ImportResult:
    report: ImportReport
    preview: list[dict[str, Any]]
    output: Path | None  # the normalised JSONL, None when validate_only


class ImportFailed(TuneforgeError):
    """INVALID_ARGUMENT ``DATASET_INVALID``: the file was rejected; ``report`` says why."""

    report: ImportReport


def import_failed(report: ImportReport) -> ImportFailed:
    """The error that rejects a file, with its first 100 bad records as field violations
    (a gRPC status must stay small; the full list is in ``report``)."""
    shown = report.errors[:100]
    err = ImportFailed(
        Code.INVALID_ARGUMENT,
        "DATASET_INVALID",
        f"{report.records_invalid} of {report.records_read} records are invalid "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(report.error_counts.items()))}); "
        "nothing was imported (use skip_invalid to keep the valid records)",
        [FieldViolation(f"line {e.line}", e.detail()) for e in shown],
    )
    err.report = report
    return err
