"""The model inspection command and the merge worker's spec checks (merge is tested end to end
in test_trainer_grpc.py)."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer import merge_worker
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


def adapter_dir(tmp_path, config):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    return adapter


def merge_error(spec):
    with pytest.raises(TuneforgeError) as info:
        merge_worker.main(spec)
    return info.value


def test_merge_of_a_directory_without_an_adapter_is_adapter_not_found_before_the_output_check(tmp_path):
    error = merge_error({"adapter_dir": str(tmp_path / "nothing-here")})
    assert error.reason == "ADAPTER_NOT_FOUND" and error.violations[0].field == "adapter_dir"


def test_merge_without_an_output_directory_names_the_field(tmp_path):
    error = merge_error({"adapter_dir": str(adapter_dir(tmp_path, {"base_model_name_or_path": "x"}))})
    assert error.violations[0].field == "output_dir"


def test_merge_into_a_non_empty_directory_is_output_exists(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    error = merge_error({"adapter_dir": str(adapter_dir(tmp_path, {})), "output_dir": str(out)})
    assert error.reason == "OUTPUT_EXISTS" and (out / "keep.txt").read_text() == "mine"


def test_merge_of_an_adapter_that_names_no_base_asks_for_one(tmp_path):
    error = merge_error({"adapter_dir": str(adapter_dir(tmp_path, {})), "output_dir": str(tmp_path / "out")})
    assert error.reason == "BASE_MODEL_NOT_AVAILABLE" and error.violations[0].field == "base_model"
