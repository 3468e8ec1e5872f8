"""Resume vs continue training through the trainer's gRPC API (issue 27 item 4): a resume of a
checkpoint made with another plan is refused naming what differs; continue_from is a separate
operation and never combined with resume_from. All refused before a job exists."""

from __future__ import annotations

import json

import pytest
from trainer_helpers import FAST_CONFIG, make_dataset
from trainer_helpers import FAST_TYPED as FAST
from tuneforge.client import FailedPrecondition, InvalidArgument

from tuneforge.services.trainer.config import from_dict


def _checkpoint(root, tiny, **config):
    """A complete checkpoint on disk, as a worker leaves it (weights, trainer_state, the config
    written beside it)."""
    ckpt = root / "adapters" / "earlier" / "checkpoints" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_bytes(b"weights")
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": []}))
    (ckpt / "training_config.json").write_text(json.dumps({
        "config": from_dict({**FAST_CONFIG, **config}).to_dict(), "base_model": str(tiny),
        "dataset": "small", "job_id": "job-000000000007"}))
    return ckpt


def test_resume_of_a_checkpoint_from_another_plan_is_refused_naming_the_difference(
        client, server, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "small", 4)
    ckpt = _checkpoint(server.config.root, tiny_lm_dir, learning_rate=0.5)
    with pytest.raises(FailedPrecondition) as info:
        client.trainer.create_training_job(dataset="small", base_model=str(tiny_lm_dir), adapter_name="earlier",
                                           config=FAST, resume_from=str(ckpt))  # fmt: skip
    assert info.value.reason == "CHECKPOINT_PLAN_MISMATCH"
    assert "config.learning_rate 0.5 → 0.01" in str(info.value)
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_continue_from_and_resume_from_together_are_refused(client, server, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "small", 4)
    ckpt = _checkpoint(server.config.root, tiny_lm_dir)
    with pytest.raises(InvalidArgument) as info:
        client.trainer.create_training_job(dataset="small", base_model=str(tiny_lm_dir), adapter_name="next",
                                           config=FAST, resume_from=str(ckpt), continue_from=str(ckpt))  # fmt: skip
    assert [v.field for v in info.value.field_violations] == ["continue_from"]
    with pytest.raises(InvalidArgument) as info:  # a checkpoint without adapter_config.json
        client.trainer.create_training_job(dataset="small", base_model=str(tiny_lm_dir), adapter_name="next",
                                           config=FAST, continue_from=str(ckpt))  # fmt: skip
    assert info.value.reason == "CONTINUE_ADAPTER_INVALID"
    assert client.jobs.list_jobs(service="trainer").total_size == 0
