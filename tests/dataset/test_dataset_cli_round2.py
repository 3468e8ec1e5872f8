"""The CLI for round-2 features: one error line, --scrub, --append-to, --exclude-contact, import warnings."""

from __future__ import annotations

import json

from tests.dataset.test_dataset_cli import DATA, cli


def test_a_failed_telegram_job_prints_its_error_once_without_python_notation(server):
    bad = cli(server, "telegram", str(DATA / "telegram_single_chat.json"), "--owner", "Nobody", "--name", "n", check=False)
    assert bad.returncode == 1
    assert bad.stderr.count("authors by message count") == 1
    assert "None" not in bad.stderr and "{" not in bad.stderr and "'" not in bad.stderr


def test_telegram_scrub_append_and_contacts_in_the_cli_output(server, tmp_path):
    export = {"personal_information": {"user_id": 1, "first_name": "Me"}, "chats": {"list": [
        {"name": "Anna", "type": "personal_chat", "id": 2, "messages": [
            {"id": 1, "type": "message", "date_unixtime": "100", "from": "Anna", "from_id": "user2",
             "text": "My phone is +7 912 345-67-89"},
            {"id": 2, "type": "message", "date_unixtime": "110", "from": "Me", "from_id": "user1", "text": "Got it"}]},
        {"name": "Doctor", "type": "personal_chat", "id": 3, "messages": [
            {"id": 1, "type": "message", "date_unixtime": "100", "from": "Doctor", "from_id": "user3", "text": "Results"},
            {"id": 2, "type": "message", "date_unixtime": "110", "from": "Me", "from_id": "user1", "text": "Thanks"}]},
    ]}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    first = cli(server, "telegram", str(path), "--name", "chats", "--scrub", "--exclude-contact", "Doctor",
                "--validation-split", "0")
    assert "dataset chats: 1 records + 0 validation" in first.stdout
    assert "scrubbed:  phones 1" in first.stdout and "contacts:  Anna 1" in first.stdout
    again = cli(server, "telegram", str(path), "--append-to", "chats", "--scrub", "--exclude-contact", "Doctor")
    assert "appended:  2 messages were already in the dataset" in again.stdout
    assert "dataset chats: 1 records" in again.stdout
    both = cli(server, "telegram", str(path), check=False)
    assert both.returncode == 1 and "--name" in both.stderr and "--append-to" in both.stderr


def test_import_prints_warnings_and_scrub_counts(server, tmp_path):
    path = tmp_path / "vision.jsonl"
    record = {"messages": [{"role": "user", "content": "<image> write to me@x.org"},
                           {"role": "assistant", "content": "ok"}], "images": ["a.png"]}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = cli(server, "import", str(path), "--name", "v", "--scrub")
    assert "warning: images referenced by records" in out.stderr and "IMAGES_DROPPED: 1" in out.stderr
    assert "scrubbed: phones 0, e-mails 1" in out.stdout


def test_an_error_in_a_json_array_is_shown_with_its_line_column_and_record(server, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text('[\n {"prompt": "a", "completion": "b"},\n {"prompt": "c" "completion": "d"}\n]\n', encoding="utf-8")
    bad = cli(server, "import", str(path), "--name", "arr", check=False)
    assert bad.returncode == 1
    assert "line 3, column 17 (record 2): INVALID_JSON: Expecting ',' delimiter" in bad.stderr
    assert "1 of 2 records are invalid" in bad.stderr


def test_a_refused_request_prints_its_reason_once(server):
    bad = cli(server, "import", str(DATA / "alpaca.jsonl"), "--name", "x", "--format", "yaml", check=False)
    assert bad.returncode == 3 and bad.stderr.count("unknown format 'yaml'") == 1
