"""Assistant-only labels: generation markers and the span fallback agree; empties are caught."""

from __future__ import annotations

import json

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer import chat_data

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


def test_validation_split_is_deterministic_and_keeps_training_data():
    records = list(range(20))
    train, val = chat_data.split_validation(records, 0.1, seed=3)
    assert len(val) == 2 and sorted(train + val) == records
    assert chat_data.split_validation(records, 0.1, seed=3) == (train, val)
    assert chat_data.split_validation([1], 0.5, seed=3) == ([1], [])
