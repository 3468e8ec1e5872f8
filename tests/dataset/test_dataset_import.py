from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset.import_report import ImportFailed
from tuneforge.services.dataset.importing import import_file, import_into_catalog


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    ("name", "fmt", "kind", "first"),
    [
        ("alpaca.jsonl", "alpaca", "jsonl",
         [{"role": "user", "content": "Переведи на английский\n\nкошка"}, {"role": "assistant", "content": "cat"}]),
        ("alpaca_array.json", "alpaca", "json",
         [{"role": "user", "content": "Add numbers\n\n2+2"}, {"role": "assistant", "content": "4"}]),
        ("alpaca.parquet", "alpaca", "parquet",
         [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]),
        ("prompt_completion.jsonl", "prompt_completion", "jsonl",
         [{"role": "user", "content": "2+2="}, {"role": "assistant", "content": "4"}]),
        ("qa.csv", "prompt_completion", "csv",
         [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]),
        ("messages.jsonl", "messages", "jsonl",
         [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi", "name": "bob"},
          {"role": "assistant", "content": "Hello!", "weight": 1}]),
        ("messages_col.csv", "messages", "csv",
         [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]),
        ("sharegpt.jsonl", "sharegpt", "jsonl",
         [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]),
        ("sharegpt_messages_key.jsonl", "sharegpt", "jsonl",
         [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]),
        ("vertex.jsonl", "vertex", "jsonl",
         [{"role": "user", "content": "Summarize: long text"}, {"role": "assistant", "content": "short"}]),
        ("instruction_output.jsonl", "instruction_output", "jsonl",
         [{"role": "user", "content": "Classify sentiment: great!"}, {"role": "assistant", "content": "positive"}]),
        ("text_label.jsonl", "text_label", "jsonl",
         [{"role": "user", "content": "I love it"}, {"role": "assistant", "content": "positive"}]),
        ("bom.jsonl", "prompt_completion", "jsonl",
         [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]),
    ],
)  # fmt: skip
def test_every_format_is_detected_and_normalised(
    data, tmp_path, name, fmt, kind, first
):
    out = tmp_path / "out.jsonl"
    result = import_file(data / name, out, preview_size=1)
    assert result.report.detected_format == fmt and result.report.file_kind == kind
    assert result.report.records_invalid == 0
    assert rows(out)[0]["messages"] == first
    assert result.preview == [rows(out)[0]]


def test_plain_text_files_become_text_records(data, tmp_path):
    out = tmp_path / "out.jsonl"
    result = import_file(data / "corpus.txt", out)
    assert result.report.detected_format == "text"
    assert rows(out) == [
        {"text": "First paragraph line one.\nline two."},
        {"text": "Second paragraph."},
    ]
    import_file(data / "text.jsonl", out)
    assert rows(out)[1] == {"text": "Plain document two."}


