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
