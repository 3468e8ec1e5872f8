"""``--set key=value`` parsed by the message descriptor (tuneforge.client.fields)."""

from __future__ import annotations

import pytest

from tuneforge.client.fields import FieldParseError, parse_assignments
from tuneforge.trainer.v1 import trainer_pb2

Config = trainer_pb2.TrainingConfig


@pytest.mark.parametrize(("item", "field", "expected"), [
    ("lora_rank=16", "lora_rank", 16),
    ("max_seq_length=1_024", "max_seq_length", 1024),
    ("learning_rate=3e-4", "learning_rate", 3e-4),
    ("packing=yes", "packing", True),
    ("gradient_checkpointing=off", "gradient_checkpointing", False),
    ("precision=bf16", "precision", Config.PRECISION_BF16),
    ("quantization=QUANTIZATION_NF4", "quantization", Config.QUANTIZATION_NF4),
    ("target_modules=q_proj, v_proj", "target_modules", ["q_proj", "v_proj"]),
    ('target_modules=["all-linear"]', "target_modules", ["all-linear"]),
    ("lora-alpha=32", "lora_alpha", 32),
])  # fmt: skip
def test_a_value_takes_its_fields_type(item, field, expected):
    msg, names = parse_assignments(Config, [item])
    value = getattr(msg, field)
    assert (list(value) if field == "target_modules" else value) == expected and names == [field]


@pytest.mark.parametrize(("item", "field", "why"), [
    ("lora_rank=1.5", "lora_rank", "integer"),
    ("learning_rate=fast", "learning_rate", "number"),
    ("learning_rate=nan", "learning_rate", "finite"),
    ("packing=maybe", "packing", "boolean"),
    ("precision=fp8", "precision", "bf16"),
    ("nope=1", "nope", "unknown field"),
    ("lora_rank", "set", "key=value"),
])  # fmt: skip
def test_a_bad_value_names_the_field_and_the_reason(item, field, why):
    with pytest.raises(FieldParseError) as err:
        parse_assignments(Config, [item])
    assert err.value.field == field and why in err.value.description


def test_only_the_fields_given_are_set():
    msg, names = parse_assignments(Config, ["seed=7", "lora_rank=4", "seed=8"])
    assert names == ["seed", "lora_rank"] and msg.seed == 8
    assert not msg.HasField("epochs") and msg.precision == Config.PRECISION_UNSPECIFIED
