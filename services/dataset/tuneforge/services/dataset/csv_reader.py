"""Reading CSV and TSV tables as datasets: one record per row, keyed by the header.

FAQ tables come from spreadsheets: Excel writes ``;`` in many locales, headers are written
in Russian or abbreviated (``Q``/``A``), and a ``messages`` column may hold JSON. So the
delimiter is guessed from the header line, headers are mapped to the keys the formats use
(:data:`HEADER_ALIASES`), and cells holding JSON arrays or objects are parsed.

A row is bounded by ``max_record_bytes`` (counted in characters) as a JSON line is: the
``csv`` module would hold a whole row however long (200 MB of short cells took 436 MB), so
it reads lines through :class:`_RowLines`, which stops a row at the cap; that row is
reported (``RECORD_TOO_LARGE``, with its line) and skipped to its end without being kept,
and the rows after it are read as usual.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import formats
from tuneforge.services.dataset.readers import MAX_RECORD_BYTES, Item, encoding_error


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


class _RowTooLarge(Exception):
    pass


class _RowLines:
    """The physical lines of a table for ``csv.reader``, at most ``limit`` characters of one
    row: past it, :class:`_RowTooLarge`. Quotes are counted so that :meth:`skip_row` knows
    where a row that was cut off ends (at a line end outside quotes)."""

    def __init__(self, text: io.TextIOWrapper, limit: int) -> None:
        self.text, self.limit = text, limit
        self.line = 0  # physical lines begun
        self.row_chars, self.quoted, self.line_ended = 0, False, True

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        piece = self._read(self.limit + 1)
        if not piece:
            raise StopIteration
        self.row_chars += len(piece)
        if self.row_chars > self.limit:
            raise _RowTooLarge
        return piece

    def _read(self, size: int) -> str:
        piece = self.text.readline(size)
        if piece:
            self.line += self.line_ended
            self.line_ended = piece.endswith(("\n", "\r"))
            self.quoted ^= piece.count('"') % 2 == 1
        return piece

    def next_row(self) -> None:
        self.row_chars, self.quoted = 0, False

    def skip_row(self) -> None:
        """Read on to the end of the row that was cut off, keeping nothing."""
        while not self.line_ended or self.quoted:
            if not self._read(1 << 20):
                return


def read_csv(fh: io.BufferedReader, tsv: bool = False, limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    """Standard CSV (RFC 4180 quoting: ``""`` inside a quoted field is one quote), the
    delimiter guessed from the header. A row with more fields than the header is refused
    with the line it starts on (an unquoted delimiter inside a value would cut it); a row
    longer than ``limit`` characters is refused (``RECORD_TOO_LARGE``) and skipped."""
    delimiter = _csv_delimiter(fh, tsv)
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    lines = _RowLines(text, limit)
    csv.field_size_limit(max(csv.field_size_limit(), limit))  # a cell may be as long as a row may
    try:
        reader = csv.reader(lines, delimiter=delimiter, doublequote=True, quotechar='"')
        try:
            header = next(reader, None)
        except _RowTooLarge:
            raise invalid_argument("file", f"the header row is longer than {limit} characters (max_record_bytes)",
                                   reason="DATASET_INVALID_CSV") from None  # fmt: skip
        if header is None:
            return
        names = [_header(h) for h in header]
        index, start = 0, lines.line + 1
        while True:
            lines.next_row()
            try:
                row = next(reader)
            except StopIteration:
                break
            except _RowTooLarge:
                lines.skip_row()
                index += 1
                problem = formats.RecordProblem("RECORD_TOO_LARGE", f"the row is longer than {limit} characters (max_record_bytes)")
                yield index, start, 0, None, problem
                start = lines.line + 1
                reader = csv.reader(lines, delimiter=delimiter, doublequote=True, quotechar='"')  # the old one holds the cut row
                continue
            line, start = start, lines.line + 1
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
        raise encoding_error(f"the CSV is not valid UTF-8 ({exc.reason})") from None
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