def test_label_numbers_content_parts_and_source_are_kept(data, tmp_path):
    out = tmp_path / "out.jsonl"
    import_file(data / "text_label.jsonl", out)
    assert rows(out)[1]["messages"][1]["content"] == "0"
    import_file(data / "messages.jsonl", out)
    second = rows(out)[1]
    assert (
        second["messages"][0]["content"] == "Parts work"
        and second["source"] == "manual"
    )
    import_file(data / "alpaca_array.json", out)
    assert rows(out)[1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_every_validation_error_has_its_line_and_code(data, tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(ImportFailed) as exc:
        import_file(data / "invalid_messages.jsonl", out, max_record_chars=100)
    report = exc.value.report
    found = {e.line: e.code for e in report.errors}
    assert found == {
        2: "INVALID_JSON", 3: "NOT_AN_OBJECT", 4: "MISSING_MESSAGES", 5: "UNKNOWN_ROLE",
        6: "MISSING_CONTENT", 7: "EMPTY_CONTENT", 8: "NO_ASSISTANT_MESSAGE", 9: "UNKNOWN_KEYS",
        10: "TOO_LONG", 11: "INVALID_CONTENT", 12: "INVALID_WEIGHT", 13: "INVALID_MESSAGE",
    }  # fmt: skip
    assert report.errors[0].column > 0  # INVALID_JSON carries the column
    assert (
        report.records_read == 14
        and report.records_valid == 2
        and report.records_invalid == 12
    )
    assert exc.value.reason == "DATASET_INVALID"
    assert exc.value.violations[0].field == "line 2"
    assert not out.exists()  # rejected: nothing kept


def test_skip_invalid_keeps_good_records_and_reports_bad_ones(data, tmp_path):
    out = tmp_path / "out.jsonl"
    result = import_file(data / "invalid_messages.jsonl", out, skip_invalid=True)
    assert [r["messages"][0]["content"] for r in rows(out)] == [
        "ok",
        "x" * 500,
        "last good",
    ]
    assert (
        result.report.error_counts["UNKNOWN_ROLE"] == 1
        and result.report.records_valid == 3
    )


def test_missing_and_empty_fields_in_simple_formats(data, tmp_path):
    with pytest.raises(ImportFailed) as exc:
        import_file(data / "invalid_alpaca.jsonl", tmp_path / "o.jsonl")
    assert [(e.line, e.code) for e in exc.value.report.errors] == [
        (2, "MISSING_FIELD"),
        (3, "EMPTY_CONTENT"),
    ]


def test_forced_format_mismatch_reports_every_record(data, tmp_path):
    with pytest.raises(ImportFailed) as exc:
        import_file(data / "alpaca.jsonl", tmp_path / "o.jsonl", format="messages")
    assert exc.value.report.error_counts == {"MISSING_MESSAGES": 2}


def test_encodings_other_than_utf8_are_a_clear_error(data, tmp_path):
    for name, detail in (
        ("utf16.jsonl", "UTF-16"),
        ("latin1.jsonl", "not valid UTF-8"),
    ):
        with pytest.raises(TuneforgeError) as exc:
            import_file(data / name, tmp_path / "o.jsonl")
        assert exc.value.reason == "DATASET_ENCODING" and detail in str(exc.value)
        assert not (tmp_path / "o.jsonl").exists()


def test_unknown_format_empty_file_and_bad_option(data, tmp_path):
    with pytest.raises(TuneforgeError) as exc:
        import_file(data / "unknown_format.jsonl", tmp_path / "o.jsonl")
    assert exc.value.reason == "DATASET_FORMAT_UNKNOWN" and "bar, foo" in str(exc.value)
    with pytest.raises(TuneforgeError) as exc:
        import_file(data / "empty.jsonl", tmp_path / "o.jsonl")
    assert exc.value.reason == "DATASET_EMPTY"
    with pytest.raises(TuneforgeError) as exc:
        import_file(data / "alpaca.jsonl", None, format="yaml")
    assert exc.value.violations[0].field == "format"


def test_broken_json_array_and_parquet(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"prompt": "a", "completion": "b"}, {"prompt": ')
    with pytest.raises(ImportFailed) as exc:
        import_file(bad, None)
    error = exc.value.report.errors[0]
    assert error.code == "INVALID_JSON" and (error.index, error.line, error.column) == (2, 1, 49)
    fake = tmp_path / "x.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(TuneforgeError) as exc2:
        import_file(fake, None)
    assert exc2.value.reason == "DATASET_INVALID_PARQUET"


def test_import_into_catalog_creates_dataset_with_split_and_validate_only(
    data, catalog, tmp_path
):
    info, result = import_into_catalog(
        catalog, data / "messages.jsonl", "msgs", validation_split=0.5
    )
    assert info.record_count == 1 and info.validation_record_count == 1
    assert info.format == "messages" and info.source == "import"
    assert info.report["records_valid"] == 2
    none, result = import_into_catalog(
        catalog, data / "alpaca.jsonl", "other", validate_only=True
    )
    assert none is None and result.report.records_valid == 2
    assert catalog.list(0, 10)[1] == 1
    with pytest.raises(TuneforgeError) as exc:
        import_into_catalog(catalog, data / "messages.jsonl", "msgs")
    assert exc.value.reason == "DATASET_ALREADY_EXISTS"
    assert not list(catalog.root.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("record", "first"),
    [
        ({"instruction": "Summarize", "context": "Long text", "response": "Short", "category": "summarization"},
         [{"role": "user", "content": "Summarize\n\nLong text"}, {"role": "assistant", "content": "Short"}]),
        ({"question": "What is X?", "answer": "X is Y"},
         [{"role": "user", "content": "What is X?"}, {"role": "assistant", "content": "X is Y"}]),
        ({"query": "hi", "response": "hello"},
         [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]),
        ({"prompt": "2+2?", "response": "4", "system": "Be brief."},
         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]),
        ({"input": "ping", "output": "pong"},
         [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]),
    ],
)  # fmt: skip
def test_question_answer_shapes_of_public_datasets_and_faq_tables(tmp_path, record, first):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = import_file(src, out)
    assert result.report.detected_format == "question_answer"
    assert rows(out)[0]["messages"] == first


def test_alpaca_history_becomes_the_earlier_turns_and_a_bad_history_is_reported(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = {"instruction": "And now?", "input": "", "output": "Now B", "system": "S", "history": [["First?", "A"]]}
    bad = {"instruction": "x", "output": "y", "history": [["only one"]]}
    src.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    result = import_file(src, out, skip_invalid=True)
    assert rows(out)[0]["messages"] == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "A"}, {"role": "user", "content": "And now?"},
        {"role": "assistant", "content": "Now B"},
    ]  # fmt: skip
    assert [(e.line, e.code) for e in result.report.errors] == [(2, "INVALID_CONTENT")]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("semicolon.csv", 'question;answer\nКак дела?;Хорошо\n"Multi\nline?";"Yes; really"\n'),
        ("tabs.tsv", "prompt\tcompletion\nКак дела?\tХорошо\nMulti line?\tYes; really\n"),
        ("faq_ru.csv", "\ufeffВопрос,Ответ\r\nКак дела?,Хорошо\r\nMulti line?,\"Yes; really\"\r\n"),
        ("faq_caps.csv", "Question | Answer\nКак дела?|Хорошо\nMulti line?|Yes; really\n"),
    ],
)  # fmt: skip
def test_faq_tables_as_people_save_them(tmp_path, name, text):
    src, out = tmp_path / name, tmp_path / "out.jsonl"
    src.write_bytes(text.encode("utf-8"))
    result = import_file(src, out)
    assert result.report.records_valid == 2 and result.report.records_invalid == 0
    first, second = rows(out)
    assert first["messages"][0] == {"role": "user", "content": "Как дела?"}
    assert first["messages"][1] == {"role": "assistant", "content": "Хорошо"}
    assert second["messages"][1]["content"] == "Yes; really"
