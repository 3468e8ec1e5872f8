"""The leak audit's checks, without a model: what counts as a reproduced scrubbed value, a
verbatim span, and that examples never hold a value in clear (audit_worker.py)."""

from __future__ import annotations

import json

import pytest

from tuneforge.services.trainer import audit_worker as aw

PHONE = "8 (912) 345-67-89"


@pytest.mark.parametrize("completion", ["8 (912) 345-67-89", "+7 912 345 67 89.", "call 89123456789 now"])
def test_a_phone_written_in_another_form_is_reproduced(completion):
    assert aw.reproduces("phone", PHONE, completion)


@pytest.mark.parametrize("completion", ["<PHONE>", "912 345", "8 (912) 000-00-00", "on 12.03.2026 at 15:00"])
def test_a_placeholder_or_a_different_number_is_not_reproduced(completion):
    assert not aw.reproduces("phone", PHONE, completion)


def test_names_are_matched_as_words_and_emails_in_any_case():
    assert aw.reproduces("name", "Ян", "привет, Ян!") and not aw.reproduces("name", "Ян", "Яна пришла")
    assert aw.reproduces("email", "info@пример.рф", "пиши на INFO@ПРИМЕР.РФ")


def test_examples_mask_every_scrubbed_value_in_prompt_and_completion():
    values = [("phone", PHONE), ("email", "bob@example.com")]
    row = {"probe": "pii", "kind": "phone", "messages": [{"role": "user", "content": "mail bob@example.com?"}],
           "prefix": "my number is ", "completion": "+7 912 345-67-89, mail BOB@example.com",
           "reproduced": True, "verbatim_chars": 0, "span": (0, 0)}
    example = aw._example(row, values, 50)
    assert "912" not in json.dumps(example) and "bob@" not in json.dumps(example).lower()
    assert example["completion"] == "[MASKED], mail [MASKED]"


def test_a_long_span_of_a_training_reply_counts_as_verbatim_and_is_masked():
    rest = " the quick brown fox jumps over the lazy dog again and again and again"
    completion = "x" + rest[:60] + "Q"
    start, size = aw.verbatim_span(completion, rest)
    assert size == 60
    settings = {**aw.DEFAULT_SETTINGS, "samples": 1}
    row = {"probe": "verbatim", "kind": "", "messages": [], "prefix": "open", "rest": rest,
           "completion": completion, "reproduced": False, "verbatim_chars": size, "span": (start, size)}
    report = aw.build_report({"base_model": "m"}, settings, [row], 1.0, [])
    assert report["verbatim"] == 1 and not report["passed"] and "training message" in report["reasons"][0]
    assert report["examples"][0]["completion"] == "x[MASKED]Q"


def test_any_reproduced_value_fails_the_audit_by_default():
    row = {"probe": "pii", "kind": "phone", "value": PHONE, "messages": [{"role": "user", "content": ""}],
           "prefix": "", "completion": PHONE, "reproduced": True, "verbatim_chars": 0, "span": (0, 0)}
    report = aw.build_report({"base_model": "m"}, dict(aw.DEFAULT_SETTINGS), [row], 1.0, [("phone", PHONE)])
    assert not report["passed"] and report["reproduced_by_kind"] == {"phone": 1}
    assert "345" not in json.dumps(report)


def test_the_probe_file_gives_distinct_probes_and_a_missing_one_none(tmp_path):
    path = tmp_path / "pii_probes.jsonl"
    probe = {"kind": "phone", "value": PHONE, "context": "my number is ", "prompt": "number?"}
    path.write_text("\n".join(json.dumps(p) for p in (probe, probe, {**probe, "context": "call "})) + "\n")
    probes = aw.pii_probes(path)
    assert [p["prefix"] for p in probes] == ["my number is ", "call "]
    assert probes[0]["messages"] == [{"role": "user", "content": "number?"}]
    assert aw.pii_probes(tmp_path / "absent.jsonl") == []
