"""``key=value`` text → a typed message, by the message's own descriptor.

The CLI's ``--set lora_rank=16 --set target_modules=q_proj,v_proj --set precision=bf16``
becomes a ``TrainingConfig`` with those fields set, plus the list of field names (a FieldMask).
Types come from the descriptor: integers, floats (finite), booleans (true/false, yes/no,
on/off, 1/0), enums by their short name (``bf16`` → ``PRECISION_BF16``), repeated fields as a
comma-separated list or a JSON list, and a list of messages (GRPO's ``rewards``) as a JSON list
of objects (``--set 'rewards=[{"kind": "format"}, {"kind": "chrf", "weight": 2}]'``). A field the message lacks, or a value that does not fit,
raises :class:`FieldParseError` naming the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
_INTS = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
         FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


class FieldParseError(ValueError):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


def enum_number(field: FieldDescriptor, text: str) -> int:
    """An enum value by its name or short name (``bf16`` → ``PRECISION_BF16``)."""
    values = field.enum_type.values
    prefix = values[0].name.removesuffix("UNSPECIFIED")
    wanted = text.strip().upper().replace("-", "_")
    for value in values[1:]:
        if value.name in (wanted, prefix + wanted):
            return value.number
    choices = ", ".join(v.name.removeprefix(prefix).lower() for v in values[1:])
    raise FieldParseError(field.name, f"expected one of {choices}, got {text!r}")


def _scalar(field: FieldDescriptor, text: str) -> Any:
    raw = text.strip()
    if field.type in _INTS:
        try:
            number = float(raw.replace("_", ""))
        except ValueError:
            raise FieldParseError(field.name, f"expected an integer, got {text!r}") from None
        if not number.is_integer():
            raise FieldParseError(field.name, f"expected an integer, got {text!r}")
        return int(number)
    if field.type in _FLOATS:
        try:
            number = float(raw)
        except ValueError:
            raise FieldParseError(field.name, f"expected a number, got {text!r}") from None
        if not math.isfinite(number):
            raise FieldParseError(field.name, f"expected a finite number, got {text!r}")
        return number
    if field.type == FieldDescriptor.TYPE_BOOL:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise FieldParseError(field.name, f"expected a boolean (true/false), got {text!r}")
    if field.enum_type is not None:
        return enum_number(field, raw)
    if field.type == FieldDescriptor.TYPE_STRING:
        return text
    raise FieldParseError(field.name, "cannot be set from text")


def _repeated(field: FieldDescriptor, text: str) -> list[Any]:
    raw = text.strip()
    if raw.startswith("["):
        try:
            items = [str(v) for v in json.loads(raw)]
        except (ValueError, TypeError):
            raise FieldParseError(field.name, f"expected a list, got {text!r}") from None
    else:
        items = [part.strip() for part in raw.split(",")]
    return [_scalar(field, item) for item in items if item.strip()]


def _is_message_list(field: FieldDescriptor) -> bool:
    return field.is_repeated and not field.message_type.GetOptions().map_entry


def _add_messages(target: Any, field: FieldDescriptor, text: str) -> None:
    """A JSON list of flat objects → messages appended to ``target`` (errors name
    ``field[i].key``)."""
    try:
        items = json.loads(text)
    except ValueError:
        raise FieldParseError(field.name, f"expected a JSON list of objects, got {text!r}") from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise FieldParseError(field.name, f"expected a JSON list of objects, got {text!r}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise FieldParseError(f"{field.name}[{i}]", f"expected an object, got {item!r}")
        msg = target.add()
        subfields = msg.DESCRIPTOR.fields_by_name
        for key, value in item.items():
            sub = subfields.get(key)
            where = f"{field.name}[{i}].{key}"
            if sub is None or sub.message_type is not None or sub.is_repeated:
                raise FieldParseError(where, f"unknown field; fields: {', '.join(subfields)}")
            text_value = ("true" if value else "false") if isinstance(value, bool) else str(value)
            try:
                setattr(msg, key, _scalar(sub, text_value))
            except FieldParseError as exc:
                raise FieldParseError(where, exc.description) from None


def parse_assignments(message_cls: type, items: list[str]) -> tuple[Any, list[str]]:
    """(message with the fields set, names of the fields set, in order)."""
    msg = message_cls()
    names: list[str] = []
    fields = msg.DESCRIPTOR.fields_by_name
    for item in items:
        key, sep, value = item.partition("=")
        name = key.strip().replace("-", "_")
        if not sep or not name:
            raise FieldParseError("set", f"expected key=value, got {item!r}")
        field = fields.get(name)
        if field is None or (field.message_type is not None and not _is_message_list(field)):
            raise FieldParseError(name, f"unknown field; fields: {', '.join(f for f in fields)}")
        if field.message_type is not None:
            del getattr(msg, name)[:]
            _add_messages(getattr(msg, name), field, value)
        elif field.is_repeated:
            del getattr(msg, name)[:]
            getattr(msg, name).extend(_repeated(field, value))
        else:
            setattr(msg, name, _scalar(field, value))
        if name not in names:
            names.append(name)
    return msg, names
