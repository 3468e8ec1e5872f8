"""Preference pairs (DPO / ORPO data): every common shape imports to the trainer's record,
bad pairs are reported per record like chat records are, and stats count them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.services.dataset.import_report import ImportFailed
from tuneforge.services.dataset.importing import import_file
from tuneforge.services.dataset.stats import compute_stats

USER = {"role": "user", "content": "Capital of France?"}
GOOD = {"role": "assistant", "content": "Paris."}
BAD = {"role": "assistant", "content": "Berlin."}
EXPECTED = {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}


def _write(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


SHAPES = {
    "text": ("preference",
             {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Berlin."}),
    "message lists": ("preference", {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}),
    "implicit prompt": ("preference", {"chosen": [USER, GOOD], "rejected": [USER, BAD]}),
    "anthropic hh": ("preference_hh",
                     {"chosen": "\n\nHuman: Capital of France?\n\nAssistant: Paris.",
                      "rejected": "\n\nHuman: Capital of France?\n\nAssistant: Berlin."}),
    "sharegpt": ("preference_sharegpt",
                 {"conversations": [{"from": "human", "value": "Capital of France?"}],
                  "chosen": {"from": "gpt", "value": "Paris."},
                  "rejected": {"from": "gpt", "value": "Berlin."}}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_preference_shape_is_detected_and_normalised_to_prompt_chosen_rejected(tmp_path, shape):
    fmt, record = SHAPES[shape]
    out = tmp_path / "out.jsonl"
    result = import_file(_write(tmp_path / "in.jsonl", [record]), out)
    assert result.report.detected_format == fmt
    assert _rows(out) == [EXPECTED]


def test_hh_transcript_keeps_earlier_turns_in_the_prompt(tmp_path):
    earlier = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Capital of France?\n\nAssistant: "
    out = tmp_path / "out.jsonl"
    import_file(_write(tmp_path / "in.jsonl", [{"chosen": earlier + "Paris.",
                                                 "rejected": earlier + "Berlin."}]), out)
    assert [m["content"] for m in _rows(out)[0]["prompt"]] == ["Hi", "Hello!",
                                                              "Capital of France?"]


def test_system_key_becomes_the_first_prompt_message(tmp_path):
    out = tmp_path / "out.jsonl"
    import_file(_write(tmp_path / "in.jsonl", [{**SHAPES["text"][1], "system": "Be terse."}]),
                out)
    assert _rows(out)[0]["prompt"][0] == {"role": "system", "content": "Be terse."}


@pytest.mark.parametrize(("record", "code"), [
    ({"prompt": "q", "chosen": "same", "rejected": "same"}, "INVALID_PREFERENCE"),
    ({"prompt": "q", "chosen": "", "rejected": "no"}, "EMPTY_CONTENT"),
    ({"prompt": [GOOD], "chosen": "a", "rejected": "b"}, "INVALID_PREFERENCE"),
    ({"prompt": "q", "chosen": [{"role": "wizard", "content": "a"}], "rejected": "b"},
     "UNKNOWN_ROLE"),
    ({"prompt": "q", "chosen": 3, "rejected": "b"}, "MISSING_FIELD"),
])  # fmt: skip
def test_bad_pair_is_reported_with_its_line_and_code(tmp_path, record, code):
    good = SHAPES["text"][1]
    with pytest.raises(ImportFailed) as info:
        import_file(_write(tmp_path / "in.jsonl", [good, record]), tmp_path / "out.jsonl")
    report = info.value.report
    assert [(e.line, e.code) for e in report.errors] == [(2, code)]
    assert not (tmp_path / "out.jsonl").exists()


def test_skip_invalid_keeps_the_good_pairs(tmp_path):
    good = SHAPES["text"][1]
    out = tmp_path / "out.jsonl"
    result = import_file(_write(tmp_path / "in.jsonl",
                                [good, {"prompt": "q", "chosen": "x", "rejected": "x"}]),
                         out, skip_invalid=True)
    assert result.report.records_valid == 1 and _rows(out) == [EXPECTED]


def test_stats_count_pairs_and_size_them_by_the_longer_reply(tmp_path):
    out = tmp_path / "data.jsonl"
    import_file(_write(tmp_path / "in.jsonl",
                       [{"prompt": "q" * 40, "chosen": "a" * 400, "rejected": "b" * 4}]), out)
    stats = compute_stats([out])
    assert stats.record_count == 1 and stats.preference_pairs == 1
    assert stats.max_record_tokens >= (40 + 400) // 4
    assert stats.messages_by_role == {"user": 1, "assistant": 1}


def test_evaluation_samples_where_the_adapter_differs_become_owner_chosen_pairs():
    from tuneforge.client.preferences import pairs_from_evaluation

    samples = [
        {"messages": [USER], "reference": "Paris.", "adapter": "Berlin."},
        {"messages": [USER], "reference": "Paris.", "adapter": " Paris. "},  # same: no pair
        {"messages": [GOOD], "reference": "a", "adapter": "b"},  # prompt not on a user turn
        {"messages": [USER], "reference": "Paris.", "adapter": ""},  # nothing generated
    ]
    assert pairs_from_evaluation(samples) == [EXPECTED]


def test_evaluation_samples_become_kto_answers_owner_true_and_differing_replies_false():
    from tuneforge.client.preferences import labelled_from_evaluation

    def answer(text, label):
        return {"prompt": [USER], "completion": [{"role": "assistant", "content": text}],
                "label": label}

    samples = [
        {"messages": [USER], "reference": "Paris.", "adapter": "Berlin.", "base": "Berlin."},
        {"messages": [USER], "reference": "Paris.", "adapter": "Paris.", "base": "Rome."},
        {"messages": [USER], "reference": "Paris.", "adapter": " Paris. "},  # all match: none
        {"messages": [GOOD], "reference": "a", "adapter": "b"},  # prompt not on a user turn
        {"messages": [USER], "reference": "", "adapter": "b"},  # no owner reply
    ]
    assert labelled_from_evaluation(samples) == [
        answer("Paris.", True), answer("Berlin.", False),
        answer("Paris.", True), answer("Rome.", False)]
