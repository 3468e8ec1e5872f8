"""The records of a JSON document with their physical positions, one record in memory at a time.

A JSON array (``[{...}, {...}]``) or a wrapper object (``{"data": [{...}, ...]}``) is cut into
its top-level elements by a small scanner that follows brackets and strings byte by byte
(strings cannot span lines in JSON, so a line is never ambiguous). Each element is then
parsed on its own with :func:`json.loads`, which is why

* a syntax error inside record 3 is reported at its physical line and column (``line 5,
  column 19``), and the records after it are still read and counted;
* every record carries its index *and* the line it starts on (record 285 at line 1425);
* a broken structure (an unterminated string, a stray bracket, a file that ends too early)
  is reported where it happens, and reading stops there;
* a record larger than ``max_record_bytes`` is never held: the scanner follows its brackets
  and strings to its end without keeping its bytes, reports it where it starts
  (``too_large``), and goes on with the next record, as the JSON lines reader does.

What the ``json`` module numbers in characters is numbered in characters here too (columns
count code points, not bytes), so Cyrillic text gets the same columns an editor shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

# Keys under which a wrapper object holds its records (Hugging Face / LLaMA-Factory exports).
WRAPPER_KEYS = frozenset(
    {"data", "train", "records", "examples", "rows", "items", "instances", "samples", "dataset"}
)
CHUNK = 1 << 20
MAX_RECORD_BYTES = 256 * 1024 * 1024  # one record larger than this stops the read
_STRUCT = re.compile(rb'[\[\]{},:"]')
_STRING_STOP = re.compile(rb'["\\\n]')  # what can end the plain run of a string: quote, escape, newline
_BLANK = re.compile(rb"[ \t\r\n]*")
_CONT = bytes(range(0x80, 0xC0))  # UTF-8 continuation bytes: not characters of their own


@dataclass
class Element:
    """One record: 1-based ``index``, where it starts, and its value or its syntax error."""

    index: int
    line: int
    column: int
    value: Any = None
    error: str = ""  # set when the element is not valid JSON (line/column are the error's)
    too_large: bool = False  # larger than max_record_bytes: skipped, never read into memory


class BrokenDocument(Exception):
    """The structure itself is broken: reading cannot go on past ``line``/``column``."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line, self.column, self.message = line, column, message


class RecordTooLarge(BrokenDocument):
    """A value outside the records (a wrapper object's other keys) is larger than the cap:
    reading stops there, so memory stays bounded. (A record that large is skipped.)"""


@dataclass
class Shape:
    """What the document turned out to be, known once :func:`elements` has finished."""

    root: str = ""  # "array" or "object"
    wrapper_key: str = ""  # the key whose array held the records ("" for a root array)
    top_keys: tuple[str, ...] = ()


class _Cursor:
    """Line/column of byte offsets in a sliding buffer, computed lazily and monotonically."""

    def __init__(self) -> None:
        self.pos, self.line, self.col = 0, 1, 1

    def at(self, buf: bytes, p: int) -> tuple[int, int]:
        n = buf.count(b"\n", self.pos, p)
        if n:
            last = buf.rindex(b"\n", self.pos, p)
            self.line += n
            self.col = 1 + len(buf[last + 1 : p].translate(None, _CONT))
        else:
            self.col += len(buf[self.pos : p].translate(None, _CONT))
        self.pos = p
        return self.line, self.col

    def shift(self, k: int) -> None:
        self.pos -= k


def elements(stream: BinaryIO, shape: Shape | None = None,
             max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Element]:
    """Yield the records of a JSON array or wrapper object read from ``stream`` (bytes).

    Raises :class:`BrokenDocument` where the structure breaks. For an object without a
    wrapper key nothing is yielded and ``shape.top_keys`` lists its keys (the caller decides
    what such a file is: a registry, a single record, ...). A record larger than
    ``max_record_bytes`` comes as a ``too_large`` element where it starts; a value that large
    outside the records raises :class:`RecordTooLarge`.
    """
    return _Scanner(stream, shape if shape is not None else Shape(), max_record_bytes).run()


