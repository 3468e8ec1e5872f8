"""A streaming reader of Telegram's ``result.json``: chats and messages, one message at a time.

Most of a big export is messages, so each message object is parsed in one call of the
standard library's C decoder (:meth:`json.JSONDecoder.raw_decode`) straight from a text
buffer; only the few levels above the messages (the export, ``chats.list``, a chat's keys)
are walked here in Python. That keeps the per-message Python work to a handful of calls —
an event-by-event parser (ijson) spends most of its time handing ~30 events per message
through Python — and memory to one read chunk plus the message being decoded.

A value cut by the end of the buffer is recognised from the decoder's own error (an
unterminated string, or an error at the very end of the buffer) and decoded again after
more is read; any other error is the file's, reported with its line and column.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

CHUNK = 1 << 20
MAX_VALUE_CHARS = 256 * 1024 * 1024  # one message (or skipped section) larger than this is refused
_WS = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*(,?)[ \t\n\r]*")
_decoder = json.JSONDecoder()


class JsonBroken(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{message} at line {line}, column {column}")
        self.line, self.column, self.message = line, column, message


class TextStream:
    """A decoded, sliding window over a UTF-8 byte stream, with the JSON primitives we need."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dec = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._lines_before = 0  # newlines in the text dropped from the front of buf

    def _fill(self) -> bool:
        """Read more; drop what was consumed. False at the end of the stream."""
        if self.eof:
            return False
        data = self._raw.read(CHUNK)
        try:
            text = self._dec.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line, col = self.where(len(self.buf))
            raise JsonBroken(line, col, f"not valid UTF-8 (byte {data[exc.start]:#04x} near here)") from None
        self._lines_before += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        self.eof = not data
        return True

    def where(self, at: int) -> tuple[int, int]:
        line = self._lines_before + self.buf.count("\n", 0, at) + 1
        return line, at - self.buf.rfind("\n", 0, at)

    def error(self, message: str, at: int | None = None) -> JsonBroken:
        line, col = self.where(self.pos if at is None else at)
        return JsonBroken(line, col, message)

    def peek(self) -> str:
        """The next non-blank character ("" at the end), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, ch: str) -> None:
        got = self.peek()
        if got != ch:
            raise self.error(f"expected {ch!r}, found {got!r}" if got else f"expected {ch!r}, the file ends")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next value; a value cut by the buffer's end is retried with more text."""
        if self.pos >= len(self.buf) or self.buf[self.pos] in " \t\n\r":
            self.peek()
        while True:
            try:
                value, end = _decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 1
                if cut and not self.eof and len(self.buf) - self.pos < MAX_VALUE_CHARS:
                    self._fill()
                    continue
                if cut and not self.eof:
                    raise self.error(f"a value larger than {MAX_VALUE_CHARS} characters") from None
                raise self.error(exc.msg, exc.pos) from None
            if end >= len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                self._fill()  # a number or literal may go on in the next chunk
                continue
            self.pos = end
            return value

    def keys(self) -> Iterator[str]:
        """The keys of the object starting here; the caller consumes each key's value."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("expected a key")
            key = self.value()
            self.expect(":")
            yield key
            ch = self.peek()
            self.pos += 1
            if ch == "}":
                return
            if ch != ",":
                raise self.error(f"expected ',' or '}}', found {ch!r}" if ch else "the file ends inside an object", self.pos - 1)

    def values(self) -> Iterator[Any]:
        """The decoded elements of the array starting here (the hot loop: one regex match and
        one C decode per element while the buffer holds them)."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            m = _SEPARATOR.match(self.buf, self.pos)
            if m.group(1) == "," and m.end() < len(self.buf):  # type: ignore[union-attr]
                self.pos = m.end()  # type: ignore[union-attr]
                continue
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                raise self.error(f"expected ',' or ']', found {ch!r}" if ch else "the file ends inside an array", self.pos - 1)

    def items(self) -> Iterator[None]:
        """One step per element of the array starting here; the caller consumes each element."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield None
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                raise self.error(f"expected ',' or ']', found {ch!r}" if ch else "the file ends inside an array", self.pos - 1)
