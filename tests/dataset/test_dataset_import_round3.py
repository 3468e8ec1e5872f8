"""Round 3 of real files: preference and KTO data, tool use, LLaMA-Factory v1, FAQ tables.

Each test writes a small file of the shape people upload and pins one behaviour: no import
path crashes (INTERNAL), no label or tool result is dropped in silence, and each reason is
the right one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset.import_report import ImportFailed
from tuneforge.services.dataset.importing import import_file

CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def write_jsonl(tmp_path: Path, records: list, name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def failed(path: Path, **kw) -> ImportFailed:
    with pytest.raises(ImportFailed) as exc:
        import_file(path, None, **kw)
    return exc.value


@pytest.mark.parametrize("fmt", ["preference", "preference_hh", "preference_sharegpt"])
def test_a_forced_preference_format_on_a_chat_record_is_missing_field_with_its_line(tmp_path, fmt):
    path = write_jsonl(tmp_path, [{"messages": CHAT}, {"messages": CHAT}])
    report = failed(path, format=fmt).report
    assert report.error_counts == {"MISSING_FIELD": 2}
    last = report.errors[-1]
    assert (last.code, last.line, last.index) == ("MISSING_FIELD", 2, 2)
    assert "'chosen'" in last.message and "'rejected'" in last.message


def test_labelled_unpaired_chats_are_kto_examples_that_keep_their_label(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": CHAT, "label": True},
                                  {"messages": [CHAT[0], {"role": "assistant", "content": "go away"}], "label": False}])
    result = import_file(path, tmp_path / "out.jsonl")
    assert result.report.detected_format == "kto"
    out = rows(tmp_path / "out.jsonl")
    assert [r["label"] for r in out] == [True, False]
    assert out[1] == {"prompt": [CHAT[0]], "completion": [{"role": "assistant", "content": "go away"}], "label": False}
    assert all("messages" not in r for r in out)  # no chat record a SFT loader would take


def test_trl_prompt_completion_label_and_llama_factory_kto_tag_are_kto(tmp_path):
    path = write_jsonl(tmp_path, [{"prompt": "q", "completion": "bad", "label": False},
                                  {"conversations": [{"from": "human", "value": "q"},
                                                     {"from": "gpt", "value": "good"}], "kto_tag": True}])
    result = import_file(path, tmp_path / "out.jsonl", format="kto")
    assert [(r["completion"][0]["content"], r["label"]) for r in rows(tmp_path / "out.jsonl")] == [
        ("bad", False), ("good", True)]
    assert result.report.records_valid == 2


def test_a_kto_label_that_is_not_true_or_false_is_refused_not_dropped(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": CHAT, "label": True}, {"messages": CHAT, "label": "thumbs up"}])
    error = failed(path).report.errors[0]
    assert (error.code, error.line) == ("INVALID_LABEL", 2)


def test_a_class_label_next_to_a_chat_is_metadata_not_kto(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": CHAT, "label": "greeting"}])
    assert import_file(path, None).report.detected_format == "messages"


def test_the_trainer_refuses_a_kto_dataset_for_sft_with_the_reason():
    from tuneforge.services.trainer.preflight import check_data_kind

    for method in ("lora", "full", "dpo"):
        with pytest.raises(TuneforgeError) as exc:
            check_data_kind(method, "kto")
        assert exc.value.reason == "DATASET_METHOD_MISMATCH"
        assert "KTO" in exc.value.message and "rejected answers" in exc.value.message


def test_kto_dataset_stats_count_prompt_and_completion(tmp_path):
    from tuneforge.services.dataset.stats import compute_stats

    path = write_jsonl(tmp_path, [{"messages": CHAT, "label": True}])
    import_file(path, tmp_path / "out.jsonl")
    stats = compute_stats([tmp_path / "out.jsonl"])
    assert (stats.record_count, stats.message_count, stats.preference_pairs) == (1, 2, 0)


def test_an_openai_tool_result_without_a_call_before_it_is_orphan_tool_result(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": [CHAT[0], {"role": "tool", "content": "42"}, CHAT[1]]}])
    error = failed(path).report.errors[0]
    assert (error.code, error.line) == ("ORPHAN_TOOL_RESULT", 1) and "messages[1]" in error.message


def test_a_sharegpt_observation_without_a_function_call_is_orphan_tool_result(tmp_path):
    path = write_jsonl(tmp_path, [{"conversations": [{"from": "human", "value": "q"},
                                                     {"from": "observation", "value": "42"},
                                                     {"from": "gpt", "value": "a"}]}])
    error = failed(path).report.errors[0]
    assert error.code == "ORPHAN_TOOL_RESULT" and "conversations[1]" in error.message


def test_a_tool_result_after_its_call_is_kept(tmp_path):
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                 "function": {"name": "f", "arguments": "{}"}}]}
    path = write_jsonl(tmp_path, [{"messages": [CHAT[0], call, {"role": "tool", "tool_call_id": "c1",
                                                                "content": "42"}, CHAT[1]]}])
    assert import_file(path, None).report.records_valid == 1


@pytest.mark.parametrize("record,where", [
    ({"messages": [{"content": "hi"}, CHAT[1]]}, "messages[0]"),
    ({"conversations": [{"value": "hi"}, {"from": "gpt", "value": "a"}]}, "conversations[0]"),
])
def test_a_message_without_role_is_missing_role(tmp_path, record, where):
    error = failed(write_jsonl(tmp_path, [record])).report.errors[0]
    assert error.code == "MISSING_ROLE" and where in error.message and "None" not in error.message


BROKEN_QUOTE = '{"messages": [{"role": "user", "content": hi"}, {"role": "assistant", "content": "a"}]}'


def test_a_value_missing_its_opening_quote_in_jsonl_is_where_json_loads_says_and_later_lines_count(tmp_path):
    good = json.dumps({"messages": CHAT})
    path = tmp_path / "quote.jsonl"
    path.write_text("\n".join([good, BROKEN_QUOTE, good, good]) + "\n", encoding="utf-8")
    report = failed(path).report
    assert (report.records_read, report.records_valid) == (4, 3)
    error = report.errors[0]
    assert (error.line, error.column) == (2, BROKEN_QUOTE.index("hi") + 1)


def test_a_value_missing_its_opening_quote_in_a_json_array_is_where_json_loads_says(tmp_path):
    good = json.dumps({"messages": CHAT})
    text = "[\n" + ",\n".join([good, BROKEN_QUOTE, good]) + "\n]\n"
    path = tmp_path / "quote.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as strict:
        json.loads(text)
    report = failed(path).report
    error = report.errors[0]
    assert (error.code, error.line, error.column) == ("INVALID_JSON", strict.value.lineno, strict.value.colno)
    assert "unterminated" not in error.message
    assert (report.records_read, report.records_valid) == (3, 2)  # the record after it is read


def test_a_pretty_printed_array_reads_on_past_a_missing_quote_after_an_earlier_error(tmp_path):
    records = [json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}, indent=2) for i in range(8)]
    records[2] = records[2].replace('"c2"', '"c2" "missing comma"')  # the scanner reports it and goes on
    records[4] = records[4].replace('"c4"', 'c4"')  # breaks every later quote
    text = "[\n" + ",\n".join("  " + r.replace("\n", "\n  ") for r in records) + "\n]\n"
    path = tmp_path / "pretty.json"
    path.write_text(text, encoding="utf-8")
    report = failed(path).report
    assert (report.records_read, report.records_valid, report.records_invalid) == (8, 6, 2)
    broken = report.errors[1]
    line_text = text.splitlines()[broken.line - 1]
    assert broken.index == 5 and line_text[broken.column - 1:].startswith("c4")


def test_a_wrapped_array_reads_on_past_a_missing_quote(tmp_path):
    good = json.dumps({"messages": CHAT})
    text = '{"data": [\n' + ",\n".join([good, BROKEN_QUOTE, good, good]) + "\n]}\n"
    path = tmp_path / "wrapped.json"
    path.write_text(text, encoding="utf-8")
    report = failed(path).report
    assert (report.records_read, report.records_valid) == (4, 3)
    assert (report.errors[0].line, report.errors[0].column) == (3, BROKEN_QUOTE.index("hi") + 1)


def test_an_faq_csv_with_questions_answers_header_is_read(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("Questions,Answers\nHow do I pay?,By card.\n", encoding="utf-8")
    result = import_file(path, None)
    assert result.preview[0]["messages"][0]["content"] == "How do I pay?"


def test_an_faq_csv_with_title_content_header_names_the_header_as_the_problem(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("title,content\nHow do I pay?,By card.\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        import_file(path, None)
    assert exc.value.reason == "DATASET_FORMAT_UNKNOWN"
    assert "CSV header (line 1)" in exc.value.message and "content, title" in exc.value.message
    assert "--format" not in exc.value.message and "explicitly" not in exc.value.message


def test_unknown_keys_get_no_format_hint_when_no_format_would_read_them(tmp_path):
    with pytest.raises(TuneforgeError) as exc:
        import_file(write_jsonl(tmp_path, [{"foo": 1, "bar": 2}]), None)
    assert "--format" not in exc.value.message and "explicitly" not in exc.value.message
    assert "bar, foo" in exc.value.message


def test_llama_factory_v1_text_parts_and_tool_call_parts_are_read(tmp_path):
    call = json.dumps({"name": "weather", "arguments": {"city": "Oslo"}})
    path = write_jsonl(tmp_path, [{"messages": [
        {"role": "user", "content": [{"type": "text", "value": "weather?"}], "loss_weight": 0.0},
        {"role": "assistant", "content": [{"type": "tool_call", "value": call}], "loss_weight": 1.0},
        {"role": "tool", "content": [{"type": "text", "value": "sunny"}]},
        {"role": "assistant", "content": [{"type": "text", "value": "Sunny."}]}]}])
    msgs = import_file(path, None).preview[0]["messages"]
    assert msgs[0] == {"role": "user", "content": "weather?", "weight": 0}
    assert msgs[1]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city": "Oslo"}'}
    assert msgs[3]["content"] == "Sunny."


def test_a_llama_factory_v1_reasoning_part_is_named_exactly(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": [CHAT[0], {"role": "assistant", "content": [
        {"type": "reasoning", "value": "think"}, {"type": "text", "value": "a"}]}]}])
    error = failed(path).report.errors[0]
    assert error.code == "UNSUPPORTED_CONTENT_PART" and "'reasoning'" in error.message
    assert "messages[1]: content[0]" in error.message


def test_an_image_listed_and_referenced_by_a_part_is_counted_once(tmp_path):
    path = write_jsonl(tmp_path, [{"images": ["cat.png"], "messages": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "<image>what is it?"}]},
        {"role": "assistant", "content": "a cat"}]}])
    warnings = {w.code: w.count for w in import_file(path, None).report.warnings}
    assert warnings["IMAGES_DROPPED"] == 1


def test_a_role_that_is_a_list_is_unknown_role_not_a_crash(tmp_path):
    error = failed(write_jsonl(tmp_path, [{"messages": [{"role": ["user"], "content": "q"}, CHAT[1]]}])).report.errors[0]
    assert error.code == "UNKNOWN_ROLE"


def test_kinds_are_said_with_their_article(tmp_path):
    path = write_jsonl(tmp_path, [{"messages": [CHAT[0], {"role": "assistant", "content": {"t": 1}}]}, [1, 2]])
    messages = [e.message for e in failed(path).report.errors]
    assert messages == ["messages[1]: content is an object, not a string", "record is an array, not an object"]


def test_a_lone_json_object_broken_inside_is_invalid_json_at_its_position(tmp_path):
    path = tmp_path / "one.json"
    path.write_text('{"settings": [\n{"a": 1\n x}\n]}', encoding="utf-8")
    error = failed(path).report.errors[0]
    assert (error.code, error.line, error.column) == ("INVALID_JSON", 3, 2)


def test_generate_faq_reads_a_questions_answers_header(tmp_path):
    from tuneforge.services.dataset.generate import faq_pairs

    path = tmp_path / "faq.csv"
    path.write_text("Questions,Answers\nHow do I pay?,By card.\n", encoding="utf-8")
    assert faq_pairs(path) == [("How do I pay?", "By card.")]


def test_generate_faq_with_title_content_header_names_the_columns(tmp_path):
    from tuneforge.services.dataset.generate import faq_pairs

    path = tmp_path / "faq.csv"
    path.write_text("title,content\nHow do I pay?,By card.\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        faq_pairs(path)
    assert exc.value.reason == "FAQ_COLUMNS_UNKNOWN" and "content, title" in exc.value.message


def test_a_blank_format_is_auto_not_an_unknown_empty_format(data, tmp_path):
    assert import_file(data / "alpaca.jsonl", None, format=" ").report.detected_format == "alpaca"
