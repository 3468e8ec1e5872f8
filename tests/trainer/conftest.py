"""Fixtures for the trainer tests: the tiny Qwen2 model (built once) and one trained adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer_helpers import FAST_CONFIG, learnable_records, run_worker, write_jsonl, write_spec

TRAIN = "tuneforge.services.trainer.train_worker"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    return cached_tiny_lm()


@pytest.fixture(scope="session")
def trained(tiny_model: Path, tmp_path_factory) -> dict:
    """One real training run on a learnable dataset (several epochs), shared by tests."""
    tmp = tmp_path_factory.mktemp("trained")
    train = write_jsonl(tmp / "data.jsonl", learnable_records(32))
    val = write_jsonl(tmp / "validation.jsonl", learnable_records(4, seed=1))
    out = tmp / "adapters" / "learned"
    spec = write_spec(tmp, "train", base_model=str(tiny_model), train_file=str(train),
                      validation_file=str(val), output_dir=str(out), adapter_name="learned",
                      dataset_name="learnable",
                      config={**FAST_CONFIG, "epochs": 6, "save_steps": 20})
    rc, events, output = run_worker(TRAIN, spec, timeout=240)
    assert rc == 0, output[-3000:]
    return {"rc": rc, "events": events, "output_dir": out, "tmp": tmp, "train_file": train}
