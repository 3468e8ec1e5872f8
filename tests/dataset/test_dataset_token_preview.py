"""`tuneforge dataset preview NAME --tokens`: the records' tokens, trained ones marked."""

from __future__ import annotations

import json

from test_dataset_cli import cli

CHAT = {"messages": [{"role": "user", "content": "what about cats?"},
                     {"role": "assistant", "content": "grand, mate! Cheers, Bob"}]}


def _dataset(client, tmp_path, name="bob"):
    path = tmp_path / "bob.jsonl"
    path.write_text(json.dumps(CHAT) + "\n" + json.dumps(CHAT) + "\n")
    up = client.upload_file("dataset", path)
    client.dataset.import_dataset(upload_id=up.id, dataset_name=name)


def test_trained_tokens_are_bracketed_outside_a_terminal(server, client, tmp_path, tiny_lm_dir):
    _dataset(client, tmp_path)
    out = cli(server, "preview", "bob", "-n", "1", "--tokens", "--base-model", str(tiny_lm_dir)).stdout
    header, body = out.split("\n", 1)
    assert header.startswith("record 0: ") and "trained" in header
    trained = "".join(part.split("]")[0] for part in body.split("[")[1:])
    assert trained == "grand, mate! Cheers, Bob<|im_end|>"
    assert "what about cats?" in body and "[what" not in body


def test_json_lists_every_token_with_its_mark(server, client, tmp_path, tiny_lm_dir):
    _dataset(client, tmp_path)
    out = json.loads(cli(server, "preview", "bob", "-n", "1", "--tokens", "--base-model",
                         str(tiny_lm_dir), "--json").stdout)
    (sample,) = out["records"][0]["samples"]
    assert "".join(t["text"] for t in sample["tokens"] if t["trained"]).endswith("Bob<|im_end|>")
    assert sample["trained_tokens"] == sum(t["trained"] for t in sample["tokens"])


def test_tokens_without_a_base_model_is_a_usage_error(server, client, tmp_path):
    _dataset(client, tmp_path)
    proc = cli(server, "preview", "bob", "--tokens", check=False)
    assert proc.returncode != 0 and "--base-model" in proc.stderr