class _Scanner:
    """Brackets, strings and separators of one document, in a sliding byte buffer."""

    def __init__(self, stream: BinaryIO, shape: Shape, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self.stream, self.shape, self.max_record = stream, shape, max_record_bytes
        self.buf = stream.read(CHUNK)
        if self.buf.startswith(b"\xef\xbb\xbf"):
            self.buf = self.buf[3:]
        self.eof = not self.buf
        self.cur = _Cursor()
        self.stack: list[int] = []  # b"[" / b"{" as ints
        self.record_depth = 0  # len(stack) inside the record array; 0 before, -1 after it
        self.elem_start = -1  # buffer offset just after the separator that opened the element
        self.index = 0
        self.last_key, self.after_colon, self.root_done = "", False, False
        self.top_keys: list[str] = []
        self.pos = 0
        self.skip_at: tuple[int, int] | None = None  # line/column of the oversize record being skipped
        self.in_string = False  # inside a string of that record, its start already dropped

    def broken(self, at: int, message: str) -> BrokenDocument:
        line, col = self.cur.at(self.buf, at)
        return BrokenDocument(line, col, message)

    def run(self) -> Iterator[Element]:
        while True:
            if self.in_string:
                self.skip_string()
                continue
            m = _STRUCT.search(self.buf, self.pos)
            partial = m is not None and m.group() == b'"' and _string_end(self.buf, m.start()) >= len(self.buf) - 1
            if (m is None or partial) and not self.eof:
                if partial and self.skip_at is not None:  # a long string of a skipped record
                    self.in_string, self.pos = True, m.start() + 1  # type: ignore[union-attr]
                    continue
                self.refill(len(self.buf) if m is None else m.start())
                continue
            if m is None:
                break
            yield from self.token(m.start(), self.buf[m.start()])
        self.finish()

    def refill(self, resume: int) -> None:
        """Drop what is behind (but keep the open element), read the next chunk."""
        buf = self.buf
        if self.root_done and buf[self.pos : resume].strip():
            raise self.broken(_BLANK.match(buf, self.pos).end(), "extra data after the end of the document")  # type: ignore[union-attr]
        keep = resume if self.elem_start < 0 else min(self.elem_start, resume)
        if len(buf) - keep > self.max_record:
            start = self.cur.at(buf, _BLANK.match(buf, keep).end())  # type: ignore[union-attr]
            if self.elem_start < 0:
                raise RecordTooLarge(*start, f"a value larger than {self.max_record} bytes (max_record_bytes) starts here")
            self.skip_at, self.elem_start, keep = start, -1, resume  # follow the record to its end, keep nothing
        self.cur.at(buf, keep)
        more = self.stream.read(CHUNK)
        self.eof = not more
        self.buf = buf[keep:] + more
        self.cur.shift(keep)
        self.pos = resume - keep
        if self.elem_start >= 0:
            self.elem_start -= keep

    def token(self, p: int, ch: int) -> Iterator[Element]:
        if self.root_done:
            raise self.broken(p, "extra data after the end of the document")
        if not self.stack and ch not in b"[{":
            raise self.broken(p, f"expected '[' or '{{' at the start, found {chr(ch)!r}")
        if ch == 0x22:
            self.string(p)
            return
        self.pos = p + 1
        at_records = self.record_depth > 0 and len(self.stack) == self.record_depth
        if ch == 0x3A:  # ':'
            self.after_colon = len(self.stack) == 1
        elif ch == 0x2C:  # ','
            if len(self.stack) == 1:
                self.after_colon = False
            if at_records:
                yield self.emit(p, comma=True)
                self.elem_start = self.pos
        elif ch in b"[{":
            self.open(ch)
        else:
            yield from self.close(p, ch, at_records)

    def emit(self, p: int, comma: bool) -> Element:
        """The record that ends at ``p`` (a ',' or the closing ']')."""
        self.index += 1
        if self.skip_at is not None:
            (line, col), self.skip_at = self.skip_at, None
            return Element(self.index, line, col, too_large=True)
        return _element(self.buf, self.elem_start, p, self.index, self.cur, comma=comma)

    def skip_string(self) -> None:
        """Go on through a string of a skipped record, dropping what has been read."""
        end = _string_stop(self.buf, self.pos)
        if end < len(self.buf) and self.buf[end] == 0x22:
            self.in_string, self.pos = False, end + 1
        elif (end < len(self.buf) and self.buf[end] == 0x0A) or self.eof:
            raise self.broken(end, "unterminated string")
        else:
            self.refill(end)  # an escape cut by the chunk's end is kept for the next one

    def string(self, p: int) -> None:
        end = _string_end(self.buf, p)
        if end >= len(self.buf) or self.buf[end] != 0x22:
            raise self.broken(p, "unterminated string")
        if len(self.stack) == 1 and self.stack[0] == 0x7B and not self.after_colon:
            try:
                self.last_key = json.loads(self.buf[p : end + 1])
            except ValueError:
                self.last_key = ""
            self.top_keys.append(self.last_key)
        self.pos = end + 1

    def open(self, ch: int) -> None:
        stack = self.stack
        opens_records = (not stack and ch == 0x5B) or (
            self.record_depth == 0 and len(stack) == 1 and stack[0] == 0x7B and ch == 0x5B
            and self.after_colon and self.last_key in WRAPPER_KEYS
        )  # fmt: skip
        if not stack:
            self.shape.root = "array" if ch == 0x5B else "object"
        stack.append(ch)
        if opens_records:
            self.record_depth = len(stack)
            self.shape.wrapper_key = self.last_key if len(stack) == 2 else ""
            self.elem_start = self.pos

    def close(self, p: int, ch: int, at_records: bool) -> Iterator[Element]:
        want = 0x5B if ch == 0x5D else 0x7B
        if not self.stack or self.stack[-1] != want:
            raise self.broken(p, f"unexpected {chr(ch)!r}")
        if at_records and ch == 0x5D:
            if self.skip_at is not None or self.buf[self.elem_start : p].strip() or self.index:
                yield self.emit(p, comma=False)
            self.elem_start = -1
            self.record_depth = -1  # done: no second record array
        self.stack.pop()
        if len(self.stack) == 1:
            self.after_colon = False
        if not self.stack:
            self.root_done = True

    def finish(self) -> None:
        buf = self.buf
        if buf[self.pos :].strip() and self.root_done:
            raise self.broken(_BLANK.match(buf, self.pos).end(), "extra data after the end of the document")  # type: ignore[union-attr]
        if self.stack:
            raise self.broken(len(buf), f"the file ends inside the document ({len(self.stack)} brackets left open)")
        if not self.root_done:
            raise self.broken(len(buf), "no JSON array or object found")
        self.shape.top_keys = tuple(self.top_keys)


def _string_end(buf: bytes, p: int) -> int:
    """Where the string opened by the quote at ``p`` stops: its closing quote, a newline (an
    unterminated string), an escape cut by the buffer's end, or ``len(buf)``.

    A loop over the quotes, escapes and newlines, not one regular expression: ``re`` keeps a
    backtracking frame per character of a repeated group, about 120 bytes a byte, so one
    5 MB string cost 600 MB while a scan of it was still under way.
    """
    return _string_stop(buf, p + 1)


def _string_stop(buf: bytes, i: int) -> int:
    """:func:`_string_end` for a string whose content starts at ``i``."""
    n = len(buf)
    while (m := _STRING_STOP.search(buf, i)) is not None:
        k = m.start()
        if buf[k] != 0x5C or k + 1 >= n or buf[k + 1] == 0x0A:  # a quote, a newline, or an escape cut short
            return k
        i = k + 2
    return n


def _element(buf: bytes, start: int, end: int, index: int, cur: _Cursor, comma: bool) -> Element:
    raw = buf[start:end]
    lead = len(raw) - len(raw.lstrip())
    line, col = cur.at(buf, start + lead)
    text = raw.strip()
    if not text:
        what = "a value before ','" if comma else "a value before ']' (a trailing comma?)"
        return Element(index, line, col, error=f"expected {what}")
    try:
        return Element(index, line, col, json.loads(text))
    except UnicodeDecodeError:
        raise
    except json.JSONDecodeError as exc:
        err_line = line + exc.lineno - 1
        err_col = exc.colno + (col - 1 if exc.lineno == 1 else 0)
        return Element(index, err_line, err_col, error=exc.msg)
