"""`tuneforge dataset ...` in a subprocess against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


def cli(server, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    from tuneforge.testing.paths import source_path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": source_path()}
    proc = subprocess.run(
        [sys.executable, "-m", "tuneforge.cli.main", "dataset", *argv, "--target", server.target],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_telegram_from_an_export_folder_then_list_preview_download_rm(server, tmp_path):
    folder = tmp_path / "Telegram Desktop" / "ChatExport_2024-01-01"
    folder.mkdir(parents=True)
    (folder / "result.json").write_bytes((DATA / "telegram_single_chat.json").read_bytes())
    out = cli(server, "telegram", str(folder), "--owner", "Ivan Ivanov", "--name", "ivan", "--validation-split", "0.5")
    assert "dataset ivan: 1 records + 1 validation" in out.stdout
    assert "messages:  15 read, 7 kept" in out.stdout and "sticker 1" in out.stdout
    assert "assistant share 0.50" in out.stdout

    listed = json.loads(cli(server, "list", "--json").stdout)
    assert [d["name"] for d in listed["datasets"]] == ["ivan"]
    assert "ivan" in cli(server, "list").stdout
    preview = cli(server, "preview", "ivan", "-n", "3").stdout.splitlines()
    assert len(preview) == 1 and json.loads(preview[0])["messages"]
    assert "tokens:" in cli(server, "stats", "ivan", "--max-seq-length", "16").stdout
    target = tmp_path / "ivan.jsonl"
    cli(server, "download", "ivan", "-o", str(target))
    ds = json.loads(cli(server, "show", "ivan", "--json").stdout)
    assert target.read_bytes() == Path(ds["path"]).read_bytes()
    jobs = json.loads(cli(server, "jobs", "--json").stdout)["jobs"]
    assert jobs[0]["state"] == "STATE_SUCCEEDED"
    assert "dataset ivan" in cli(server, "logs", jobs[0]["id"]).stdout
    cli(server, "rm", "ivan")
    assert "no datasets" in cli(server, "list").stdout
    gone = cli(server, "show", "ivan", check=False)
    assert gone.returncode == 4 and "DATASET_NOT_FOUND" in gone.stderr


def test_telegram_json_output_and_owner_not_found_exits_non_zero(server, tmp_path):
    ok = cli(server, "telegram", str(DATA / "telegram_single_chat.json"), "--owner-id", "999", "--name", "j", "--json")
    job = json.loads(ok.stdout)
    assert job["state"] == "STATE_SUCCEEDED" and job["result"]["dataset"]["name"] == "j"
    bad = cli(server, "telegram", str(DATA / "telegram_single_chat.json"), "--owner", "Nobody", "--name", "n", check=False)
    assert bad.returncode == 1 and "TELEGRAM_OWNER_NOT_FOUND" in bad.stderr and "Ivan Ivanov" in bad.stderr


def test_import_success_and_failure_with_every_line_number(server, tmp_path):
    ok = cli(server, "import", str(DATA / "alpaca.jsonl"), "--name", "alp")
    assert "format alpaca: 2 records read, 2 valid, 0 invalid" in ok.stdout and "dataset alp" in ok.stdout

    bad = tmp_path / "my data (v2).jsonl"  # a name the server would refuse as is
    lines = ['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}'] * 3
    lines += ['{"messages": [{"role": "wizard", "content": "x"}]}'] * 14 + ["not json"]
    bad.write_text("\n".join(lines) + "\n")
    failed = cli(server, "import", str(bad), "--name", "bad", check=False)
    assert failed.returncode == 1
    listed = [ln for ln in failed.stderr.splitlines() if ln.startswith("line ")]
    assert len(listed) == 15  # every error, beyond the 10 the status carries
    assert listed[0].startswith("line 4: ") and "INVALID_JSON" in listed[-1] and listed[-1].startswith("line 18")
    assert "15 of 18 records are invalid" in failed.stderr
    assert "bad" not in cli(server, "list").stdout

    check = cli(server, "import", str(bad), "--validate-only", check=False)
    assert check.returncode == 1 and "3 valid, 15 invalid" in check.stdout
    kept = cli(server, "import", str(bad), "--name", "kept", "--skip-invalid", "--validation-split", "0")
    assert "dataset kept: 3 records" in kept.stdout and kept.stderr.count("skipped line") == 15


def test_generate_zips_local_folders_and_uploads_them(server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## How do I reset my password?\n\nOpen Settings, then Reset.\n")
    (docs / "big.bin").write_bytes(b"\0" * 1000)
    faq = tmp_path / "faq list.csv"
    faq.write_text("question,answer\nWhere is the office?,In Berlin.\n")
    out = cli(server, "generate", "--name", "gen", "--docs", str(docs), "--faq", str(faq), "--validation-split", "0")
    assert "dataset gen: 4 records" in out.stdout and "docs 3 from 1 files" in out.stdout and "faq 1" in out.stdout
    none = cli(server, "generate", "--name", "gen2", check=False)
    assert none.returncode == 1 and "at least one source" in none.stderr
