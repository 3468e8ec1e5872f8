"""The model inspection command (merge is tested end to end in test_trainer_grpc.py)."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer.model_check import check_against_model, describe_model
from tuneforge.services.trainer.presets import resolve

MERGE = "tuneforge.services.trainer.merge_worker"


def test_inspect_model_reports_linear_modules_and_context(tiny_model):
    info = describe_model(str(tiny_model))
    assert info["model_type"] == "qwen2" and info["max_position_embeddings"] == 2048
    assert info["linear_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj",
                                      "up_proj", "v_proj"]
    assert "lm_head" not in json.dumps(info["linear_module_paths"])
    assert info["vocab_size"] == 1536 and info["chat_template"] is True
    bad = resolve("quick", {"target_modules": "c_attn", "max_seq_length": 8192})
    fields = {v.field for v in check_against_model(bad, info)}
    assert fields == {"config.target_modules", "config.max_seq_length"}


def test_inspect_model_of_an_unknown_model_is_a_field_violation(tmp_path):
    with pytest.raises(TuneforgeError) as info:
        describe_model(str(tmp_path / "no-such-model"))
    assert info.value.reason == "BASE_MODEL_NOT_AVAILABLE"
    assert info.value.violations[0].field == "base_model"
