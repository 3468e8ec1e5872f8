"""Out-of-range training values are INVALID_ARGUMENT at creation — not a job that dies later
— and every violation of one request comes back together."""

from __future__ import annotations

import json

import pytest

from tuneforge.client import InvalidArgument
from tuneforge.services.trainer.config import TrainingConfig, check
from tuneforge.trainer.v1 import trainer_pb2


@pytest.mark.parametrize(("name", "value"), [
    ("epochs", 1e9), ("batch_size", 10**9), ("lora_alpha", 10**20), ("seed", 2**64 + 1), ("seed", -1),
    ("lora_rank", 10**6), ("gradient_accumulation_steps", 10**9), ("max_seq_length", 10**9),
    ("save_steps", 10**12), ("weight_decay", 1e6), ("warmup_ratio", 2.0),
])  # fmt: skip
def test_an_out_of_range_value_is_a_violation(name, value):
    violations = check(TrainingConfig(**{name: value}))
    assert [v.field for v in violations] == [f"config.{name}"], violations


def test_every_bad_value_and_the_rank_above_the_hidden_size_come_back_together(client, tiny_lm_dir, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n")
    client.dataset.import_dataset(upload_id=client.upload_file("dataset", data).id, dataset_name="d")
    config = trainer_pb2.TrainingConfig(epochs=1e9, batch_size=10**9, lora_rank=100_000, lora_alpha=2**31 - 1)
    with pytest.raises(InvalidArgument) as err:
        client.trainer.create_training_job(dataset="d", base_model=str(tiny_lm_dir), adapter_name="a", config=config)
    fields = {v.field for v in err.value.field_violations}
    assert {"config.epochs", "config.batch_size", "config.lora_rank", "config.lora_alpha"} <= fields, fields
    assert any("hidden size" in v.description for v in err.value.field_violations if v.field == "config.lora_rank")
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_a_bad_name_and_a_bad_config_are_reported_together(client):
    with pytest.raises(InvalidArgument) as err:
        client.trainer.create_training_job(dataset="", base_model="x/y", adapter_name="../a",
                                           config=trainer_pb2.TrainingConfig(epochs=-1))  # fmt: skip
    assert {"adapter_name", "dataset", "config.epochs"} <= {v.field for v in err.value.field_violations}
