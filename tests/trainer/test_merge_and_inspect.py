"""Merge worker (merged logits == PeftModel logits) and the model inspection command."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer.model_check import check_against_model, describe_model
from tuneforge.services.trainer.presets import resolve

from trainer_helpers import of, run_worker, write_spec

MERGE = "tuneforge.services.trainer.merge_worker"


def test_merged_model_gives_the_same_logits_as_base_plus_adapter(trained, tiny_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = trained["output_dir"] / "final"
    out = tmp_path / "merged"
    rc, events, output = run_worker(MERGE, write_spec(tmp_path, "merge", adapter_dir=str(adapter),
                                                      output_dir=str(out)))
    assert rc == 0, output[-3000:]
    assert of(events, "result")[-1]["data"]["output_dir"] == str(out.resolve())
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged-")]

    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("red 3 red 3 done", return_tensors="pt").input_ids
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(out)(ids).logits
        peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                         adapter)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model)(ids).logits
    torch.testing.assert_close(merged, peft, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-3)

    # a second merge into the same place is refused, nothing overwritten
    rc, events, _ = run_worker(MERGE, write_spec(tmp_path, "merge2", adapter_dir=str(adapter),
                                                 output_dir=str(out)))
    assert rc == 1 and of(events, "error")[-1]["reason"] == "OUTPUT_EXISTS"


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
