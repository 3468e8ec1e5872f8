"""Import of files as other people write them: exact positions, odd shapes, tools, images, CSV."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset.import_report import ImportFailed
from tuneforge.services.dataset.importing import import_file


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


PRETTY_ARRAY = """[
  {"prompt": "один", "completion": "1"},
  {"prompt": "два", "completion": "2"},
  {"prompt": "три", "completion": "3",
   "extra": "ok" "missing comma"},
  {"prompt": "четыре", "completion": "4"},
  {"prompt": "пять", "completion": "5"},
  {"prompt": "шесть", "completion": "6"},
  {"prompt": "семь", "completion": "7"},
  {"prompt": "восемь", "completion": "8"}
]
"""


def test_a_syntax_error_in_a_json_array_names_its_physical_line_and_column(tmp_path):
    src = tmp_path / "pretty.json"
    src.write_text(PRETTY_ARRAY, encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        import_file(src, None)
    report = exc.value.report
    assert (report.records_read, report.records_invalid) == (8, 1)  # every record counted
    error = report.errors[0]
    assert (error.code, error.index, error.line, error.column) == ("INVALID_JSON", 3, 5, 18)
    assert "record 3, line 5, column 18" in str(error)


def test_a_bad_record_in_an_array_carries_its_index_and_the_line_it_starts_on(tmp_path):
    records = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(300)]
    records[284] = {"prompt": "p284"}  # no completion
    src = tmp_path / "indented.json"
    src.write_text(json.dumps(records, indent=2), encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        import_file(src, None)
    error = exc.value.report.errors[0]
    assert (error.code, error.index, error.line) == ("MISSING_FIELD", 285, 2 + 284 * 4)


def test_records_wrapped_in_a_data_object_are_imported_and_the_shape_is_said(tmp_path):
    src, out = tmp_path / "wrapped.json", tmp_path / "out.jsonl"
    data = {"version": "1.0", "data": [{"instruction": "Hi", "output": "Hello"}, {"instruction": "Bye", "output": "Ciao"}]}
    src.write_text(json.dumps(data, indent=1), encoding="utf-8")
    result = import_file(src, out)
    assert result.report.records_valid == 2 and result.report.file_kind == "json"
    assert rows(out)[1]["messages"][1]["content"] == "Ciao"
    assert [(w.code, w.count) for w in result.report.warnings] == [("WRAPPED_RECORDS", 2)]
    src.write_text(json.dumps(data), encoding="utf-8")  # the same on one line
    assert import_file(src, out).report.records_valid == 2


def test_a_dataset_registry_is_named_not_read_as_json_lines(tmp_path):
    src = tmp_path / "dataset_info.json"
    registry = {"alpaca_ru": {"file_name": "alpaca_ru.json"},
                "chats": {"file_name": "chats.json", "formatting": "sharegpt", "columns": {"messages": "conversations"}}}
    src.write_text(json.dumps(registry, indent=2), encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        import_file(src, None)
    assert exc.value.reason == "DATASET_IS_REGISTRY"
    assert "describing 2 datasets" in exc.value.message and "alpaca_ru.json" in exc.value.message


def test_a_pretty_printed_single_record_object_is_one_record(tmp_path):
    src, out = tmp_path / "one.json", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, indent=2))
    assert import_file(src, out).report.records_valid == 1


def test_a_truncated_zip_is_reported_as_a_broken_archive(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data.jsonl", '{"prompt": "a", "completion": "b"}\n' * 200)
    (tmp_path / "cut.json").write_bytes(archive.read_bytes()[:200])
    with pytest.raises(TuneforgeError) as exc:
        import_file(tmp_path / "cut.json", None)
    assert exc.value.reason == "DATASET_ARCHIVE" and "broken zip" in exc.value.message
    with pytest.raises(TuneforgeError) as exc:
        import_file(archive, None)
    assert exc.value.reason == "DATASET_ARCHIVE" and "unpack it" in exc.value.message


SHAREGPT_TOOLS = {
    "conversations": [
        {"from": "human", "value": "Погода в Москве?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Москва"}}'},
        {"from": "observation", "value": '{"t": -3}'},
        {"from": "gpt", "value": "Минус три."},
    ],
    "tools": '[{"name": "weather", "description": "Weather now", "parameters": {"type": "object"}}]',
}


def test_sharegpt_tool_turns_become_openai_tool_calls_and_tools(tmp_path):
    src, out = tmp_path / "tools.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(SHAREGPT_TOOLS, ensure_ascii=False) + "\n", encoding="utf-8")
    result = import_file(src, out)
    record = rows(out)[0]
    call = record["messages"][1]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"] == {
        "name": "weather", "arguments": '{"city": "Москва"}'}
    assert record["messages"][2] == {"role": "tool", "content": '{"t": -3}', "tool_call_id": call["tool_calls"][0]["id"]}
    assert record["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Weather now", "parameters": {"type": "object"}}}]
    assert {w.code: w.count for w in result.report.warnings} == {"TOOL_CALLS": 1, "TOOL_DEFINITIONS": 1}


def test_openai_tools_and_tool_calls_round_trip_unchanged(tmp_path):
    record = {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                  "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 2}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            {"role": "assistant", "content": "4"},
        ],
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
    }
    src, out = tmp_path / "openai.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(record) + "\n")
    import_file(src, out)
    got = rows(out)[0]
    assert got["tools"] == record["tools"] and got["messages"][1]["tool_calls"] == record["messages"][1]["tool_calls"]
    assert got["messages"][2]["tool_call_id"] == "c1"


def test_images_are_counted_as_not_trained_on_and_the_text_is_kept(tmp_path):
    src, out = tmp_path / "vision.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": "<image>Что на фото?"}, {"role": "assistant", "content": "Кот"}],
         "images": ["a.jpg"]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "And here?"},
                                                   {"type": "image_url", "image_url": {"url": "b.png"}}]},
                      {"role": "assistant", "content": "A dog"}]},
    ]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    result = import_file(src, out)
    assert {w.code: w.count for w in result.report.warnings} == {"IMAGES_DROPPED": 2, "IMAGE_PLACEHOLDERS": 1}
    assert rows(out)[1]["messages"][0]["content"] == "And here?"


def test_csv_standard_quoting_keeps_doubled_quotes(tmp_path):
    src, out = tmp_path / "faq.csv", tmp_path / "out.jsonl"
    src.write_text('question,answer\nWhat is "X"?,"Say ""hello"", then wait"\n', encoding="utf-8")
    import_file(src, out)
    assert rows(out)[0]["messages"][1]["content"] == 'Say "hello", then wait'


def test_csv_row_with_more_fields_than_the_header_is_refused_with_its_line(tmp_path):
    src = tmp_path / "faq.csv"
    src.write_text('question,answer\nQ1,"multi\nline"\nQ2,one, two\n', encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        import_file(src, None)
    error = exc.value.report.errors[0]
    assert (error.code, error.line, error.index) == ("TOO_MANY_FIELDS", 4, 2)


def test_a_record_over_the_size_limit_is_reported_where_it_starts(tmp_path, monkeypatch):
    from tuneforge.services.dataset import jsonscan

    monkeypatch.setattr(jsonscan, "CHUNK", 64)
    src = tmp_path / "big.json"
    src.write_text('[\n {"prompt": "a", "completion": "b"},\n {"prompt": "' + "x" * 5000 + '", "completion": "c"}\n]\n')
    with pytest.raises(ImportFailed) as exc:
        import_file(src, None, max_record_bytes=1000)  # the cap is the import's max_record_bytes
    error = exc.value.report.errors[0]
    assert (error.index, error.line) == (2, 3) and "larger than 1000 bytes" in error.message


def test_positions_are_the_same_whatever_the_read_size(tmp_path, monkeypatch):
    from tuneforge.services.dataset import jsonscan

    src = tmp_path / "pretty.json"
    src.write_text(PRETTY_ARRAY, encoding="utf-8")
    with pytest.raises(ImportFailed) as whole:
        import_file(src, None)
    monkeypatch.setattr(jsonscan, "CHUNK", 5)  # strings, keys and Cyrillic cut at every boundary
    with pytest.raises(ImportFailed) as chunked:
        import_file(src, None)
    assert chunked.value.report.errors == whole.value.report.errors
    assert chunked.value.report.records_read == 8
