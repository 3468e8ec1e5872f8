"""Reading one JSON document as a dataset: an array of records, records under a wrapper key
(``{"data": [...]}``), or a lone object that is one record.

A document is streamed element by element with :mod:`jsonscan`, so a several-GB array is
read with bounded memory. A top-level object that holds no records gets an error saying what
it is instead — above all a dataset registry such as LLaMA-Factory's ``dataset_info.json``,
which people upload in place of the data it names. :func:`is_document` tells a document that
starts with ``{`` from JSON lines.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from tuneforge.runtime.errors import TuneforgeError, invalid_argument
from tuneforge.services.dataset import formats, json_resync, jsonscan
from tuneforge.services.dataset.import_report import ImportWarning
from tuneforge.services.dataset.readers import MAX_RECORD_BYTES, Item, encoding_error


def read_json_document(fh: io.BufferedReader, notes: list[ImportWarning],
                       limit: int = MAX_RECORD_BYTES) -> Iterator[Item]:
    """A JSON array, or an object holding records under a wrapper key (``{"data": [...]}``)."""
    shape = jsonscan.Shape()
    index = 0
    last: tuple[int, int, int] | None = None  # (index, line, column) of the last record read
    try:
        for el in jsonscan.elements(fh, shape, max_record_bytes=limit):
            index = el.index
            last = (el.index, el.line, el.column)
            if el.too_large:
                problem = formats.RecordProblem("RECORD_TOO_LARGE", f"a record larger than {limit} bytes (max_record_bytes); skipped")
                yield el.index, el.line, el.column, None, problem
            elif el.error:
                yield el.index, el.line, el.column, None, formats.RecordProblem("INVALID_JSON", el.error)
            else:
                yield el.index, el.line, el.column, el.value, None
    except jsonscan.RecordTooLarge as exc:
        problem = formats.RecordProblem("RECORD_TOO_LARGE", f"{exc.message}; reading stopped here")
        yield index + 1, exc.line, exc.column, None, problem
        return
    except jsonscan.BrokenDocument as exc:
        yield from _after_break(fh, exc, last)
        return
    except UnicodeDecodeError:
        raise encoding_error("the file is not valid UTF-8") from None
    if shape.wrapper_key:
        notes.append(ImportWarning("WRAPPED_RECORDS", index, f"a JSON object: its records are the {shape.wrapper_key!r} array"))
    elif shape.root == "object":
        yield from _lone_object(fh, shape)


MAX_STRICT_REPARSE_BYTES = 64 * 1024 * 1024


def _after_break(fh: io.BufferedReader, exc: jsonscan.BrokenDocument,
                 last: tuple[int, int, int] | None) -> Iterator[Item]:
    """The record that broke the document's structure, where a strict parser finds the error,
    and the records after it that can be read (:mod:`json_resync`). A document over
    :data:`MAX_STRICT_REPARSE_BYTES` stops at the scanner's position instead."""
    index = last[0] if last else 0
    stopped = (index + 1, exc.line, exc.column, None, formats.RecordProblem(
        "INVALID_JSON", f"the JSON document is broken: {exc.message}; reading stopped here"))
    try:
        fh.seek(0)
        raw = fh.read(MAX_STRICT_REPARSE_BYTES + 1)
        text = raw.decode("utf-8-sig") if len(raw) <= MAX_STRICT_REPARSE_BYTES else None
    except (OSError, ValueError):
        text = None
    if text is None:
        yield stopped
        return
    broken = False
    indent = last[2] - 1 if last else None
    for item in json_resync.read_on(text, last, indent, _broken_here):
        broken = broken or item[4] is not None
        index = item[0]
        yield item
    if not broken:  # the strict decoder read on where the scanner could not: keep its word
        yield (index + 1, *stopped[1:])


def _broken_here(message: str) -> formats.RecordProblem:
    return formats.RecordProblem("INVALID_JSON", f"the JSON document is broken here: {message}")


REGISTRY_KEYS = frozenset({"file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"})
MAX_LONE_OBJECT_BYTES = 32 * 1024 * 1024


def _lone_object(fh: io.BufferedReader, shape: jsonscan.Shape) -> Iterator[Item]:
    """A top-level object with no records array: a single record, or say what it is."""
    keys = ", ".join(shape.top_keys[:10]) or "none"
    fh.seek(0)
    raw = fh.read(MAX_LONE_OBJECT_BYTES + 1)
    if len(raw) > MAX_LONE_OBJECT_BYTES:
        raise _shape_error(f"a JSON object (keys: {keys}) with no array of records under {_wrappers()}")
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise encoding_error("the file is not valid UTF-8") from None
    except json.JSONDecodeError as exc:  # a lone object broken inside: one bad record
        yield 1, exc.lineno, exc.colno, None, formats.RecordProblem("INVALID_JSON", exc.msg)
        return
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


def is_document(path: Path) -> bool:
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
