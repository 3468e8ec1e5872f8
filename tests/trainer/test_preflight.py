"""Pre-flight: the plan reads the model's config and the data's longest record, and refuses a
job that cannot fit, saying what to change."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer.config import from_dict
from tuneforge.services.trainer.preflight import Device, check, make_plan, model_config

GIB = 1024**3
QWEN_05B_CONFIG = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
                   "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
                   "tie_word_embeddings": True}
SMALL_GPU = Device("cuda", "Small GPU", 4 * GIB, 4 * GIB)
BIG_GPU = Device("cuda", "Big GPU", 80 * GIB, 80 * GIB)


@pytest.fixture
def qwen_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN_05B_CONFIG))
    return str(tmp_path)


def test_plan_trains_at_the_longest_record_when_it_is_shorter_than_max_seq_length(qwen_dir):
    plan = make_plan(qwen_dir, from_dict({"max_seq_length": 2048}), BIG_GPU, longest_record=300)
    assert plan.settings.seq_len == 300 and plan.seq_len_source == "longest record"


def test_plan_with_packing_trains_full_rows(qwen_dir):
    plan = make_plan(qwen_dir, from_dict({"max_seq_length": 2048, "packing": True}), BIG_GPU,
                     longest_record=300)
    assert plan.settings.seq_len == 2048


def test_job_that_fits_passes(qwen_dir):
    check(make_plan(qwen_dir, from_dict({}), BIG_GPU, longest_record=512))


def test_job_that_does_not_fit_is_refused_with_what_to_change(qwen_dir):
    cfg = from_dict({"batch_size": 16, "max_seq_length": 4096, "gradient_checkpointing": False})
    plan = make_plan(qwen_dir, cfg, SMALL_GPU, longest_record=4096)
    with pytest.raises(TuneforgeError) as info:
        check(plan)
    err = info.value
    assert err.code.name == "RESOURCE_EXHAUSTED" and err.reason == "INSUFFICIENT_MEMORY"
    assert "--set quantization=nf4" in err.message and "--set max_seq_length=" in err.message
    assert "Small GPU" in err.message


def test_full_fine_tuning_above_the_limit_is_refused_before_queueing(qwen_dir):
    plan = make_plan(qwen_dir, from_dict({"method": "full"}), BIG_GPU, longest_record=64)
    with pytest.raises(TuneforgeError) as info:
        check(plan, full_max_parameters=100_000_000)
    assert info.value.reason == "FULL_FINETUNE_TOO_LARGE"
    assert "--set method=lora" in info.value.message


def test_unknown_base_model_is_refused_naming_the_field():
    with pytest.raises(TuneforgeError) as info:
        model_config("no-such-org/no-such-model-xyz")
    assert info.value.reason == "BASE_MODEL_NOT_AVAILABLE"


@pytest.mark.parametrize("method,fmt", [("dpo", "messages"), ("orpo", "sharegpt"),
                                        ("lora", "preference"), ("full", "preference_hh")])
def test_method_and_dataset_kind_that_do_not_match_are_refused_with_the_fix(method, fmt):
    from tuneforge.services.trainer.preflight import check_data_kind

    with pytest.raises(TuneforgeError) as info:
        check_data_kind(method, fmt)
    assert info.value.reason == "DATASET_METHOD_MISMATCH"
    assert "method=" in info.value.message


@pytest.mark.parametrize("fmt,fix", [("messages", "method=lora"), ("sharegpt", "method=lora"),
                                     ("preference", "method=dpo")])
def test_kto_refuses_data_that_is_not_labelled_answers_naming_the_fix(fmt, fix):
    from tuneforge.services.trainer.preflight import check_data_kind

    with pytest.raises(TuneforgeError) as info:
        check_data_kind("kto", fmt)
    assert info.value.reason == "DATASET_METHOD_MISMATCH"
    assert "labelled true/false" in info.value.message and fix in info.value.message


@pytest.mark.parametrize("method", ["lora", "full", "dpo", "orpo"])
def test_a_kto_dataset_is_refused_for_every_other_method_pointing_to_kto(method):
    from tuneforge.services.trainer.preflight import check_data_kind

    with pytest.raises(TuneforgeError) as info:
        check_data_kind(method, "kto")
    assert info.value.reason == "DATASET_METHOD_MISMATCH"
    assert "rejected answers" in info.value.message and "method=kto" in info.value.message


def test_a_kto_dataset_is_accepted_for_method_kto():
    from tuneforge.services.trainer.preflight import check_data_kind

    check_data_kind("kto", "kto")


def test_device_without_a_gpu_is_the_cpu_with_its_available_memory(monkeypatch):
    from tuneforge.services.trainer import preflight

    monkeypatch.setattr(preflight.shutil, "which", lambda name: None)
    device = preflight.device_for("1")
    assert device.kind == "cpu" and 0 < device.free_bytes <= device.total_bytes
