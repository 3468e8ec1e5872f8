"""Import one dataset file in any common format: read, validate, normalise, report.

Files are read as a stream, record by record: JSONL line by line, a JSON array (or a wrapper
object such as ``{"data": [...]}``) element by element with :mod:`jsonscan`, CSV with :mod:`csv`, Parquet batch by batch with ``pyarrow``, plain text (``.txt``,
``.md``) as one record per blank-line separated block. The format is detected per file
from the first record (or forced), then every record is validated against it
(:mod:`tuneforge.services.dataset.formats`) with its 1-based index, the physical line it
starts on (the record number for Parquet), the column of a syntax error, and a stable code.

Policy: ``skip_invalid=False`` rejects the whole file when any record is bad (nothing is
kept; :class:`ImportFailed` carries the full report); ``skip_invalid=True`` keeps the good
records and reports the bad ones. UTF-8 only (a BOM is tolerated); anything else is a clear
INVALID_ARGUMENT ``DATASET_ENCODING`` error.

This is light work (no model imports): the servicer may run :func:`import_file` in a
thread; a several-GB file is still read with bounded memory.

This module holds the run: which reader a file needs (its kind, refusing archives), the
counting and normalising of every record, and the import into the catalog. The readers live
in :mod:`readers` (line-based files, Parquet, the UTF-8 checks), :mod:`json_document` and
:mod:`csv_reader`; the report and error types in :mod:`import_report`.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import formats
from tuneforge.services.dataset.csv_reader import read_csv
from tuneforge.services.dataset.import_report import (
    MAX_LISTED_ERRORS,
    ImportReport,
    ImportResult,
    ImportWarning,
    RecordError,
    import_failed,
)
from tuneforge.services.dataset.json_document import is_document, read_json_document
from tuneforge.services.dataset.readers import (
    MAX_RECORD_BYTES,
    Item,
    check_encoding,
    read_jsonl,
    read_parquet,
    read_text,
)

INPUT_FORMATS = ("auto", *formats.FORMATS, "csv", "parquet")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
ARCHIVE_MAGIC = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x1f\x8b": "gzip", b"7z\xbc\xaf": "7z"}


def _file_kind(path: Path, fh: io.BufferedReader, fmt: str) -> str:
    suffix = path.suffix.lower()
    if fmt == "parquet" or suffix == ".parquet":
        return "parquet"
    head = fh.peek(4096)[:4096]
    _check_archive(path, head)
    if fmt == "csv" or suffix in (".csv", ".tsv"):
        return "csv"
    check_encoding(head)
    first = head.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "json" if is_document(path) else "jsonl"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "text"


def _check_archive(path: Path, head: bytes) -> None:
    kind = next((k for magic, k in ARCHIVE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        return
    if kind == "zip" and not zipfile.is_zipfile(path):
        detail = "a broken zip archive (truncated or damaged: its table of contents is missing)"
    else:
        detail = f"a {kind} archive; unpack it and import the data file inside"
    raise invalid_argument("file", f"the file is {detail}", reason="DATASET_ARCHIVE")


def _items(path: Path, fh: io.BufferedReader, kind: str, notes: list[ImportWarning],
           limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:  # fmt: skip
    if kind == "parquet":
        return read_parquet(path)
    if kind == "csv":
        return read_csv(fh, tsv=path.suffix.lower() == ".tsv", limit=limit)
    if kind == "json":
        return read_json_document(fh, notes, limit)
    if kind == "jsonl":
        return read_jsonl(fh, limit)
    return read_text(fh, limit)


def read_records(path: Path | str, fmt: str = "auto") -> Iterator[Item]:
    """Every record of a file as ``(index, line, column, record, problem)``, unvalidated:
    the one reader behind import and the FAQ source of ``generate``."""
    path = Path(path)
    with open(path, "rb") as fh:
        yield from _items(path, fh, _file_kind(path, fh, fmt), [])


def _check_args(path: Path, fmt: str) -> None:
    if fmt not in INPUT_FORMATS:
        raise invalid_argument(
            "format", f"unknown format {fmt!r}; one of {', '.join(INPUT_FORMATS)}"
        )
    if not path.is_file():
        raise invalid_argument(
            "file", f"{path} is not a file", reason="INPUT_NOT_FOUND"
        )


def _format_unknown(index: int, line: int, record: dict, file_kind: str) -> Exception:
    """DATASET_FORMAT_UNKNOWN with the fix that would work: a ``--format`` only where one
    reads the record; for a CSV, the header is what to change."""
    keys = ", ".join(sorted(record)[:10]) or "none"
    fits = formats.formats_that_fit(record)
    if fits:
        hint = f"pass --format {fits[0]} (format={fits[0]}) to read it as {' or '.join(fits)}"
    elif file_kind == "csv":
        hint = (f"the CSV header (line 1) names the columns {keys}: name a question column "
                f"({', '.join(formats.QA_USER_KEYS[:3])}, ...) and an answer column "
                f"({', '.join(formats.QA_ASSISTANT_KEYS[:3])}, ...), or a 'text' column")
    else:
        hint = ("no format reads these keys: a record needs 'messages', 'conversations', "
                "instruction + output, prompt + completion, question + answer or 'text' (docs/datasets.md)")
    what = "the first row" if file_kind == "csv" else f"record {index}"
    return invalid_argument(
        "format", f"{what} (line {line}) matches no known format (keys: {keys}); {hint}",
        reason="DATASET_FORMAT_UNKNOWN",
    )


class _Run:
    """The state of one import: counters, the chosen format, the output file."""

    def __init__(self, record_fmt: str | None, out: Any, preview_size: int, max_chars: int, scrubber: Any) -> None:
        self.report = ImportReport()
        self.counts: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.preview: list[dict[str, Any]] = []
        self.fmt = record_fmt
        self.out = out
        self.preview_size = preview_size
        self.max_chars = max_chars
        self.scrubber = scrubber

    def take(self, index: int, line: int, column: int, record: Any, problem: Any) -> None:
        report = self.report
        report.records_read += 1
        if problem is None and self.fmt is None:
            self.fmt = formats.detect(record)
            if self.fmt is None and isinstance(record, dict):
                raise _format_unknown(index, line, record, self.report.file_kind)
        try:
            if problem is not None:
                raise problem
            normalised = formats.normalise(record, self.fmt or "messages", self.max_chars, self.notes)
        except formats.RecordProblem as exc:
            report.records_invalid += 1
            self.counts[exc.code] += 1
            if len(report.errors) < MAX_LISTED_ERRORS:
                report.errors.append(RecordError(line, exc.code, exc.message, column, index))
            return
        if self.scrubber is not None:
            normalised = self.scrubber.record(normalised)
        report.records_valid += 1
        if len(self.preview) < self.preview_size:
            self.preview.append(normalised)
        if self.out:
            self.out.write(formats.dumps(normalised) + "\n")

    def finish(self, notes: list[ImportWarning]) -> None:
        report = self.report
        report.detected_format = self.fmt or ""
        report.error_counts = dict(self.counts)
        report.warnings = notes + [
            ImportWarning(code, n, formats.NOTE_TEXT.get(code, code)) for code, n in sorted(self.notes.items())
        ]
        if self.scrubber is not None:
            report.scrubbed = dict(self.scrubber.counts)


def import_file(
    path: Path | str,
    out_path: Path | None,
    *,
    format: str = "auto",
    skip_invalid: bool = False,
    preview_size: int = 5,
    max_record_chars: int = 0,
    progress: Callable[[int], None] | None = None,
    scrubber: Any = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> ImportResult:
    """Validate ``path`` and write the normalised JSONL to ``out_path`` (None: validate only).

    ``scrubber`` (a :class:`tuneforge.services.dataset.scrub.Scrubber`) replaces personal
    data in the kept records and counts each kind in ``report.scrubbed``.

    Raises INVALID_ARGUMENT: ``format`` unknown; ``DATASET_ENCODING``; ``DATASET_ARCHIVE``
    (a zip or other archive, or a broken one); ``DATASET_IS_REGISTRY`` /
    ``DATASET_SHAPE_UNKNOWN`` (a JSON object that holds no records); ``DATASET_EMPTY``
    (no records); ``DATASET_FORMAT_UNKNOWN`` (auto-detection found no known format);
    :class:`ImportFailed` (``DATASET_INVALID``) when records are bad and not skipped, or when
    every record is bad. On any error ``out_path`` does not exist afterwards.
    """
    path = Path(path)
    fmt = (format or "").strip().lower() or "auto"  # blank is auto, never "unknown format ''"
    _check_args(path, fmt)
    out = open(out_path, "w", encoding="utf-8") if out_path else None  # noqa: SIM115
    ok = False
    notes: list[ImportWarning] = []
    try:
        with open(path, "rb") as fh:
            kind = _file_kind(path, fh, fmt)
            record_fmt = None if fmt in ("auto", "csv", "parquet") else fmt
            run = _Run(record_fmt or ("text" if kind == "text" else None), out, preview_size, max_record_chars, scrubber)
            run.report.file_kind = kind
            for item in _items(path, fh, kind, notes, max_record_bytes):
                run.take(*item)
                if progress and run.report.records_read % 10000 == 0:
                    progress(run.report.records_read)
        run.finish(notes)
        report = run.report
        if report.records_read == 0:
            raise invalid_argument(
                "file", "the file holds no records", reason="DATASET_EMPTY"
            )
        if report.records_invalid and (not skip_invalid or not report.records_valid):
            raise import_failed(report)
        ok = True
    finally:
        if out:
            out.close()
            if not ok:
                Path(out_path).unlink(missing_ok=True)  # type: ignore[arg-type]
    return ImportResult(
        report=report, preview=run.preview, output=Path(out_path) if out_path else None
    )


def import_into_catalog(
    catalog: Any,
    path: Path | str,
    name: str,
    *,
    format: str = "auto",
    skip_invalid: bool = False,
    preview_size: int = 5,
    validation_split: float | None = None,
    validate_only: bool = False,
    max_record_chars: int = 0,
    scrub: bool = False,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> tuple[Any, ImportResult]:
    """ImportDataset in one call: validate ``path``, then create dataset ``name`` from it.

    Returns ``(DatasetInfo | None, ImportResult)`` (None when ``validate_only``). Raises what
    :func:`import_file` and :meth:`DatasetCatalog.create` raise; ALREADY_EXISTS is checked
    before the file is read. Light enough for a servicer thread.
    """
    from tuneforge.services.dataset.stats import DEFAULT_VALIDATION_SPLIT

    if not validate_only:
        catalog.check_free(name)
    if preview_size < 0:
        raise invalid_argument("preview_size", "must not be negative")
    split = DEFAULT_VALIDATION_SPLIT if validation_split is None else validation_split
    if not 0 <= split <= 0.5:
        raise invalid_argument("validation_split", "must be between 0 and 0.5")
    work = None if validate_only else catalog.work_file()
    try:
        from tuneforge.services.dataset.scrub import Scrubber, write_probes

        probes: list[dict[str, str]] = []  # what the scrubber removed, for the leak audit
        result = import_file(
            path, work, format=format, skip_invalid=skip_invalid,
            preview_size=preview_size or 5, max_record_chars=max_record_chars,
            scrubber=Scrubber(probes=probes) if scrub else None, max_record_bytes=max_record_bytes,
        )  # fmt: skip
        if validate_only:
            return None, result
        info = catalog.create(
            name, work, source="import", format=result.report.detected_format,
            validation_split=split, report=result.report.to_dict() | {"errors": [
                e.__dict__ for e in result.report.errors[:100]]},
        )  # fmt: skip
        if probes:
            write_probes(catalog.dir(name), probes)
        return info, result
    finally:
        if work is not None:
            work.unlink(missing_ok=True)
