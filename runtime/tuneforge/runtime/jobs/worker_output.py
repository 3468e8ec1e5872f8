"""Reading what a worker writes: complete new lines of its stdout/stderr files, and the
JSON-line events among them (the protocol is in ``tuneforge.runtime.worker_events``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Seen:
    """What a worker has reported so far that decides how its job ends."""

    result: bool = False
    error: dict[str, Any] | None = None


MAX_LINE_BYTES = 1024 * 1024  # a longer line is cut here (with a note), the rest skipped
READ_BYTES = 1024 * 1024  # read this much per call at most: memory stays bounded


class Tail:
    """Reads complete new lines of a growing file from a byte offset.

    A line ends at ``\n`` or ``\r`` (a progress bar redrawn with ``\r`` is a stream of
    lines, not one endless line). A line longer than :data:`MAX_LINE_BYTES` is cut there with
    a note and the rest of it skipped, so no output shape can stall the tail or grow memory.
    Each line comes with the offset just past it, where a re-attached service reads on.
    """

    def __init__(self, path: Path, offset: int = 0, max_line: int = MAX_LINE_BYTES) -> None:
        self.path = path
        self.offset = offset
        self.max_line = max_line
        self._skipping = False  # inside an over-long line whose head was already emitted

    def read_lines(self, final: bool = False) -> list[tuple[str, int]]:
        """New complete lines; ``final`` (the writer is gone) also returns a last unended line."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(READ_BYTES)
        except FileNotFoundError:
            return []
        lines: list[tuple[str, int]] = []
        start = 0
        nl = cr = -1  # next \n and \r at or after start (each searched again only once passed)
        while start < len(data):
            if nl < start:
                nl = data.find(b"\n", start)
                nl = len(data) + 1 if nl < 0 else nl
            if cr < start:
                cr = data.find(b"\r", start)
                cr = len(data) + 1 if cr < 0 else cr
            end = min(nl, cr)
            if end > len(data):
                end = self._unended(data, start, final, lines)
                if end < 0:
                    break
                start = end
                continue
            if not self._skipping:
                self._emit(data[start:end], self.offset + end + 1, lines)
            self._skipping = False
            start = end + 1
        self.offset += start
        return lines

    def _unended(self, data: bytes, start: int, final: bool, lines: list[tuple[str, int]]) -> int:
        """What to do with bytes after the last line end: wait for more (-1), or consume them
        as a cut line (over-long, or the writer is gone) and return where they end."""
        rest = len(data) - start
        if self._skipping:
            return len(data)  # still inside the skipped tail of an over-long line
        if rest >= self.max_line:
            cut = start + self.max_line
            self._emit(data[start:cut], self.offset + cut, lines, note=" [line cut: longer than "
                       f"{self.max_line} bytes]")  # fmt: skip
            self._skipping = True
            return cut
        if final:
            self._emit(data[start:], self.offset + len(data), lines)
            return len(data)
        return -1

    @staticmethod
    def _emit(raw: bytes, offset: int, lines: list[tuple[str, int]], note: str = "") -> None:
        text = raw.decode("utf-8", errors="replace").rstrip()
        if text:
            lines.append((text + note, offset))


def parse_worker_line(line: str) -> tuple[str, dict[str, Any]]:
    """(event type, data) of one stdout line; anything not an event is a log line."""
    if line.startswith("{"):
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            raw = None
        if isinstance(raw, dict) and isinstance(raw.get("event"), str):
            kind = raw.pop("event")
            raw.pop("time", None)
            if kind == "log":
                return "log", {"level": str(raw.get("level", "info")), "message": str(raw.get("message", "")), "source": "worker"}
            if kind in {"progress", "metrics", "checkpoint", "result", "error"}:
                return kind, raw
    return "log", {"level": "info", "message": line, "source": "worker"}


def with_percent(progress: dict[str, Any]) -> dict[str, Any]:
    out = dict(progress)
    step, total = out.get("step"), out.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        out["percent"] = round(100.0 * min(step, total) / total, 2)
    return out
