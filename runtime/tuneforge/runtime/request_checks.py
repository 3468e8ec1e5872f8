"""Checks every request gets from its own descriptor, before a servicer sees it.

Proto3 enums are open: a client may send any number, and a servicer that looks the number up
in a table fails with INTERNAL. Strings are bounded only by the message size, so one 7 MiB
name or prompt travelled into lookups, logs and stored configs. Rather than each servicer
remembering both checks for every field, the interceptor walks each request message (and
each message of a client stream) once: an enum number the enum does not declare, or a string
longer than :data:`MAX_STRING_CHARS` (or its field's entry in :data:`LONGER_STRINGS`), is
INVALID_ARGUMENT naming the field by its path (``config.method``, ``messages[3].content``).

A stored config is capped as a whole too (:func:`stored_json`): bounded strings can still be
many (a repeated field), and what is stored is read back on every request.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tuneforge.runtime.errors import Violations, invalid_argument

MAX_STRING_CHARS = 64 * 1024
# Fields that legitimately carry more text (the full proto name of the field → its limit).
# Chat turns may hold a pasted document; the chat RPC bounds their number and total itself.
LONGER_STRINGS: dict[str, int] = {
    "tuneforge.registry.v1.ChatMessage.content": 1024 * 1024,
}
MAX_STORED_CONFIG_BYTES = 256 * 1024  # one stored settings object (a service's config) as JSON
MAX_REPORTED = 20  # violations gathered before the walk stops (the status shows 20 at most)
_SKIPPED = {"google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value"}


def check_request(message: Message) -> None:
    """Raise INVALID_ARGUMENT listing the unknown enum numbers and overlong strings."""
    found = Violations()
    _walk(message, "", found)
    found.raise_if_any("invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in found.items[:3]))


def _walk(message: Message, prefix: str, found: Violations) -> None:
    for field, value in message.ListFields():
        if len(found.items) >= MAX_REPORTED:
            return
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            for key, item in value.items():
                shown = f"{path}[{str(key)[:40]!r}]"
                _one(key_field, key, shown, found)
                _one(value_field, item, shown, found)
        elif field.is_repeated:
            for i, item in enumerate(value):
                _one(field, item, f"{path}[{i}]", found)
        else:
            _one(field, value, path, found)


def _one(field: FieldDescriptor, value: object, path: str, found: Violations) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name not in _SKIPPED:
            _walk(value, path + ".", found)  # type: ignore[arg-type]
    elif field.type == FieldDescriptor.TYPE_ENUM:
        if field.enum_type.values_by_number.get(value) is None:  # type: ignore[arg-type]
            found.add(path, f"{value} is not a value of {field.enum_type.name}", "UNKNOWN_ENUM_VALUE")
    elif field.type == FieldDescriptor.TYPE_STRING:
        limit = LONGER_STRINGS.get(field.full_name, MAX_STRING_CHARS)
        if len(value) > limit:  # type: ignore[arg-type]
            found.add(path, f"{len(value)} characters; at most {limit}", "STRING_TOO_LONG")  # type: ignore[arg-type]


def stored_json(value: Any, field_name: str = "config", limit: int = MAX_STORED_CONFIG_BYTES) -> str:
    """``value`` as the JSON a settings store keeps; INVALID_ARGUMENT when it is over ``limit`` bytes."""
    text = json.dumps(value, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size > limit:
        raise invalid_argument(field_name, f"the stored config would take {size} bytes; at most {limit}", reason="CONFIG_TOO_LARGE")
    return text
