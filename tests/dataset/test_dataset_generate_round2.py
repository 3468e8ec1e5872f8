"""Generated data a model can learn from: passages, natural questions, FAQ CSV, an LLM stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dataset.openai_standin import OpenAIStandIn
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset import doc_passages, generate
from tuneforge.services.dataset.generate import GenerateOptions


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pairs(path: Path) -> list[tuple[str, str]]:
    return [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in records(path)]


def test_faq_csv_with_standard_quoting_keeps_the_whole_answer(tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text('question,answer\nHow do I reset?,"Press ""Reset"", then wait, please."\n', encoding="utf-8")
    generate.generate(GenerateOptions(faq_file=str(faq)), tmp_path / "o.jsonl")
    assert pairs(tmp_path / "o.jsonl") == [("How do I reset?", 'Press "Reset", then wait, please.')]


def test_faq_csv_row_with_an_unquoted_delimiter_fails_with_its_line(tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nOpen hours?,9 to 18\nHow to pay?,By card, or cash\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(GenerateOptions(faq_file=str(faq)), tmp_path / "o.jsonl")
    assert exc.value.reason == "FAQ_INVALID_ROW" and "line 3" in exc.value.message
    assert "TOO_MANY_FIELDS" in exc.value.message


def test_a_long_section_becomes_short_passages_each_asked_several_ways(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Step {i}: the installer copies the files of part {i} and checks them. " * 3 for i in range(30)]
    (docs / "install.md").write_text("# Installation\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    report = generate.generate(GenerateOptions(docs_dir=str(docs), questions_per_passage=2), tmp_path / "o.jsonl")
    got = pairs(tmp_path / "o.jsonl")
    budget = doc_passages.MAX_PASSAGE_TOKENS * doc_passages.CHARS_PER_TOKEN
    assert report.passages > 5 and len(got) == 2 * report.passages
    assert all(len(answer) <= budget for _, answer in got)
    assert got[0][0] == "What is installation?" and got[1][0] == "Can you explain installation?"
    assert got[2][0] == "What else should I know about installation?"  # a follow-up passage


def test_questions_follow_the_documents_language_and_how_to_headings(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ru.md").write_text("# Оплата\n\nОплатить заказ можно картой или наличными курьеру.\n", encoding="utf-8")
    (docs / "en.md").write_text("# How to reset the password\n\nOpen Settings and press Reset.\n", encoding="utf-8")
    generate.generate(GenerateOptions(docs_dir=str(docs)), tmp_path / "o.jsonl")
    questions = [q for q, _ in pairs(tmp_path / "o.jsonl")]
    assert questions == ["How do I reset the password?", "How can I reset the password?",
                         "What are the steps to reset the password?",
                         "Оплата — что это?", "Оплата: что нужно знать?", "Расскажите подробнее: оплата."]


def test_init_modules_tests_and_trivial_docstrings_make_no_records(tmp_path):
    code = tmp_path / "src" / "pkg"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text('"""The pkg package: re-exports everything it has."""\nfrom .a import *\n')
    (code / "test_a.py").write_text('def test_x():\n    """Checks that x works as expected."""\n')
    (code / "a.py").write_text('def helper():\n    """Helper."""\n\n\ndef charge(card, amount):\n'
                               '    """Charge the card and return the payment id."""\n')
    generate.generate(GenerateOptions(code_dir=str(tmp_path / "src")), tmp_path / "o.jsonl")
    assert [q for q, _ in pairs(tmp_path / "o.jsonl")] == ["What does `charge(card, amount)` in `pkg.a` do?"]


def test_scrub_removes_personal_data_from_generated_records(tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("вопрос;ответ\nКак связаться?;Пишите на help@shop.ru или звоните +7 495 123-45-67\n", encoding="utf-8")
    report = generate.generate(GenerateOptions(faq_file=str(faq), scrub=True), tmp_path / "o.jsonl")
    assert pairs(tmp_path / "o.jsonl")[0][1] == "Пишите на <EMAIL> или звоните <PHONE>"
    assert report.scrubbed == {"emails": 1, "phones": 1}


def test_llm_url_rephrases_questions_and_answers_through_the_chat_api(tmp_path, llm):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d.md").write_text("# Delivery\n\nWe deliver in 2 days.\n", encoding="utf-8")
    report = generate.generate(GenerateOptions(docs_dir=str(docs), llm_url=llm), tmp_path / "o.jsonl")
    assert pairs(tmp_path / "o.jsonl")[0] == ("Rephrased: What is delivery?", "In short: We deliver in 2 days.")
    assert report.llm_rephrased == 1 and report.records == 3
    sent = OpenAIStandIn.requests[0]
    assert sent["model"] == "tiny-chat" and sent["messages"][0]["role"] == "system"


def test_an_unknown_llm_model_is_refused_with_the_servers_message(tmp_path, llm):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d.md").write_text("# Delivery\n\nWe deliver in 2 days.\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(GenerateOptions(docs_dir=str(docs), llm_url=llm, llm_model="big"), tmp_path / "o.jsonl")
    assert exc.value.reason == "LLM_REQUEST_REFUSED" and "does not exist" in exc.value.message


def test_an_unreachable_llm_url_fails_instead_of_producing_other_data(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "d.md").write_text("# Delivery\n\nWe deliver in 2 days.\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(GenerateOptions(docs_dir=str(docs), llm_url="http://127.0.0.1:9/v1"), tmp_path / "o.jsonl")
    assert exc.value.reason == "LLM_UNAVAILABLE" and exc.value.code.value == "UNAVAILABLE"
