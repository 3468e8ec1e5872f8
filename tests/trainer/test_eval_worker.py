"""The evaluation worker's refusals (the full train → evaluate run is in test_trainer_eval_grpc)."""

from __future__ import annotations

from trainer_helpers import of, owner_records, run_worker, write_jsonl, write_spec

from tuneforge.services.trainer.eval_worker import pick_turns

EVAL = "tuneforge.services.trainer.eval_worker"


def test_without_held_out_data_it_fails_with_a_clear_reason(tmp_path, tiny_model):
    train = write_jsonl(tmp_path / "d.jsonl", owner_records(4))
    spec = write_spec(tmp_path, "e", base_model=str(tiny_model), adapter_dir=str(tmp_path),
                      train_file=str(train), validation_split=0)
    rc, events, _ = run_worker(EVAL, spec, timeout=60)
    assert rc == 1 and of(events, "error")[-1]["reason"] == "NO_HELD_OUT_DATA"


def test_a_directory_without_an_adapter_fails_with_adapter_not_found(tmp_path, tiny_model):
    val = write_jsonl(tmp_path / "v.jsonl", owner_records(2))
    spec = write_spec(tmp_path, "e", base_model=str(tiny_model), adapter_dir=str(tmp_path / "nope"),
                      validation_file=str(val))
    rc, events, _ = run_worker(EVAL, spec, timeout=60)
    assert rc == 1 and of(events, "error")[-1]["reason"] == "ADAPTER_NOT_FOUND"


def test_dialogs_are_the_last_owner_replies_first_then_earlier_ones():
    a = [{"role": "user", "content": "1"}, {"role": "assistant", "content": "a1"},
         {"role": "user", "content": "2"}, {"role": "assistant", "content": "a2"}]
    b = [{"role": "user", "content": "3"}, {"role": "assistant", "content": "b1"}]
    picked = pick_turns([a, b], 3)
    assert [ref for _, ref in picked] == ["a2", "b1", "a1"]
    assert picked[0][0] == a[:3] and pick_turns([a, b], 1) == [(a[:3], "a2")]
