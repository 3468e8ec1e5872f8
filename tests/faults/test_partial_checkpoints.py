"""A checkpoint cut short by a full disk (round 3 found a ``checkpoint-N/`` holding only a
README) is never reported, never listed or resumed from, and does not stay behind: the
training worker removes it when the save fails, and when the next run starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer.jobs import list_checkpoints, remove_incomplete_checkpoints, resolve_resume

sys.path.insert(0, str(Path(__file__).parent.parent / "trainer"))
from trainer_helpers import FAST_CONFIG, learnable_records, of, run_worker, write_jsonl, write_spec  # noqa: E402


def _checkpoints(root: Path) -> Path:
    """adapters/a/checkpoints with checkpoint-5 complete and three a save cut short: a README
    only (the issue's), weights without trainer state, and a half-written trainer state."""
    ckpts = root / "adapters" / "a" / "checkpoints"
    for step in (5, 10, 15, 20):
        (ckpts / f"checkpoint-{step}").mkdir(parents=True)
        (ckpts / f"checkpoint-{step}" / "README.md").write_text("# adapter\n")
    for step in (5, 15, 20):
        (ckpts / f"checkpoint-{step}" / "adapter_model.safetensors").write_bytes(b"weights")
    (ckpts / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}')
    (ckpts / "checkpoint-20" / "trainer_state.json").write_text('{"global_step": 2')
    return ckpts


def test_a_checkpoint_cut_short_is_neither_listed_nor_resumed_from(tmp_path):
    ckpts = _checkpoints(tmp_path)
    assert list_checkpoints(ckpts.parent) == [ckpts / "checkpoint-5"]
    assert resolve_resume(tmp_path, "a/checkpoints/checkpoint-5") == (ckpts / "checkpoint-5").resolve()
    for step in (10, 15, 20):
        with pytest.raises(TuneforgeError) as err:
            resolve_resume(tmp_path, f"a/checkpoints/checkpoint-{step}")
        assert err.value.reason == "RESUME_CHECKPOINT_INVALID", step


def test_removing_incomplete_checkpoints_keeps_the_complete_ones(tmp_path):
    ckpts = _checkpoints(tmp_path)
    removed = remove_incomplete_checkpoints(ckpts.parent)
    assert sorted(p.name for p in removed) == ["checkpoint-10", "checkpoint-15", "checkpoint-20"]
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-5"]


def test_the_trainer_callback_never_reports_an_incomplete_checkpoint(tmp_path, capsys):
    from tuneforge.services.trainer.callbacks import EventsCallback

    ckpts = _checkpoints(tmp_path)
    seen = []
    callback = EventsCallback(on_checkpoint=seen.append)
    for step in (10, 5):
        callback.on_save(SimpleNamespace(output_dir=str(ckpts)),
                         SimpleNamespace(global_step=step, is_world_process_zero=True), SimpleNamespace())
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [5]
    assert seen == [ckpts / "checkpoint-5"] and callback.last_checkpoint == ckpts / "checkpoint-5"


def test_a_save_that_fills_the_disk_leaves_no_checkpoint_behind(tmp_path, tiny_lm_dir, small_root, filler):
    """The real worker on the tiny model, its adapter directory on a tmpfs with 12 KiB left: the
    first checkpoint's README fits, its weights do not."""
    out = small_root / "adapters" / "cut"
    out.mkdir(parents=True)
    train = write_jsonl(tmp_path / "data.jsonl", learnable_records(32))
    spec = write_spec(tmp_path, "cut", base_model=str(tiny_lm_dir), train_file=str(train), output_dir=str(out),
                      adapter_name="cut", dataset_name="learnable", config={**FAST_CONFIG, "save_steps": 2})
    filler.fill(leave=12 * 1024)
    rc, events, output = run_worker("tuneforge.services.trainer.train_worker", spec, timeout=300)
    assert rc == 1, output[-3000:]
    assert of(events, "error")[-1]["reason"] == "DISK_FULL", output[-3000:]
    assert of(events, "checkpoint") == []
    assert sorted(p.name for p in out.glob("checkpoints/checkpoint-*")) == []  # (TRL's model card may stay)
