"""Reading on past a broken record in a JSON array.

The streaming scanner (:mod:`jsonscan`) tracks strings and brackets only; once a record
breaks the structure (a value missing its opening quote pairs every later quote wrongly) it
cannot tell where the next record starts, and the rest of the file would go uncounted. For a
document small enough to hold (the caller decides), :func:`records_after` finds the error
where ``json.loads`` does and reads on from the next line that starts a record at the
indentation records start at (or less: a pretty-printed record's inner objects sit deeper),
decoding record by record with the standard decoder. Records lost between the error and that
line count as the one broken record.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from typing import Any

Item = tuple[int, int, int, Any, Any]
_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


class _Text:
    """The document with its line starts, for positions as (line, column), 1-based."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)

    def where(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, pos)
        return line, pos - self.starts[line - 1] + 1

    def skip_ws(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _WS:
            pos += 1
        return pos


def read_on(text: str, last: tuple[int, int, int] | None, indent: int | None, problem: Any) -> Iterator[Item]:
    """``(index, line, column, record, problem)`` for the record that broke the document and
    every record after it that can be read.

    ``last`` is ``(index, line, column)`` of the last record the scanner yielded (None: none),
    ``indent`` the column (0-based) records start at when each starts a line (None: they do
    not), ``problem(message)`` makes the error of a broken record. The break is found by
    decoding strictly from the last record on — where ``json.loads`` would stop, not where
    the scanner noticed — so an earlier record's error, already reported, is not reported
    again."""
    doc = _Text(text)
    if last is None:
        error = _strict_error(text)
        if error is None:
            return
        index = 0
        yield index + 1, error.lineno, error.colno, None, problem(error.msg)
        line = error.lineno
    else:
        index, line, column = last
        pos = doc.starts[line - 1] + column - 1
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:  # that record was broken too (and reported): resync after it
            pass
        else:
            after = doc.skip_ws(end)
            if after < len(text) and text[after] == ",":
                items = list(_decode_from(doc, doc.skip_ws(after + 1), index, problem))
                yield from items
                if not items or items[-1][4] is None:
                    return
                index, line = items[-1][0], items[-1][1]
    while True:
        pos = _next_record_start(doc, line, indent)
        if pos is None:
            return
        items = list(_decode_from(doc, pos, index, problem))
        yield from items
        if not items or items[-1][4] is None:
            return
        index, line = items[-1][0], items[-1][1]


def _strict_error(text: str) -> json.JSONDecodeError | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc
    except RecursionError:
        return None
    return None


def _next_record_start(doc: _Text, after_line: int, indent: int | None) -> int | None:
    for n in range(after_line, len(doc.starts)):  # doc.starts[n] is line n + 1
        start = doc.starts[n]
        end = doc.starts[n + 1] if n + 1 < len(doc.starts) else len(doc.text)
        body = doc.text[start:end]
        stripped = body.lstrip(" \t")
        lead = len(body) - len(stripped)
        if stripped.startswith("{") and (indent is None or lead <= indent):  # inner objects sit deeper
            return start + lead
    return None


def _decode_from(doc: _Text, pos: int, index: int, problem: Any) -> Iterator[Item]:
    """Records from ``pos`` on, separated by commas, until the array's ``]``."""
    text = doc.text
    while True:
        index += 1
        line, column = doc.where(pos)
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            bad_line, bad_column = doc.where(exc.pos)
            yield index, bad_line, bad_column, None, problem(exc.msg)
            return
        after = doc.skip_ws(end)
        if after < len(text) and text[after] == ",":
            yield index, line, column, value, None
            pos = doc.skip_ws(after + 1)
            continue
        if after < len(text) and text[after] == "]":
            yield index, line, column, value, None
            return
        bad_line, bad_column = doc.where(after)
        yield index, bad_line, bad_column, None, problem("Expecting ',' delimiter")
        return
