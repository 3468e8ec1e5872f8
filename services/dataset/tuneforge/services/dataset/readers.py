"""The shared machinery of the dataset readers, and the readers of line-based files.

Every reader yields ``(index, line, column, record | None, problem | None)`` per record
(:data:`Item`), so the import run treats all file kinds alike. Here live what they share —
the UTF-8 checks that turn a wrong encoding into one clear ``DATASET_ENCODING`` error, and
bounded line reading that never holds more than ``max_record_bytes`` of one line — and the
readers of JSON lines, plain text and Parquet. JSON documents (:mod:`json_document`) and
CSV/TSV tables (:mod:`csv_reader`) have modules of their own.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, failed_precondition, invalid_argument
from tuneforge.services.dataset import formats

Item = tuple[int, int, int, Any, "formats.RecordProblem | None"]


def check_encoding(head: bytes) -> None:
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):  # fmt: skip
        if head.startswith(bom) and not head.startswith(codecs.BOM_UTF8):
            raise encoding_error(f"the file is {name} (byte order mark found)")


def encoding_error(detail: str) -> TuneforgeError:
    return invalid_argument(
        "file",
        f"{detail}; only UTF-8 is supported — re-save the file as UTF-8",
        reason="DATASET_ENCODING",
    )


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise encoding_error(
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


def _text_lines(fh: io.BufferedReader, limit: int) -> Iterator[tuple[int, str | None]]:
    """(line number, decoded line without a leading BOM), None for a line over ``limit``."""
    for n, raw in _lines(fh, limit):
        if raw is not None and n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        yield n, None if raw is None else _decode(raw, n)


def read_jsonl(fh: io.BufferedReader, limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    index = 0
    for n, line in _text_lines(fh, limit):
        if line is None:
            index += 1
            yield index, n, 0, None, _too_long(limit)
            continue
        text = line.strip()
        if not text:
            continue
        index += 1
        try:
            yield index, n, 0, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield index, n, exc.colno, None, formats.RecordProblem("INVALID_JSON", exc.msg)


def read_parquet(path: Path) -> Iterator[Item]:
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


def read_text(fh: io.BufferedReader, limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    block: list[str] = []
    start = index = 0
    for n, line in _text_lines(fh, limit):
        if line is None:
            index += 1
            yield index, n, 0, None, _too_long(limit)
            continue
        if line.strip():
            start = start or n
            block.append(line)
        elif block:
            index += 1
            yield index, start, 0, {"text": "".join(block).strip()}, None
            block, start = [], 0
    if block:
        yield index + 1, start, 0, {"text": "".join(block).strip()}, None
