"""Assistant-only labels: generation markers and the span fallback agree; empties are caught."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer import chat_data, preference_data

CHAT = [
    {"role": "system", "content": "Будь краток."},
    {"role": "user", "content": "Привет, как дела?"},
    {"role": "assistant", "content": "Хорошо, спасибо."},
    {"role": "user", "content": "two"},
    {"role": "assistant", "content": "three four"},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture
def plain_tokenizer(tokenizer):
    """The same tokenizer with a stock ChatML template: no {% generation %} markers."""
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", "")
    return tok


def _assistant_text(tok, enc):
    return [tok.decode([t for t in labels if t != -100]) for labels in enc.labels]


def test_labels_cover_assistant_content_and_its_end_token_only(tokenizer):
    assert chat_data.has_generation_markers(tokenizer)
    enc = chat_data.encode_records(tokenizer, [CHAT], 256)
    assert _assistant_text(tokenizer, enc) == ["Хорошо, спасибо.<|im_end|>three four<|im_end|>"]
    assert enc.truncated == 0 and enc.dropped == []


def test_templates_without_generation_markers_get_the_same_mask(tokenizer, plain_tokenizer):
    assert not chat_data.has_generation_markers(plain_tokenizer)
    marked = chat_data.encode_records(tokenizer, [CHAT], 256)
    spans = chat_data.encode_records(plain_tokenizer, [CHAT], 256)
    assert spans.input_ids == marked.input_ids and spans.labels == marked.labels


def test_a_record_with_no_assistant_turn_fails_with_its_index(tokenizer):
    records = [CHAT, CHAT[:2]]
    with pytest.raises(TuneforgeError) as info:
        chat_data.encode_records(tokenizer, records, 256)
    assert info.value.reason == "EMPTY_ASSISTANT_MASK" and "record 1" in str(info.value)


def test_a_template_that_hides_assistant_text_fails(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)  # markers around nothing: the mask comes out empty
    tok.chat_template = ("{% for m in messages %}{{ m['content'] }}{% endfor %}"
                         "{% generation %}{% endgeneration %}")
    with pytest.raises(TuneforgeError) as info:
        chat_data.encode_records(tok, [CHAT], 256)
    assert info.value.reason == "EMPTY_ASSISTANT_MASK" and "record 0" in str(info.value)


def test_truncation_that_removes_all_assistant_tokens_drops_the_record(tokenizer):
    long_prompt = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]
    enc = chat_data.encode_records(tokenizer, [CHAT, long_prompt], 64)
    assert enc.dropped == [1] and enc.source_index == [0] and enc.truncated == 1
    assert all(len(ids) <= 64 for ids in enc.input_ids)
    with pytest.raises(TuneforgeError) as info:
        chat_data.encode_records(tokenizer, [long_prompt], 64)
    assert info.value.reason == "EMPTY_ASSISTANT_MASK"
    assert info.value.violations[0].field == "config.max_seq_length"


def test_load_records_accepts_sharegpt_and_reports_bad_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"},
                                                  {"from": "gpt", "value": "hello"}]}) + "\n\n")
    assert chat_data.load_records(path) == [[{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]]
    path.write_text('{"messages": []}\n')
    with pytest.raises(TuneforgeError, match="record 0"):
        chat_data.load_records(path)
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "x"}]}) + "\n{oops\n")
    with pytest.raises(TuneforgeError, match="line 2"):
        chat_data.load_records(path)


@pytest.mark.parametrize("load", [chat_data.load_records, preference_data.load_pairs])
def test_a_training_file_of_blank_lines_is_an_empty_dataset(tmp_path, load):
    path = tmp_path / "d.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(TuneforgeError) as info:
        load(path, "validation")
    assert info.value.reason == "EMPTY_DATASET" and "validation file" in info.value.message


@pytest.mark.parametrize("load", [chat_data.load_records, preference_data.load_pairs])
def test_bad_json_in_a_training_file_names_the_record_and_its_line(tmp_path, load):
    path = tmp_path / "d.jsonl"
    path.write_text("\n{oops\n")
    with pytest.raises(TuneforgeError) as info:
        load(path)
    assert info.value.reason == "INVALID_TRAINING_RECORD"
    assert info.value.message.startswith("train record 1 (line 2): not valid JSON (")
    assert info.value.violations[0].field == "dataset"


def test_validation_split_is_deterministic_and_keeps_training_data():
    records = list(range(20))
    train, val = chat_data.split_validation(records, 0.1, seed=3)
    assert len(val) == 2 and sorted(train + val) == records
    assert chat_data.split_validation(records, 0.1, seed=3) == (train, val)
    assert chat_data.split_validation([1], 0.5, seed=3) == ([1], [])


# ---- will it stop? (end-of-turn token in the labels) ---------------------------------------
# The Qwen3 chat template's message loop (tools left out), as shipped with Qwen/Qwen3-*.
QWEN3_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}"
    "{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- for message in messages %}"
    "{%- set content = message.content if message.content is string else '' %}"
    "{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{%- set reasoning_content = '' %}"
    "{%- if message.reasoning_content is string %}"
    "{%- set reasoning_content = message.reasoning_content %}"
    "{%- else %}"
    "{%- if '</think>' in content %}"
    "{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{%- endif %}"
    "{%- if loop.index0 > ns.last_query_index %}"
    "{%- if loop.last or (not loop.last and reasoning_content) %}"
    "{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content }}"
    "{%- endif %}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content }}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)


@pytest.fixture
def qwen3_tokenizer(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = QWEN3_TEMPLATE
    return tok


def test_the_end_of_turn_token_is_the_special_token_after_a_reply(tokenizer):
    assert chat_data.end_of_turn_ids(tokenizer) == {tokenizer.convert_tokens_to_ids("<|im_end|>")}


def test_every_trained_turn_ends_with_the_end_token_and_coverage_is_full(tokenizer):
    enc = chat_data.encode_records(tokenizer, [CHAT, CHAT[:3]], 256)
    assert (enc.turns, enc.turns_ending, enc.end_of_turn_coverage) == (3, 3, 1.0)


def test_a_template_that_leaves_the_end_token_untrained_fails_naming_the_record(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)  # the classic bug: <|im_end|> outside the generation block
    tok.chat_template = tok.chat_template.replace(
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}",
        "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>' }}")
    with pytest.raises(TuneforgeError) as info:
        chat_data.encode_records(tok, [CHAT], 256)
    assert info.value.reason == "END_OF_TURN_NOT_TRAINED"
    assert "record 0" in str(info.value) and "<|im_end|>" in str(info.value)


def test_a_turn_cut_by_truncation_is_not_trained(tokenizer):
    reply = "word " * 40
    cut = [{"role": "user", "content": "x"}, {"role": "assistant", "content": reply}]
    enc = chat_data.encode_records(tokenizer, [CHAT[1:3], cut], 32)
    assert enc.dropped == [1] and enc.end_of_turn_coverage == 1.0
    assert enc.report.turns_cut == 1 and enc.report.records_dropped == 1


def test_reasoning_template_trains_each_turn_after_an_empty_think_block(qwen3_tokenizer):
    assert chat_data.has_reasoning_blocks(qwen3_tokenizer)
    enc = chat_data.encode_records(qwen3_tokenizer, [CHAT], 256)
    assert len(enc.input_ids) == 2 and enc.source_index == [0, 0]  # one sample per turn
    assert _assistant_text(qwen3_tokenizer, enc) == ["Хорошо, спасибо.<|im_end|>",
                                                     "three four<|im_end|>"]
    first = qwen3_tokenizer.decode(enc.input_ids[0])
    assert first.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\nХорошо, спасибо.<|im_end|>\n")
    second = qwen3_tokenizer.decode(enc.input_ids[1])  # history without a think block
    assert "<|im_start|>assistant\nХорошо, спасибо.<|im_end|>" in second
    assert enc.end_of_turn_coverage == 1.0


def test_generation_prompt_matches_training_for_reasoning_templates(qwen3_tokenizer):
    prompt = chat_data.render_prompt(qwen3_tokenizer, CHAT[:2])
    enc = chat_data.encode_records(qwen3_tokenizer, [CHAT[:3]], 256)
    assert enc.input_ids[0][: len(prompt)] == prompt
    assert all(label == -100 for label in enc.labels[0][: len(prompt)])


def test_reasoning_in_the_data_stays_trained(qwen3_tokenizer):
    chat = [{"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nadd them\n</think>\n\nfour"}]
    enc = chat_data.encode_records(qwen3_tokenizer, [chat], 256)
    text = _assistant_text(qwen3_tokenizer, enc)[0]
    assert "add them" in text and text.endswith("four<|im_end|>")


# ---- see what is trained --------------------------------------------------------------------
def test_trained_tokens_marks_exactly_the_labelled_text(tokenizer):
    (sample,) = chat_data.trained_tokens(tokenizer, CHAT)
    trained = "".join(t for t, on in sample if on)
    assert trained == "Хорошо, спасибо.<|im_end|>three four<|im_end|>"
    assert "".join(t for t, _ in sample) == tokenizer.decode(
        chat_data.encode_records(tokenizer, [CHAT], 4096).input_ids[0])
