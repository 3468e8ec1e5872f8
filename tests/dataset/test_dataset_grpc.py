"""The dataset service end to end: real server, real uploads, real worker subprocesses."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from tuneforge.client import AlreadyExists, InvalidArgument, NotFound, job_result
from tuneforge.common.v1 import common_pb2

DATA = Path(__file__).parent / "data"
Job = common_pb2.Job


def upload(client, path: Path):
    return client.upload_file("dataset", path)


def finish(client, job):
    return client.wait_job(job.id)


def zip_export(tmp_path: Path) -> Path:
    out = tmp_path / "ChatExport_2024-01-01.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.write(DATA / "telegram_single_chat.json", "ChatExport_2024-01-01/result.json")
    return out


def test_telegram_result_json_and_zip_become_datasets_you_can_read_download_delete(client, tmp_path):
    up = upload(client, DATA / "telegram_single_chat.json")
    job = client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="ivan", config={"owner_name": "Ivan Ivanov", "validation_split": 0.5}
    )
    assert job.kind == "telegram" and job.state in (Job.STATE_QUEUED, Job.STATE_RUNNING)
    done = finish(client, job)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    assert job_result(done).dataset.name == "ivan"
    assert job_result(done).report.messages_read == 15 and job_result(done).report.balance == 0.5

    ds = client.dataset.get_dataset(name="ivan")
    assert ds.source == "telegram" and ds.record_count + ds.validation_record_count == 2
    assert ds.validation_record_count == 1 and ds.job_id == job.id
    assert ds.telegram_report.dialogs == 2 and ds.create_time.seconds > 0

    zjob = client.dataset.process_telegram_export(
        upload_id=upload(client, zip_export(tmp_path)).id, dataset_name="ivan-zip",
        config={"owner_id": "999", "validation_split": 0.5},
    )  # fmt: skip
    assert finish(client, zjob).state == Job.STATE_SUCCEEDED
    listed = client.dataset.list_datasets()
    assert [d.name for d in listed.datasets] == ["ivan", "ivan-zip"] and listed.total_size == 2

    preview = client.dataset.preview_dataset(name="ivan", count=10)
    assert len(preview.records) == 1 and json.loads(preview.records[0])["messages"][-1]["role"] == "assistant"
    stats = client.dataset.get_dataset_stats(name="ivan", max_seq_length=4)
    assert stats.record_count == 2 and stats.token_count_method == "estimate"
    assert stats.messages_by_role["assistant"] >= 2 and stats.records_over_max_seq_length >= 1
    assert sum(b.count for b in stats.token_histogram) == 2

    out = client.download(client.dataset.download_dataset(name="ivan"), tmp_path / "ivan.jsonl")
    assert out.read_bytes() == Path(ds.path).read_bytes()
    val = client.download(client.dataset.download_dataset(name="ivan", validation=True), tmp_path / "v.jsonl")
    assert val.read_bytes() == Path(ds.validation_path).read_bytes()

    client.dataset.delete_dataset(name="ivan")
    with pytest.raises(NotFound):
        client.dataset.get_dataset(name="ivan")
    assert not Path(ds.path).exists()
    assert [d.name for d in client.dataset.list_datasets().datasets] == ["ivan-zip"]


def test_telegram_owner_not_found_fails_the_job_listing_candidates(client):
    up = upload(client, DATA / "telegram_single_chat.json")
    job = finish(client, client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="nobody", config={"owner_name": "Nobody Here"}))  # fmt: skip
    assert job.state == Job.STATE_FAILED and job.error_reason == "TELEGRAM_OWNER_NOT_FOUND"
    assert "Ivan Ivanov" in job.error_message and "Anna Petrova" in job.error_message
    with pytest.raises(NotFound):
        client.dataset.get_dataset(name="nobody")


def test_telegram_config_is_stored_merged_and_validated(client):
    cfg = client.dataset.get_telegram_config()
    assert cfg.min_dialog_messages == 2 and cfg.output_format == "messages" and cfg.validation_split == pytest.approx(0.1)
    cfg = client.dataset.update_telegram_config(config={"owner_name": "Ivan Ivanov", "max_dialog_length": 4, "system_prompt": "Be brief"})
    assert cfg.owner_name == "Ivan Ivanov" and cfg.max_dialog_length == 4 and cfg.min_dialog_messages == 2
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.update_telegram_config(config={"max_message_length": -1, "validation_split": 0.7, "output_format": "xml"})
    fields = {v.field for v in exc.value.field_violations}
    assert fields == {"config.max_message_length", "config.validation_split", "config.output_format"}
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.update_telegram_config(config={"min_dialog_messages": 6, "max_dialog_length": 4})
    assert exc.value.field_violations[0].field == "config.max_dialog_length"
    assert client.dataset.get_telegram_config().max_dialog_length == 4  # unchanged by the bad updates

    # the stored owner and system prompt apply; the request overrides output_format
    up = upload(client, DATA / "telegram_single_chat.json")
    job = finish(client, client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="stored", config={"output_format": "sharegpt"}))  # fmt: skip
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    record = json.loads(client.dataset.preview_dataset(name="stored").records[0])
    assert record["conversations"][0] == {"from": "system", "value": "Be brief"}


def test_process_telegram_is_idempotent_by_request_id_and_checks_the_name_first(client):
    up = upload(client, DATA / "telegram_single_chat.json")
    args = {"upload_id": up.id, "dataset_name": "once", "config": {"owner_name": "Ivan Ivanov"}, "request_id": "r-1"}
    first = client.dataset.process_telegram_export(**args)
    with pytest.raises(AlreadyExists):  # a pending job already makes this name
        client.dataset.process_telegram_export(**{**args, "request_id": "r-2"})
    assert finish(client, first).state == Job.STATE_SUCCEEDED
    assert client.dataset.process_telegram_export(**args).id == first.id  # replay, even after success
    with pytest.raises(AlreadyExists):
        client.dataset.process_telegram_export(**{**args, "request_id": ""})
    with pytest.raises(NotFound):
        client.dataset.process_telegram_export(upload_id="up-000000000000", dataset_name="x")
    assert client.jobs.list_jobs().total_size == 1


@pytest.mark.parametrize(("filename", "fmt", "records"), [
    ("alpaca.jsonl", "alpaca", 2), ("sharegpt.jsonl", "sharegpt", 2), ("messages.jsonl", "messages", 2),
    ("messages_col.csv", "messages", None), ("alpaca.parquet", "alpaca", None),
])  # fmt: skip
def test_import_formats_through_grpc(client, filename, fmt, records):
    up = upload(client, DATA / filename)
    resp = client.dataset.import_dataset(upload_id=up.id, dataset_name="imp", validation_split=0)
    assert resp.report.detected_format == fmt and resp.report.records_invalid == 0
    assert resp.dataset.name == "imp" and resp.dataset.source == "import"
    assert resp.dataset.record_count == resp.report.records_valid == (records or resp.report.records_read)
    assert resp.preview and "messages" in json.loads(resp.preview[0])
    assert client.dataset.preview_dataset(name="imp", count=1).records[0] == resp.preview[0]


def test_bad_import_is_invalid_argument_with_line_violations_and_keeps_nothing(client):
    up = upload(client, DATA / "invalid_messages.jsonl")
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.import_dataset(upload_id=up.id, dataset_name="bad")
    err = exc.value
    assert err.reason == "DATASET_INVALID" and "records are invalid" in err.message
    assert err.field_violations and all(v.field.startswith("line ") for v in err.field_violations)
    assert client.dataset.list_datasets().total_size == 0

    report = client.dataset.import_dataset(upload_id=up.id, validate_only=True).report
    assert report.records_invalid > 0 and len(report.errors) == report.records_invalid
    assert {e.line for e in report.errors} >= {int(v.field.split()[1]) for v in err.field_violations}
    assert sum(report.error_counts.values()) == report.records_invalid

    resp = client.dataset.import_dataset(upload_id=up.id, dataset_name="good-part", skip_invalid=True)
    assert resp.dataset.record_count + resp.dataset.validation_record_count == resp.report.records_valid > 0
    assert resp.report.records_invalid == report.records_invalid


def test_many_bad_records_fit_in_the_status_and_the_full_report_in_validate_only(client, tmp_path):
    bad = tmp_path / "many.jsonl"
    bad.write_text("".join('{"messages": [{"role": "wizard", "content": "%s"}]}\n' % ("x" * 300) for _ in range(500)))
    up = upload(client, bad)
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.import_dataset(upload_id=up.id, dataset_name="many")
    assert "500 of 500" in exc.value.message and 0 < len(exc.value.field_violations) <= 10
    report = client.dataset.import_dataset(upload_id=up.id, validate_only=True).report
    assert report.records_invalid == 500 and len(report.errors) == 500


def test_generate_from_a_zipped_project(client, tmp_path):
    project = tmp_path / "proj.zip"
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr("docs/install.md", "# Install\n\n## How to install\n\nRun `pip install acme`, then `acme init`.\n")
        zf.writestr("faq.csv", "question,answer\nWhat is Acme?,A tool that builds things.\nIs it free?,Yes.\n")
        zf.writestr("src/acme/core.py", '"""Core of acme."""\n\n\ndef build(x):\n    """Build x into a thing."""\n    return x\n')
    up = upload(client, project)
    job = client.dataset.generate_dataset(
        dataset_name="gen", project_upload_id=up.id, docs_dir="docs", faq_file="faq.csv", code_dir="src",
        validation_split=0,
    )  # fmt: skip
    done = finish(client, job)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    by_source = job_result(done).report.records_by_source
    assert by_source["docs"] >= 1 and by_source["faq"] == 2 and by_source["code"] >= 1
    ds = client.dataset.get_dataset(name="gen")
    assert ds.source == "generate" and ds.record_count == job_result(done).report.records

    bad = client.dataset.generate_dataset(dataset_name="gen2", project_upload_id=up.id, docs_dir="../etc")
    assert finish(client, bad).state == Job.STATE_FAILED
    with pytest.raises(InvalidArgument):
        client.dataset.generate_dataset(dataset_name="gen3", repo_url="ssh://host/repo.git")
    with pytest.raises(InvalidArgument):
        client.dataset.generate_dataset(dataset_name="gen3", project_upload_id=upload(client, DATA / "qa.csv").id)
    with pytest.raises(AlreadyExists):
        client.dataset.generate_dataset(dataset_name="gen", project_upload_id=up.id)


@pytest.mark.parametrize("name", ["..", "a/b", "bad\x00name", "", "/abs"])
def test_bad_names_are_invalid_argument_and_the_server_keeps_serving(client, name):
    up = upload(client, DATA / "alpaca.jsonl")
    for call in (
        lambda: client.dataset.import_dataset(upload_id=up.id, dataset_name=name),
        lambda: client.dataset.process_telegram_export(upload_id=up.id, dataset_name=name),
        lambda: client.dataset.generate_dataset(dataset_name=name, repo_url="https://example.com/r.git"),
        lambda: client.dataset.get_dataset(name=name),
        lambda: client.dataset.delete_dataset(name=name),
        lambda: list(client.dataset.download_dataset(name=name)),
    ):
        with pytest.raises(InvalidArgument):
            call()
    assert client.dataset.import_dataset(upload_id=up.id, dataset_name="fine").dataset.name == "fine"


def test_existing_name_missing_things_and_paging(client):
    up = upload(client, DATA / "alpaca.jsonl")
    for i in range(5):
        client.dataset.import_dataset(upload_id=up.id, dataset_name=f"ds-{i}", validation_split=0)
    with pytest.raises(AlreadyExists) as exc:
        client.dataset.import_dataset(upload_id=up.id, dataset_name="ds-0")
    assert exc.value.reason == "DATASET_ALREADY_EXISTS"
    with pytest.raises(NotFound):
        client.dataset.get_dataset(name="nope")
    with pytest.raises(NotFound):
        list(client.dataset.download_dataset(name="nope"))
    with pytest.raises(NotFound):  # imported with validation_split 0: no validation file
        list(client.dataset.download_dataset(name="ds-0", validation=True))
    with pytest.raises(NotFound):
        client.dataset.delete_dataset(name="nope")
    with pytest.raises(InvalidArgument):
        client.dataset.import_dataset(upload_id=up.id, dataset_name="x", format="yaml")
    with pytest.raises(InvalidArgument):
        client.dataset.list_datasets(page_token="forged")

    page = client.dataset.list_datasets(page_size=2)
    names = [d.name for d in page.datasets]
    while page.next_page_token:
        page = client.dataset.list_datasets(page_size=2, page_token=page.next_page_token)
        names += [d.name for d in page.datasets]
    assert names == [f"ds-{i}" for i in range(5)] and page.total_size == 5
    assert json.loads(json.dumps([d.name for d in client.iter_pages(client.dataset.list_datasets, "datasets", page_size=3)])) == names


def test_start_sweeps_staging_leftovers_unless_a_dataset_job_is_running(server_factory, tmp_path):
    root = tmp_path / "var"
    leftover = root / "datasets" / ".tmp-0123abcd"
    leftover.mkdir(parents=True)
    (leftover / "data.jsonl").write_text("{}\n")
    srv = server_factory(root)
    assert not leftover.exists()
    srv.stop()
    leftover.mkdir()
    from tuneforge.runtime.store import Store

    store = Store(root / "state.db")
    store.execute("INSERT INTO jobs(id, service, kind, state, params, create_time) VALUES "
                  "('job-x', 'dataset', 'telegram', 'RUNNING', '{}', 0)")  # fmt: skip
    store.close()
    (root / "jobs" / "job-x").mkdir(parents=True)
    server_factory(root)
    assert leftover.exists()  # a surviving worker may be staging there



def test_a_retried_import_returns_the_first_answer_not_already_exists(client):
    up = upload(client, DATA / "messages.jsonl")
    first = client.dataset.import_dataset(upload_id=up.id, dataset_name="once", validation_split=0, request_id="imp-1")
    again = client.dataset.import_dataset(upload_id=up.id, dataset_name="once", validation_split=0, request_id="imp-1")
    assert again == first
    with pytest.raises(AlreadyExists):
        client.dataset.import_dataset(upload_id=up.id, dataset_name="once", request_id="imp-2")


def test_a_retried_upload_returns_the_first_upload(client):
    first = client.upload_file("dataset", DATA / "messages.jsonl", request_id="up-1")
    again = client.upload_file("dataset", DATA / "messages.jsonl", request_id="up-1")
    assert again.id == first.id
    assert client.upload_file("dataset", DATA / "messages.jsonl").id != first.id
