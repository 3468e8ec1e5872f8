"""TrainingConfig between the wire message and the domain dataclass.

The message (``tuneforge.trainer.v1.TrainingConfig``) has optional scalars, enums for
precision and quantization and a repeated ``target_modules``; the dataclass
(:class:`tuneforge.services.trainer.config.TrainingConfig`) keeps plain values. An override
is the set of fields a client set (or named in a FieldMask); it goes through the same
``apply_overrides`` and checks as a config file does, so every path validates alike.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.errors import FieldViolation, invalid_fields
from tuneforge.services.trainer.config import FIELDS, TrainingConfig

_ENUMS = {"precision": "PRECISION_", "quantization": "QUANTIZATION_", "method": "METHOD_",
          "report_to": "REPORT_TO_", "attn_implementation": "ATTN_IMPLEMENTATION_",
          "truncation": "TRUNCATION_"}


def config_pb(cfg: TrainingConfig | dict[str, Any]) -> pb.TrainingConfig:
    """Every field of a resolved config (or the fields of a partial dict) as the message."""
    values = cfg.to_dict() if isinstance(cfg, TrainingConfig) else dict(cfg)
    msg = pb.TrainingConfig()
    for name, value in values.items():
        if name not in FIELDS or value is None:
            continue
        if name in _ENUMS:
            setattr(msg, name, _ENUMS[name] + str(value).upper())
        elif name == "target_modules":
            msg.target_modules.extend([value] if isinstance(value, str) else list(value))
        elif name == "rewards":
            msg.rewards.extend(reward_pb(r) for r in value)
        else:
            setattr(msg, name, value)
    return msg


def _is_set(msg: Message, name: str) -> bool:
    field = msg.DESCRIPTOR.fields_by_name[name]
    if field.is_repeated:
        return len(getattr(msg, name)) > 0
    if field.enum_type is not None:
        return getattr(msg, name) != 0
    return msg.HasField(name)


def _value(msg: pb.TrainingConfig, name: str) -> Any:
    if name in _ENUMS:
        return pb.TrainingConfig.DESCRIPTOR.fields_by_name[name].enum_type.values_by_number[
            getattr(msg, name)].name.removeprefix(_ENUMS[name]).lower()
    if name == "target_modules":
        return list(msg.target_modules)
    if name == "rewards":
        return [reward_dict(r) for r in msg.rewards]
    return getattr(msg, name)


# GRPO (issue 27): RewardFunction <-> the canonical dict of rewards.parse
def reward_pb(spec: dict[str, Any]) -> pb.RewardFunction:
    msg = pb.RewardFunction()
    for key, value in spec.items():
        if value is None or key not in msg.DESCRIPTOR.fields_by_name:
            continue
        if key == "kind":
            kinds = pb.RewardFunction.Kind
            text = "KIND_" + str(value).upper().removeprefix("KIND_")
            msg.kind = kinds.Value(text) if text in kinds.keys() else 0
        else:
            setattr(msg, key, value)
    return msg


def reward_dict(msg: pb.RewardFunction) -> dict[str, Any]:
    """The fields set (a message field with presence only when present; strings when
    non-empty), ``kind`` by its short name ('' when unspecified, which the checks refuse)."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        if field.name == "kind":
            out["kind"] = "" if not msg.kind else pb.RewardFunction.Kind.Name(msg.kind).removeprefix("KIND_").lower()
        elif field.has_presence and field.type != field.TYPE_STRING:
            if msg.HasField(field.name):
                out[field.name] = getattr(msg, field.name)
        elif getattr(msg, field.name):
            out[field.name] = getattr(msg, field.name)
    return out


def overrides(msg: pb.TrainingConfig, mask: list[str] | None = None, field: str = "update_mask") -> dict[str, Any]:
    """The fields to apply: those named in ``mask`` (``config.`` prefix allowed), else every
    field that is set. A masked field left unset is an INVALID_ARGUMENT (to restore the
    built-in defaults, use reset)."""
    if not mask:
        return {name: _value(msg, name) for name in FIELDS if _is_set(msg, name)}
    names = [m.removeprefix("config.") for m in mask]
    bad = [FieldViolation(field, f"unknown config field {n!r}; fields: {', '.join(FIELDS)}")
           for n in names if n not in FIELDS]
    bad += [FieldViolation(f"config.{n}", "named in the mask but not set")
            for n in names if n in FIELDS and not _is_set(msg, n)]
    if bad:
        raise invalid_fields(bad, reason="INVALID_TRAINING_CONFIG", message="invalid training config")
    return {n: _value(msg, n) for n in names}
