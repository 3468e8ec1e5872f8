"""The round-2 request fields end to end: no_validation_split, append_to, local_path, scrub, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuneforge.client import Client, FailedPrecondition, InvalidArgument, TuneforgeClientError, job_result
from tuneforge.common.v1 import common_pb2

DATA = Path(__file__).parent / "data"
Job = common_pb2.Job


def finish(client, job):
    return client.wait_job(job.id)


def test_telegram_no_validation_split_holds_out_nothing(client):
    up = client.upload_file("dataset", DATA / "telegram_single_chat.json")
    job = finish(client, client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="all-train", config={"owner_name": "Ivan Ivanov", "no_validation_split": True}))
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    ds = client.dataset.get_dataset(name="all-train")
    assert ds.record_count == 2 and ds.validation_record_count == 0


def test_a_stored_no_validation_split_is_kept_and_shown(client):
    client.dataset.update_telegram_config(config={"no_validation_split": True})
    config = client.dataset.get_telegram_config()
    assert config.no_validation_split and config.validation_split == 0


def test_telegram_append_to_adds_new_dialogs_to_an_existing_dataset(client):
    up = client.upload_file("dataset", DATA / "telegram_single_chat.json")
    config = {"owner_name": "Ivan Ivanov", "no_validation_split": True}
    assert finish(client, client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="monthly", config=config)).state == Job.STATE_SUCCEEDED
    job = finish(client, client.dataset.process_telegram_export(upload_id=up.id, append_to="monthly", config=config))
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    report = job_result(job).report
    assert report.dialogs == 0 and report.messages_already_in_dataset > 0
    assert [c.name for c in report.contacts] == ["Anna Petrova"]
    assert client.dataset.get_dataset(name="monthly").record_count == 2
    with pytest.raises(InvalidArgument):
        client.dataset.process_telegram_export(upload_id=up.id, append_to="monthly", dataset_name="x")


def test_local_path_is_refused_unless_the_server_allows_its_directory(server_factory, tmp_path):
    allowed = tmp_path / "exports"
    allowed.mkdir()
    (allowed / "data.jsonl").write_text('{"prompt": "a", "completion": "b"}\n', encoding="utf-8")
    (tmp_path / "secret.jsonl").write_text('{"prompt": "s", "completion": "t"}\n', encoding="utf-8")
    srv = server_factory(local_input_dirs=str(allowed))
    with Client(srv.target, timeout=30) as client:
        resp = client.dataset.import_dataset(local_path=str(allowed / "data.jsonl"), dataset_name="local")
        assert resp.dataset.record_count == 1
        with pytest.raises(TuneforgeClientError) as exc:
            client.dataset.import_dataset(local_path=str(allowed / ".." / "secret.jsonl"), dataset_name="nope")
        assert exc.value.reason == "LOCAL_PATH_NOT_ALLOWED"


def test_local_path_is_off_by_default(client, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n', encoding="utf-8")
    with pytest.raises(FailedPrecondition) as exc:
        client.dataset.import_dataset(local_path=str(path), dataset_name="x")
    assert exc.value.reason == "LOCAL_PATHS_DISABLED"


def test_import_report_carries_record_index_warnings_and_scrub_counts(client, tmp_path):
    path = tmp_path / "chat.json"
    records = [{"messages": [{"role": "user", "content": "<image> mail me: a@b.com"},
                             {"role": "assistant", "content": "ok"}], "images": ["x.png"]},
               {"messages": [{"role": "user", "content": "hi"}]}]
    text = json.dumps(records, indent=2)
    path.write_text(text, encoding="utf-8")
    second_starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "  {"][1]
    up = client.upload_file("dataset", path)
    resp = client.dataset.import_dataset(upload_id=up.id, dataset_name="scrubbed", scrub=True, skip_invalid=True)
    report = resp.report
    assert report.file_kind == "json" and report.scrubbed.emails == 1
    assert {w.code: w.count for w in report.warnings} == {"IMAGES_DROPPED": 1, "IMAGE_PLACEHOLDERS": 1}
    error = report.errors[0]
    assert (error.index, error.line, error.code) == (2, second_starts, "NO_ASSISTANT_MESSAGE")
    assert json.loads(resp.preview[0])["messages"][0]["content"] == "<image> mail me: <EMAIL>"
    assert client.dataset.get_dataset(name="scrubbed").import_report.scrubbed.emails == 1


def test_generate_job_rephrases_through_an_openai_compatible_endpoint(client, tmp_path, llm):
    import zipfile

    project = tmp_path / "p.zip"
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr("docs/d.md", "# Delivery\n\nWe deliver in 2 days.\n")
    up = client.upload_file("dataset", project)
    job = finish(client, client.dataset.generate_dataset(
        dataset_name="llm", project_upload_id=up.id, docs_dir="docs", llm_url=llm, scrub=True,
        questions_per_passage=2, validation_split=0))
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    report = job_result(job).report
    assert report.llm_rephrased == 1 and report.passages == 1 and report.records == 2
    record = json.loads(client.dataset.preview_dataset(name="llm", count=1).records[0])
    assert record["messages"][0]["content"] == "Rephrased: What is delivery?"


def test_generate_refuses_a_bad_llm_url_before_starting_a_job(client, tmp_path):
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.generate_dataset(dataset_name="x", docs_dir=str(tmp_path), llm_url="ftp://host/v1")
    assert exc.value.reason == "INVALID_LLM_URL"
