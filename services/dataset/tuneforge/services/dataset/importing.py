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
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument
from tuneforge.services.dataset import formats, jsonscan
from tuneforge.services.dataset.import_report import (
    MAX_LISTED_ERRORS,
    ImportReport,
    ImportResult,
    ImportWarning,
    RecordError,
    import_failed,
)

INPUT_FORMATS = ("auto", *formats.FORMATS, "csv", "parquet")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")


# --- readers: yield (index, line, column, record | None, problem | None) -------------------

Item = tuple[int, int, int, Any, "formats.RecordProblem | None"]


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


MAX_RECORD_BYTES = 4 * 1024 * 1024  # default cap on one line/record (config max_record_bytes)
_SKIP_CHUNK = 1024 * 1024


def _lines(fh: io.BufferedReader, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line, never holding more than ``limit`` bytes of one line:
    a longer line comes as None and is skipped in bounded reads to its end."""
    n = 0
    while raw := fh.readline(limit + 1):
        n += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(_SKIP_CHUNK)
            yield n, None
            continue
        yield n, raw


def _too_long(limit: int) -> formats.RecordProblem:
    return formats.RecordProblem("RECORD_TOO_LARGE", f"the line is longer than {limit} bytes (max_record_bytes)")


def _read_jsonl(fh: io.BufferedReader, limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    index = 0
    for n, raw in _lines(fh, limit):
        if raw is None:
            index += 1
            yield index, n, 0, None, _too_long(limit)
            continue
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        text = _decode(raw, n).strip()
        if not text:
            continue
        index += 1
        try:
            yield index, n, 0, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield index, n, exc.colno, None, formats.RecordProblem("INVALID_JSON", exc.msg)


def _read_json_document(fh: io.BufferedReader, notes: list[ImportWarning],
                        limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    """A JSON array, or an object holding records under a wrapper key (``{"data": [...]}``)."""
    shape = jsonscan.Shape()
    index = 0
    try:
        for el in jsonscan.elements(fh, shape, max_record_bytes=limit):
            index = el.index
            if el.error:
                yield el.index, el.line, el.column, None, formats.RecordProblem("INVALID_JSON", el.error)
            else:
                yield el.index, el.line, el.column, el.value, None
    except jsonscan.RecordTooLarge as exc:
        problem = formats.RecordProblem("RECORD_TOO_LARGE", f"{exc.message}; reading stopped here")
        yield index + 1, exc.line, exc.column, None, problem
        return
    except jsonscan.BrokenDocument as exc:
        problem = formats.RecordProblem("INVALID_JSON", f"the JSON document is broken: {exc.message}; reading stopped here")
        yield index + 1, exc.line, exc.column, None, problem
        return
    except UnicodeDecodeError:
        raise _encoding_error("the file is not valid UTF-8") from None
    if shape.wrapper_key:
        notes.append(ImportWarning("WRAPPED_RECORDS", index, f"a JSON object: its records are the {shape.wrapper_key!r} array"))
    elif shape.root == "object":
        yield from _lone_object(fh, shape)


REGISTRY_KEYS = frozenset({"file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"})
MAX_LONE_OBJECT_BYTES = 32 * 1024 * 1024


def _lone_object(fh: io.BufferedReader, shape: jsonscan.Shape) -> Iterator[Item]:
    """A top-level object with no records array: a single record, or say what it is."""
    keys = ", ".join(shape.top_keys[:10]) or "none"
    fh.seek(0)
    raw = fh.read(MAX_LONE_OBJECT_BYTES + 1)
    if len(raw) > MAX_LONE_OBJECT_BYTES:
        raise _shape_error(f"a JSON object (keys: {keys}) with no array of records under {_wrappers()}")
    value = json.loads(raw.decode("utf-8-sig"))
    if _is_registry(value):
        listed = ", ".join(f"{k} ({v.get('file_name') or v.get('hf_hub_url') or '?'})" for k, v in list(value.items())[:10])
        raise invalid_argument(
            "file",
            f"this is a dataset registry (like LLaMA-Factory's dataset_info.json) describing {len(value)} "
            f"datasets: {listed}; import the data files it names instead",
            reason="DATASET_IS_REGISTRY",
        )
    if formats.detect(value):
        yield 1, 1, 1, value, None
        return
    raise _shape_error(f"a JSON object (keys: {keys}) that is neither a record nor holds an array of records under {_wrappers()}")


def _is_registry(value: dict) -> bool:
    entries = [v for v in value.values() if isinstance(v, dict)]
    return bool(entries) and len(entries) == len(value) and any(REGISTRY_KEYS & set(v) for v in entries)


def _wrappers() -> str:
    return ", ".join(repr(k) for k in sorted(jsonscan.WRAPPER_KEYS))


def _shape_error(detail: str) -> TuneforgeError:
    return invalid_argument("file", f"the file is {detail}", reason="DATASET_SHAPE_UNKNOWN")


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
    """Standard CSV (RFC 4180 quoting: ``""`` inside a quoted field is one quote), the
    delimiter guessed from the header. A row with more fields than the header is refused
    with the line it starts on (an unquoted delimiter inside a value would cut it)."""
    delimiter = _csv_delimiter(fh, tsv)
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text, delimiter=delimiter, doublequote=True, quotechar='"')
        header = next(reader, None)
        if header is None:
            return
        names = [_header(h) for h in header]
        index, start = 0, reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            index += 1
            if len(row) > len(names):
                extra = len(row) - len(names)
                problem = formats.RecordProblem(
                    "TOO_MANY_FIELDS",
                    f"the row has {len(row)} fields, the header {len(names)}: {extra} more "
                    f"{delimiter!r} outside quotes (quote values that contain it)",
                )
                yield index, line, 0, None, problem
                continue
            record = {k: _csv_value(v) for k, v in zip(names, row) if k and v != ""}
            yield index, line, 0, record, None
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
            yield n, n, 0, row, None


def _read_text(fh: io.BufferedReader, limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    block: list[str] = []
    start = index = 0
    for n, raw in _lines(fh, limit):
        if raw is None:
            index += 1
            yield index, n, 0, None, _too_long(limit)
            continue
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        line = _decode(raw, n)
        if line.strip():
            start = start or n
            block.append(line)
        elif block:
            index += 1
            yield index, start, 0, {"text": "".join(block).strip()}, None
            block, start = [], 0
    if block:
        yield index + 1, start, 0, {"text": "".join(block).strip()}, None


ARCHIVE_MAGIC = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x1f\x8b": "gzip", b"7z\xbc\xaf": "7z"}


def _file_kind(path: Path, fh: io.BufferedReader, fmt: str) -> str:
    suffix = path.suffix.lower()
    if fmt == "parquet" or suffix == ".parquet":
        return "parquet"
    head = fh.peek(4096)[:4096]
    _check_archive(path, head)
    if fmt == "csv" or suffix in (".csv", ".tsv"):
        return "csv"
    _check_encoding(head)
    first = head.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "json" if _is_document(path) else "jsonl"
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


def _is_document(path: Path) -> bool:
    """Whether a file starting with ``{`` is one JSON document rather than JSON lines: its
    first line does not parse because the document goes on, or it is the file's only line
    and holds records under a wrapper key or describes datasets (a registry)."""
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
        rest = fh.read(4096).strip()
    if not first.endswith(b"\n") and rest:
        return True  # a first line over 1 MiB: leave it to the document scanner
    text = first.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.pos >= len(text)  # ran off the end of the line: the document goes on
    if rest or not isinstance(value, dict) or formats.detect(value):
        return False
    wrapped = any(k in jsonscan.WRAPPER_KEYS and isinstance(v, list) for k, v in value.items())
    return wrapped or _is_registry(value)


# --- the import ----------------------------------------------------------------------------


def _items(path: Path, fh: io.BufferedReader, kind: str, notes: list[ImportWarning],
           limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:  # fmt: skip
    if kind == "parquet":
        return _read_parquet(path)
    if kind == "csv":
        return _read_csv(fh, tsv=path.suffix.lower() == ".tsv")
    if kind == "json":
        return _read_json_document(fh, notes, limit)
    if kind == "jsonl":
        return _read_jsonl(fh, limit)
    return _read_text(fh, limit)


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
                raise invalid_argument(
                    "format",
                    f"record {index} at line {line} matches no known format (keys: "
                    f"{', '.join(sorted(record)[:10])}); pass format explicitly",
                    reason="DATASET_FORMAT_UNKNOWN",
                )
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
    fmt = (format or "auto").strip().lower()
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
        from tuneforge.services.dataset.scrub import Scrubber

        result = import_file(
            path, work, format=format, skip_invalid=skip_invalid,
            preview_size=preview_size or 5, max_record_chars=max_record_chars,
            scrubber=Scrubber() if scrub else None, max_record_bytes=max_record_bytes,
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
