"""Continue training (issue 27 item 4): a new plan — fresh optimizer, step 0 — on top of an
earlier adapter's weights, refused when the adapter does not fit the plan."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from trainer_helpers import FAST_CONFIG, learnable_records, of, run_worker, write_jsonl, write_spec

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer.config import from_dict
from tuneforge.services.trainer.jobs import check_continue_plan

TRAIN = "tuneforge.services.trainer.train_worker"


@pytest.fixture(scope="module")
def first_adapter(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("cont")
    train = write_jsonl(tmp / "data.jsonl", learnable_records(8))
    spec = write_spec(tmp, "first", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp / "adapters" / "first"), adapter_name="first", max_steps=2,
                      config={**FAST_CONFIG, "validation_split": 0})
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    return tmp, of(events, "result")[-1]["data"]["adapter_dir"]


def test_continue_training_starts_a_new_plan_from_the_adapters_weights(first_adapter, tiny_model):
    tmp, adapter = first_adapter
    train = write_jsonl(tmp / "more.jsonl", learnable_records(8, seed=5))
    spec = write_spec(tmp, "second", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp / "adapters" / "second"), adapter_name="second", max_steps=1,
                      continue_from_adapter=adapter,
                      config={**FAST_CONFIG, "validation_split": 0, "learning_rate": 1e-12})
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    result = of(events, "result")[-1]["data"]
    assert result["continued_from"] == adapter and result["global_step"] == 1  # step 0, a new plan
    assert any("continuing training from the adapter" in e["message"] for e in of(events, "log"))
    before = load_file(f"{adapter}/adapter_model.safetensors")
    after = load_file(f"{result['adapter_dir']}/adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # lr 1e-12: unchanged
    assert any(before[k].abs().sum() > 0 for k in before if "lora_B" in k)  # trained, not a fresh init


def test_continue_from_an_adapter_of_another_rank_is_refused_naming_it(first_adapter, tiny_model):
    _, adapter = first_adapter
    cfg = from_dict({**FAST_CONFIG, "lora_rank": 4})
    with pytest.raises(TuneforgeError) as info:
        check_continue_plan(adapter, cfg, str(tiny_model))
    assert info.value.reason == "CHECKPOINT_PLAN_MISMATCH" and "config.lora_rank 8 → 4" in info.value.message
    check_continue_plan(adapter, from_dict(FAST_CONFIG), str(tiny_model))  # the same shape: fine
