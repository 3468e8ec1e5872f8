"""Reading CSV and TSV tables as datasets: one record per row, keyed by the header.

FAQ tables come from spreadsheets: Excel writes ``;`` in many locales, headers are written
in Russian or abbreviated (``Q``/``A``), and a ``messages`` column may hold JSON. So the
delimiter is guessed from the header line, headers are mapped to the keys the formats use
(:data:`HEADER_ALIASES`), and cells holding JSON arrays or objects are parsed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import formats
from tuneforge.services.dataset.readers import Item, encoding_error


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


def read_csv(fh: io.BufferedReader, tsv: bool = False) -> Iterator[Item]:
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

