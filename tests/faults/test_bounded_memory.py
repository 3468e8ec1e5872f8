"""Memory stays bounded whatever a client sends: a dataset line is read in bounded chunks and
one longer than max_record_bytes is a clear per-line error, not a server that balloons."""

from __future__ import annotations

import json

import pytest

from tuneforge.client import Client, InvalidArgument
from tuneforge.services.dataset.import_report import ImportFailed
from tuneforge.services.dataset.importing import import_file

GOOD = json.dumps({"instruction": "q", "output": "a"})


def test_a_line_longer_than_the_cap_is_a_per_line_error(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        fh.write(GOOD + "\n")
        fh.write('{"instruction": "' + "x" * 3_000_000 + '", "output": "a"}\n')
        fh.write(GOOD + "\n")
    result = import_file(path, None, skip_invalid=True, max_record_bytes=1024 * 1024)
    assert (result.report.records_valid, result.report.records_invalid) == (2, 1)
    (error,) = result.report.errors
    assert (error.line, error.code) == (2, "RECORD_TOO_LARGE") and "1048576" in error.message


def test_a_huge_line_without_a_newline_is_refused_line_by_line_over_grpc(server_factory, tmp_path):
    srv = server_factory(services=("dataset",), max_record_bytes=256 * 1024)
    path = tmp_path / "one-line.jsonl"
    with open(path, "w") as fh:
        fh.write(GOOD + "\n" + '{"text": "')
        for _ in range(24):
            fh.write("y" * (1024 * 1024))
    with Client(srv.target, timeout=120) as c:
        up = c.upload_file("dataset", path)
        with pytest.raises(InvalidArgument) as err:
            c.dataset.import_dataset(upload_id=up.id, dataset_name="huge")
    assert err.value.reason == "DATASET_INVALID"
    violation = next(v for v in err.value.field_violations if "RECORD_TOO_LARGE" in v.description)
    assert "line 2" in violation.field or "line 2" in violation.description, violation


def test_a_text_file_without_a_newline_is_refused_line_by_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("z" * (3 * 1024 * 1024))
    with pytest.raises(ImportFailed) as err:
        import_file(path, None, max_record_bytes=1024 * 1024)
    assert "RECORD_TOO_LARGE" in str(err.value) and "line 1" in str(err.value)


def test_a_record_of_a_json_array_larger_than_the_cap_stops_the_read_where_it_starts(tmp_path):
    """A JSON document is scanned record by record; one record over the cap is not held whole
    (a 24 MB one-line array used to be read into memory, and scanned in quadratic time)."""
    path = tmp_path / "one-line.json"
    with open(path, "w") as fh:
        fh.write("[" + GOOD + ", " + '{"instruction": "')
        for _ in range(24):
            fh.write("y" * (1024 * 1024))
        fh.write('", "output": "a"}]')
    result = import_file(path, None, skip_invalid=True, max_record_bytes=1024 * 1024)
    assert result.report.records_valid == 1
    error = result.report.errors[-1]
    assert error.code == "RECORD_TOO_LARGE" and "1048576" in error.message
    assert (error.index, error.line) == (2, 1)
