"""Import one dataset file in any common format: read, validate, normalise, report.

Files are read as a stream, record by record: JSONL line by line, a JSON array with
``ijson``, CSV with :mod:`csv`, Parquet batch by batch with ``pyarrow``, plain text (``.txt``,
``.md``) as one record per blank-line separated block. The format is detected per file
from the first record (or forced), then every record is validated against it
(:mod:`tuneforge.services.dataset.formats`) with its 1-based line (JSONL, CSV) or record
number (JSON array, Parquet) and a stable code.

Policy: ``skip_invalid=False`` rejects the whole file when any record is bad (nothing is
kept; :class:`ImportFailed` carries the full report); ``skip_invalid=True`` keeps the good
records and reports the bad ones. UTF-8 only (a BOM is tolerated); anything else is a clear
INVALID_ARGUMENT ``DATASET_ENCODING`` error.

This is light work (no model imports): the servicer may run :func:`import_file` in a
thread; a several-GB file is still read with bounded memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import (
    Code,
    FieldViolation,
    TuneforgeError,
    failed_precondition,
    invalid_argument,
)
from tuneforge.services.dataset import formats

MAX_LISTED_ERRORS = 1000
INPUT_FORMATS = ("auto", *formats.FORMATS, "csv", "parquet")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")


@dataclass
class RecordError:
    line: int
    code: str
    message: str
    column: int = 0

    def __str__(self) -> str:
        col = f", column {self.column}" if self.column else ""
        return f"line {self.line}{col}: {self.code}: {self.message}"


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected_format": self.detected_format,
            "file_kind": self.file_kind,
            "records_read": self.records_read,
            "records_valid": self.records_valid,
            "records_invalid": self.records_invalid,
            "errors": [e.__dict__ for e in self.errors],
            "error_counts": dict(self.error_counts),
        }


@dataclass
class ImportResult:
    report: ImportReport
    preview: list[dict[str, Any]]
    output: Path | None  # the normalised JSONL, None when validate_only


class ImportFailed(TuneforgeError):
    """INVALID_ARGUMENT ``DATASET_INVALID``: the file was rejected; ``report`` says why."""

    report: ImportReport


def _failed(report: ImportReport) -> ImportFailed:
    shown = report.errors[:100]
    err = ImportFailed(
        Code.INVALID_ARGUMENT,
        "DATASET_INVALID",
        f"{report.records_invalid} of {report.records_read} records are invalid "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(report.error_counts.items()))}); "
        "nothing was imported (use skip_invalid to keep the valid records)",
        [FieldViolation(f"line {e.line}", f"{e.code}: {e.message}") for e in shown],
    )
    err.report = report
    return err


# --- readers: yield (line, column, record | None, problem | None) --------------------------

Item = tuple[int, int, Any, "formats.RecordProblem | None"]


def _check_encoding(head: bytes) -> None:
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):  # fmt: skip
        if head.startswith(bom) and not head.startswith(codecs.BOM_UTF8):
            raise _encoding_error(f"the file is {name} (byte order mark found)")


def _encoding_error(detail: str) -> TuneforgeError:
    return invalid_argument(
        "file",
        f"{detail}; only UTF-8 is supported — re-save the file as UTF-8",
        reason="DATASET_ENCODING",
    )


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_error(
            f"line {line} is not valid UTF-8 (byte {raw[exc.start]:#04x})"
        ) from None


def _read_jsonl(fh: io.BufferedReader) -> Iterator[Item]:
    for n, raw in enumerate(fh, start=1):
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        text = _decode(raw, n).strip()
        if not text:
            continue
        try:
            yield n, 0, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield n, exc.colno, None, formats.RecordProblem("INVALID_JSON", exc.msg)


def _read_json_array(fh: io.BufferedReader) -> Iterator[Item]:
    import ijson

    if fh.peek(3)[:3] == codecs.BOM_UTF8:
        fh.read(3)
    n = 0
    try:
        for n, record in enumerate(ijson.items(fh, "item", use_float=True), start=1):
            yield n, 0, record, None
    except ijson.JSONError as exc:
        yield (
            n + 1,
            0,
            None,
            formats.RecordProblem("INVALID_JSON", f"JSON array is broken: {exc}"),
        )
    except UnicodeDecodeError:
        raise _encoding_error("the file is not valid UTF-8") from None


# Column headers of FAQ tables as people write them, mapped to the keys the formats use.
HEADER_ALIASES = {
    "q": "question", "a": "answer", "вопрос": "question", "ответ": "answer",
    "запрос": "query", "инструкция": "instruction", "вход": "input", "выход": "output",
    "промпт": "prompt", "текст": "text", "метка": "label", "системный промпт": "system",
    "system prompt": "system",
}  # fmt: skip
CSV_DELIMITERS = ",;\t|"


def _csv_delimiter(fh: io.BufferedReader, tsv: bool) -> str:
    """Tab for .tsv; else the candidate that splits the header line most (Excel writes ';'
    in many locales), outside quotes; ',' when nothing stands out."""
    if tsv:
        return "\t"
    head = fh.peek(65536)[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    header, quoted = "", False
    for ch in head:
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            break
        elif not quoted:
            header += ch
    counts = {d: header.count(d) for d in CSV_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _header(name: str) -> str:
    key = " ".join(name.strip().split()).lower()
    return HEADER_ALIASES.get(key, key)


def _read_csv(fh: io.BufferedReader, tsv: bool = False) -> Iterator[Item]:
    delimiter = _csv_delimiter(fh, tsv)
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    try:
        reader = csv.DictReader(text, delimiter=delimiter)
        for row in reader:
            record = {
                _header(k): _csv_value(v)
                for k, v in row.items()
                if k is not None and v not in (None, "")
            }
            yield reader.line_num, 0, record, None
    except UnicodeDecodeError as exc:
        raise _encoding_error(f"the CSV is not valid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise invalid_argument(
            "file", f"broken CSV: {exc}", reason="DATASET_INVALID_CSV"
        ) from None


def _csv_value(value: str) -> Any:
    """Cells holding JSON arrays/objects (a ``messages`` column) are parsed."""
    stripped = value.strip()
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def _read_parquet(path: Path) -> Iterator[Item]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise failed_precondition(
            "PARQUET_UNSUPPORTED", "reading Parquet needs pyarrow (pip install pyarrow)"
        ) from None

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise invalid_argument(
            "file", f"not a Parquet file: {exc}", reason="DATASET_INVALID_PARQUET"
        ) from None
    n = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield n, 0, row, None


def _read_text(fh: io.BufferedReader) -> Iterator[Item]:
    block: list[str] = []
    start = 0
    for n, raw in enumerate(fh, start=1):
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        line = _decode(raw, n)
        if line.strip():
            start = start or n
            block.append(line)
        elif block:
            yield start, 0, {"text": "".join(block).strip()}, None
            block, start = [], 0
    if block:
        yield start, 0, {"text": "".join(block).strip()}, None


def _file_kind(path: Path, fh: io.BufferedReader, fmt: str) -> str:
    suffix = path.suffix.lower()
    if fmt == "parquet" or suffix == ".parquet":
        return "parquet"
    if fmt == "csv" or suffix in (".csv", ".tsv"):
        return "csv"
    head = fh.peek(4096)[:4096]
    _check_encoding(head)
    first = head.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{" or suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "text"


# --- the import ----------------------------------------------------------------------------


def import_file(
    path: Path | str,
    out_path: Path | None,
    *,
    format: str = "auto",
    skip_invalid: bool = False,
    preview_size: int = 5,
    max_record_chars: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate ``path`` and write the normalised JSONL to ``out_path`` (None: validate only).

    Raises INVALID_ARGUMENT: ``format`` unknown; ``DATASET_ENCODING``; ``DATASET_EMPTY``
    (no records); ``DATASET_FORMAT_UNKNOWN`` (auto-detection found no known format);
    :class:`ImportFailed` (``DATASET_INVALID``) when records are bad and not skipped, or when
    every record is bad. On any error ``out_path`` does not exist afterwards.
    """
    path = Path(path)
    fmt = (format or "auto").strip().lower()
    if fmt not in INPUT_FORMATS:
        raise invalid_argument(
            "format", f"unknown format {fmt!r}; one of {', '.join(INPUT_FORMATS)}"
        )
    if not path.is_file():
        raise invalid_argument(
            "file", f"{path} is not a file", reason="INPUT_NOT_FOUND"
        )
    record_fmt = None if fmt in ("auto", "csv", "parquet") else fmt
    report = ImportReport()
    counts: Counter[str] = Counter()
    preview: list[dict[str, Any]] = []
    out = open(out_path, "w", encoding="utf-8") if out_path else None  # noqa: SIM115
    ok = False
    try:
        with open(path, "rb") as fh:
            kind = _file_kind(path, fh, fmt)
            report.file_kind = kind
            reader = {
                "jsonl": _read_jsonl, "json": _read_json_array, "csv": _read_csv,
                "text": _read_text,
            }.get(kind)  # fmt: skip
            if kind == "parquet":
                items = _read_parquet(path)
            elif kind == "csv":
                items = _read_csv(fh, tsv=path.suffix.lower() == ".tsv")
            else:
                items = reader(fh)  # type: ignore[misc]
            if kind == "text" and record_fmt is None:
                record_fmt = "text"
            for line, column, record, problem in items:
                report.records_read += 1
                if progress and report.records_read % 10000 == 0:
                    progress(report.records_read)
                if problem is None and record_fmt is None:
                    record_fmt = formats.detect(record)
                    if record_fmt is None and isinstance(record, dict):
                        raise invalid_argument(
                            "format",
                            f"record at line {line} matches no known format (keys: "
                            f"{', '.join(sorted(record)[:10])}); pass format explicitly",
                            reason="DATASET_FORMAT_UNKNOWN",
                        )
                try:
                    if problem is not None:
                        raise problem
                    normalised = formats.normalise(
                        record, record_fmt or "messages", max_record_chars
                    )
                except formats.RecordProblem as exc:
                    report.records_invalid += 1
                    counts[exc.code] += 1
                    if len(report.errors) < MAX_LISTED_ERRORS:
                        report.errors.append(
                            RecordError(line, exc.code, exc.message, column)
                        )
                    continue
                report.records_valid += 1
                if len(preview) < preview_size:
                    preview.append(normalised)
                if out:
                    out.write(formats.dumps(normalised) + "\n")
        report.detected_format = record_fmt or ""
        report.error_counts = dict(counts)
        if report.records_read == 0:
            raise invalid_argument(
                "file", "the file holds no records", reason="DATASET_EMPTY"
            )
        if report.records_invalid and (not skip_invalid or not report.records_valid):
            raise _failed(report)
        ok = True
    finally:
        if out:
            out.close()
            if not ok:
                Path(out_path).unlink(missing_ok=True)  # type: ignore[arg-type]
    return ImportResult(
        report=report, preview=preview, output=Path(out_path) if out_path else None
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
        result = import_file(
            path, work, format=format, skip_invalid=skip_invalid,
            preview_size=preview_size or 5, max_record_chars=max_record_chars,
        )  # fmt: skip
        if validate_only:
            return None, result
        info = catalog.create(
            name, work, source="import", format=result.report.detected_format,
            validation_split=split, report=result.report.to_dict() | {"errors": [
                e.__dict__ for e in result.report.errors[:100]]},
        )  # fmt: skip
        return info, result
    finally:
        if work is not None:
            work.unlink(missing_ok=True)
