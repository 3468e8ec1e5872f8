"""`tuneforge dataset prefer NAME --from-eval REPORT` in a subprocess against a real server."""

from __future__ import annotations

import json

from test_dataset_cli import cli

from tuneforge.client import Client

USER = {"role": "user", "content": "what about dog?"}
REPORT = {"adapter_name": "bob", "samples": [
    {"messages": [USER], "reference": "dog is grand, mate! Cheers, Bob",
     "adapter": "dog is a dog.", "base": "...", "adapter_stopped": True},
    {"messages": [USER], "reference": "same", "adapter": "same"},
]}


def test_prefer_turns_differing_evaluation_samples_into_owner_chosen_pairs(server, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    run = cli(server, "prefer", "tone", "--from-eval", str(report))
    assert "1 preference pairs from 2 samples" in run.stdout
    with Client(server.target, timeout=30) as client:
        assert client.dataset.get_dataset(name="tone").format == "preference"
        assert client.dataset.get_dataset_stats(name="tone").preference_pairs == 1
        record = json.loads(client.dataset.preview_dataset(name="tone", count=1).records[0])
    assert record == {"prompt": [USER],
                      "chosen": [{"role": "assistant", "content": REPORT["samples"][0]["reference"]}],
                      "rejected": [{"role": "assistant", "content": "dog is a dog."}]}


def test_prefer_with_no_differing_samples_creates_nothing_and_says_why(server, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"samples": [REPORT["samples"][1]]}))
    run = cli(server, "prefer", "tone", "--from-eval", str(report), check=False)
    assert run.returncode == 1 and "no pairs" in run.stderr


def test_prefer_kto_labels_the_owner_reply_desirable_and_the_differing_ones_undesirable(server, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    run = cli(server, "prefer", "thumbs", "--from-eval", str(report), "--kto")
    assert "3 labelled answers (1 desirable" in run.stdout and "method=kto" in run.stdout
    with Client(server.target, timeout=30) as client:
        assert client.dataset.get_dataset(name="thumbs").format == "kto"
        records = [json.loads(r) for held_out in (False, True) for r in  # the default split holds some out
                   client.dataset.preview_dataset(name="thumbs", count=10, validation=held_out).records]
    answer = lambda text, label: {"prompt": [USER], "label": label,  # noqa: E731
                                  "completion": [{"role": "assistant", "content": text}]}
    sample = REPORT["samples"][0]
    expected = [answer(sample["reference"], True), answer(sample["adapter"], False),
                answer(sample["base"], False)]
    assert sorted(records, key=json.dumps) == sorted(expected, key=json.dumps)
