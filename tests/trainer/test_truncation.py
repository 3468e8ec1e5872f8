"""Records longer than max_seq_length: a truncation report before training, never silent, and a
policy (truncate | split_turns | drop) that never trains an assistant turn without its
end-of-turn token. The report is counted by the training job's own encoding, checked here
against a direct count with the tokenizer, and shown by `train plan`, `dataset stats
--base-model` and the training job (before training starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_trainer_cli import REPO
from test_trainer_cli import cli as train_cli
from trainer_helpers import FAST_CONFIG, of, read_until, start_worker, write_jsonl, write_spec

from tuneforge.runtime.job_rpcs import to_message
from tuneforge.services.trainer import chat_data

LIMIT = 128
SYSTEM = {"role": "system", "content": "Be brief."}


def _turn(i: int, n: int) -> list[dict]:
    return [{"role": "user", "content": f"question {i} " + "word " * n},
            {"role": "assistant", "content": f"answer {i} " + "reply " * n}]


def _short(k: int) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": f"hello {k}"},
            {"role": "assistant", "content": f"hi {k}"}]


SHORT = _short(0)
LONG = [SYSTEM, *[m for i in range(6) for m in _turn(i, 6)]]  # ~380 tokens, each turn fits
HUGE_TURN = [SYSTEM, *_turn(0, 2), *_turn(1, 60)]  # its second turn alone is over the limit
RECORDS = [_short(0), LONG, _short(1), HUGE_TURN, _short(2)]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def _direct_count(tok, records, limit):
    """(indices over the limit, assistant tokens beyond it, turns whose <|im_end|> is beyond it)
    straight from apply_chat_template, without chat_data."""
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    over, cut, turns = [], 0, 0
    for index, messages in enumerate(records):
        out = tok.apply_chat_template(messages, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        if len(out["input_ids"]) <= limit:
            continue
        over.append(index)
        cut += sum(out["assistant_masks"][limit:])
        for i, msg in enumerate(messages):
            if msg["role"] == "assistant":
                through = tok.apply_chat_template(messages[: i + 1], tokenize=True)
                end = len(through) - 1 - through[::-1].index(im_end)
                turns += end >= limit
    return over, cut, turns


def _runs_end_with_im_end(tok, enc) -> bool:
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    return all(labels[end - 1] == im_end
               for labels in enc.labels
               for _, end in chat_data.label_runs([t != -100 for t in labels]))


def test_the_report_counts_records_tokens_and_turns_over_the_limit_exactly(tokenizer):
    report = chat_data.truncation_report(tokenizer, RECORDS, LIMIT)
    over, cut, turns = _direct_count(tokenizer, RECORDS, LIMIT)
    assert over == [1, 3] and cut > 0 and turns > 0
    assert (report.records, report.records_over_limit, report.record_indices) == (5, 2, over)
    assert (report.assistant_tokens_cut, report.turns_cut) == (cut, turns)
    assert report.turns_without_end_of_turn == 0


def test_truncate_is_the_default_and_keeps_no_turn_without_its_end_of_turn_token(tokenizer):
    assert chat_data.encode_records.__defaults__[1] == "truncate"
    from tuneforge.services.trainer.config import TrainingConfig

    assert TrainingConfig().truncation == "truncate"
    enc = chat_data.encode_records(tokenizer, RECORDS, LIMIT)
    assert enc.source_index == [0, 1, 2, 3, 4] and all(len(ids) <= LIMIT for ids in enc.input_ids)
    assert _runs_end_with_im_end(tokenizer, enc) and enc.end_of_turn_coverage == 1.0
    long_labels = tokenizer.decode([t for t in enc.labels[1] if t != -100])
    assert long_labels == "answer 0 reply reply reply reply reply reply <|im_end|>"  # turn 2 was cut
    assert enc.report.assistant_tokens_lost == (_lost(tokenizer, enc, 1, LONG)
                                                + _lost(tokenizer, enc, 3, HUGE_TURN))


def _lost(tok, enc, index, messages):
    """Assistant tokens of record ``index`` that are not trained."""
    full = sum(tok.apply_chat_template(messages, tokenize=True, return_dict=True,
                                       return_assistant_tokens_mask=True)["assistant_masks"])
    return full - sum(sum(t != -100 for t in labels)
                      for labels, src in zip(enc.labels, enc.source_index) if src == index)


def test_split_turns_makes_pieces_within_the_limit_each_with_the_system_prompt(tokenizer):
    enc = chat_data.encode_records(tokenizer, RECORDS, LIMIT, truncation="split_turns")
    assert all(len(ids) <= LIMIT for ids in enc.input_ids)
    assert _runs_end_with_im_end(tokenizer, enc) and enc.end_of_turn_coverage == 1.0
    pieces = [ids for ids, src in zip(enc.input_ids, enc.source_index) if src == 1]
    assert len(pieces) > 1
    assert all(tokenizer.decode(ids).startswith("<|im_start|>system\nBe brief.<|im_end|>")
               for ids in pieces)
    trained = [tokenizer.decode([t for t in labels if t != -100])
               for labels, src in zip(enc.labels, enc.source_index) if src == 1]
    assert "".join(trained) == "".join(f"answer {i} {'reply ' * 6}<|im_end|>"
                                       for i in range(6))  # every turn of LONG, whole, once
    assert enc.report.assistant_tokens_lost == _lost(tokenizer, enc, 3, HUGE_TURN) > 0
    assert enc.report.records_added_by_split == len(pieces) - 1 + (
        sum(src == 3 for src in enc.source_index) - 1)
    # HUGE_TURN's second turn does not fit alone: truncated, so not trained; its first is.
    huge = [tokenizer.decode([t for t in labels if t != -100])
            for labels, src in zip(enc.labels, enc.source_index) if src == 3]
    assert huge == ["answer 0 reply reply <|im_end|>"]


def test_drop_removes_every_record_over_the_limit(tokenizer):
    enc = chat_data.encode_records(tokenizer, RECORDS, LIMIT, truncation="drop")
    assert enc.source_index == [0, 2, 4] and enc.dropped == [1, 3]
    assert enc.report.records_dropped == 2 and enc.report.records_over_limit == 2


def test_the_policy_is_a_config_key_and_an_unknown_one_is_refused_naming_the_choices():
    from tuneforge.runtime.errors import TuneforgeError
    from tuneforge.services.trainer import config_pb
    from tuneforge.services.trainer.config import from_dict

    assert from_dict({"truncation": "split_turns"}).truncation == "split_turns"
    msg = config_pb.config_pb({"truncation": "drop"})
    assert config_pb.overrides(msg) == {"truncation": "drop"}
    with pytest.raises(TuneforgeError) as info:
        from_dict({"truncation": "chop"})
    bad = info.value.violations[0]
    assert bad.field == "config.truncation" and "truncate, split_turns, drop" in bad.description


# ---- what reaches the user ---------------------------------------------------------------
def test_the_training_job_reports_the_truncation_before_training(tmp_path, tiny_model, tokenizer):
    train = write_jsonl(tmp_path / "data.jsonl", [{"messages": m} for m in RECORDS * 2])
    spec = write_spec(tmp_path, "trunc", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"), adapter_name="trunc", max_steps=1,
                      config={**FAST_CONFIG, "max_seq_length": LIMIT, "validation_split": 0.2})
    proc = start_worker("tuneforge.services.trainer.train_worker", spec)
    try:
        events = read_until(proc, lambda e: e["event"] == "result", timeout=300)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert not [e for e in events if e["event"] == "metrics" or e.get("phase") == "training"]
    expected = chat_data.truncation_report(tokenizer, RECORDS * 2, LIMIT)  # the whole file
    assert of(events, "result")[0]["data"]["truncation"] == expected.to_dict()
    assert any(e["message"].startswith("truncation: 4 of 10 records are longer")
               and e["level"] == "warning" for e in of(events, "log"))
    from tuneforge.trainer.v1 import trainer_pb2

    typed = to_message(of(events, "result")[0]["data"], trainer_pb2.TrainingJobResult)
    assert typed.truncation.records_over_limit == 4
    assert list(typed.truncation.record_indices) == [1, 3, 6, 8]
    assert typed.truncation.truncation == trainer_pb2.TrainingConfig.TRUNCATION_TRUNCATE


def _import(client, tmp_path, name: str) -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", [{"messages": m} for m in RECORDS])
    up = client.upload_file("dataset", path)
    client.dataset.import_dataset(upload_id=up.id, dataset_name=name)


def test_train_plan_and_dataset_stats_show_the_report(server, tiny_lm_dir, tmp_path, tokenizer):
    from tuneforge.client import Client
    from tuneforge.trainer.v1 import trainer_pb2

    with Client(server.target, timeout=120) as client:
        _import(client, tmp_path, "long")
        plan = client.trainer.plan_training(
            dataset="long", base_model=str(tiny_lm_dir),
            config={"max_seq_length": LIMIT, "truncation": "split_turns"},
            warmup=trainer_pb2.PlanTrainingRequest.Warmup.WARMUP_SKIP)
        stored = chat_data.load_records(Path(client.dataset.get_dataset(name="long").path))
    over, cut, turns = _direct_count(tokenizer, stored, LIMIT)
    assert over  # the import may hold a record out for validation: the report is of the rest
    expected = chat_data.truncation_report(tokenizer, stored, LIMIT, "split_turns")
    assert list(plan.truncation.record_indices) == over
    assert (plan.truncation.records_over_limit, plan.truncation.assistant_tokens_cut,
            plan.truncation.turns_cut) == (len(over), cut, turns)
    assert plan.truncation.records_added_by_split == expected.records_added_by_split > 0
    listed = ", ".join(map(str, over))

    run = train_cli(server.target, "plan", "--dataset", "long", "--base-model", str(tiny_lm_dir),
                    "--set", f"max_seq_length={LIMIT}", "--no-warmup")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (f"truncation: {len(over)} of {len(stored)} records are longer than max_seq_length="
            f"{LIMIT} (records {listed})") in run.stdout and "with truncation=truncate" in run.stdout

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNEFORGE_TARGET": server.target}
    stats = subprocess.run(
        [sys.executable, "-m", "tuneforge.cli.main", "dataset", "stats", "long", "--base-model",
         str(tiny_lm_dir), "--max-seq-length", str(LIMIT), "--truncation", "drop"],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO, check=False)
    assert stats.returncode == 0, stats.stderr[-3000:]
    assert f"over max_seq_length {LIMIT}:" in stats.stdout
    assert f"(records {listed})" in stats.stdout and "with truncation=drop they are dropped" in stats.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "tuneforge.cli.main", "dataset", "stats", "long", "--json",
         "--base-model", str(tiny_lm_dir), "--max-seq-length", str(LIMIT)],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO, check=False)
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    data = json.loads(as_json.stdout)
    assert data["truncation"]["record_indices"] == [str(i) for i in over]
    assert data["truncation"]["records_over_limit"] == str(len(over))
