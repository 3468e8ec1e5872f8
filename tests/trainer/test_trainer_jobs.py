"""Worker specs from requests: confined adapter paths, existing adapters, resume targets."""

from __future__ import annotations

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.trainer.jobs import list_checkpoints, resolve_resume, train_spec
from tuneforge.services.trainer.presets import resolve


def _checkpoint(root, adapter, step):
    path = root / "adapters" / adapter / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    (path / "trainer_state.json").write_text('{"global_step": %d}' % step)
    return path


def test_train_spec_puts_the_adapter_under_the_data_root(tmp_path):
    spec = train_spec(tmp_path, base_model="Qwen/Qwen2.5-0.5B-Instruct", train_file="/d.jsonl",
                      config=resolve("quick"), adapter_name="support-bot", dataset_name="faq")
    assert spec["output_dir"] == str((tmp_path / "adapters" / "support-bot").resolve())
    assert spec["config"]["lora_rank"] == 4 and spec["resume_from_checkpoint"] is None
    with pytest.raises(TuneforgeError) as info:
        train_spec(tmp_path, base_model="m", train_file="x", config=resolve("quick"),
                   adapter_name="../etc", dataset_name="faq")
    assert info.value.code is Code.INVALID_ARGUMENT
    (tmp_path / "adapters" / "done" / "final").mkdir(parents=True)
    with pytest.raises(TuneforgeError) as info:
        train_spec(tmp_path, base_model="m", train_file="x", config=resolve("quick"),
                   adapter_name="done", dataset_name="faq")
    assert info.value.code is Code.ALREADY_EXISTS


def test_resume_targets_by_path_job_and_step(tmp_path):
    c5, c10 = _checkpoint(tmp_path, "a", 5), _checkpoint(tmp_path, "a", 10)
    (tmp_path / "adapters" / "a" / "checkpoints" / "checkpoint-15").mkdir()  # incomplete
    assert list_checkpoints(tmp_path / "adapters" / "a") == [c5, c10]
    jobs = {"job-abc": [str(c5), str(c10)]}

    def lookup(job_id):
        if job_id not in jobs:
            raise TuneforgeError(Code.NOT_FOUND, "JOB_NOT_FOUND", job_id)
        return jobs[job_id]

    assert resolve_resume(tmp_path, "job-abc", lookup) == c10.resolve()
    assert resolve_resume(tmp_path, "job-abc/checkpoint-5", lookup) == c5.resolve()
    assert resolve_resume(tmp_path, str(c5), lookup) == c5.resolve()
    assert resolve_resume(tmp_path, "a/checkpoints/checkpoint-10") == c10.resolve()
    for bad in ("a/checkpoints/checkpoint-15", "/etc", "../../x"):
        with pytest.raises(TuneforgeError) as info:
            resolve_resume(tmp_path, bad, lookup)
        assert info.value.code is Code.INVALID_ARGUMENT
    with pytest.raises(TuneforgeError) as info:
        resolve_resume(tmp_path, "job-abc/checkpoint-99", lookup)
    assert info.value.code is Code.NOT_FOUND
