"""--scrub that holds: every trained text field, IDN e-mails, trunk-prefixed Russian phones,
ISBNs that are no cards, two-letter names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.services.dataset.importing import import_file
from tuneforge.services.dataset.scrub import Scrubber


def import_scrubbed(tmp_path: Path, records: list[dict]) -> tuple[list[dict], dict]:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = import_file(path, out, scrubber=Scrubber())
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()], result.report.scrubbed


def test_scrub_covers_the_arguments_of_assistant_tool_calls(tmp_path):
    call = {"id": "c1", "type": "function", "function": {
        "name": "send_mail", "arguments": json.dumps({"to": "anna@example.ru", "phone": "+7 912 345-67-89"})}}
    rows, counts = import_scrubbed(tmp_path, [{"messages": [
        {"role": "user", "content": "mail her"}, {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "sent"}, {"role": "assistant", "content": "done"}]}])
    args = json.loads(rows[0]["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert args == {"to": "<EMAIL>", "phone": "<PHONE>"}
    assert counts == {"emails": 1, "phones": 1}


def test_scrub_covers_preference_pairs_and_kto_examples(tmp_path):
    rows, _ = import_scrubbed(tmp_path, [{"prompt": "my mail is anna@example.ru", "chosen": "noted anna@example.ru",
                                          "rejected": "call +7 912 345-67-89"}])
    text = json.dumps(rows[0], ensure_ascii=False)
    assert "anna@example.ru" not in text and "345-67-89" not in text
    rows, _ = import_scrubbed(tmp_path, [{"prompt": "q", "completion": "write to anna@example.ru", "label": True}])
    assert rows[0]["completion"][0]["content"] == "write to <EMAIL>"


@pytest.mark.parametrize("text,expected", [
    ("пишите на info@пример.рф", "пишите на <EMAIL>"),
    ("or info@xn--e1afmkfd.xn--p1ai", "or <EMAIL>"),
    ("звоните 8 (912) 345-67-89 днём", "звоните <PHONE> днём"),
    ("или 8(912)345-67-89", "или <PHONE>"),
])
def test_idn_emails_and_trunk_prefixed_phones_are_replaced_whole(text, expected):
    assert Scrubber().text(text) == expected


@pytest.mark.parametrize("text", [
    "ISBN 978-5-00000-010-6",  # passes the Luhn check too
    "книга 978-5-00000-010-6",
    "ISBN-13: 9785000000106",
    "ISBN 5-02-013850-9",  # an ISBN-10 that reads like a phone
    "ISBN 0-306-40615-2",
])
def test_isbns_are_not_cards_or_phones(text):
    scrubber = Scrubber()
    assert scrubber.text(text) == text and not scrubber.counts


def test_a_real_card_next_to_an_isbn_is_still_replaced():
    assert Scrubber().text("ISBN 978-5-00000-010-6, card 4111 1111 1111 1111") == (
        "ISBN 978-5-00000-010-6, card <CARD>")


def test_two_letter_contact_names_are_replaced_as_whole_words():
    scrubber = Scrubber(["Ян", "Al Gore"])
    assert scrubber.text("Ян и Al пришли; Янина и Alice нет") == "<NAME> и <NAME> пришли; Янина и Alice нет"


def test_the_scrubber_keeps_each_removed_value_with_its_context_when_asked():
    from tuneforge.services.dataset.scrub import Scrubber

    probes: list = []
    s = Scrubber(names=["Ян"], probes=probes)
    assert s.text("Ян, my number is 8 (912) 345-67-89", prompt="number?") == "<NAME>, my number is <PHONE>"
    assert probes == [{"kind": "phone", "value": "8 (912) 345-67-89", "prompt": "number?",
                       "context": "Ян, my number is "},
                      {"kind": "name", "value": "Ян", "prompt": "number?", "context": ""}]
    assert Scrubber().probes is None  # nothing kept unless asked


def test_a_scrubbed_import_keeps_its_probes_privately_and_an_append_keeps_them(tmp_path):
    import stat

    from tuneforge.runtime.store import Store
    from tuneforge.services.dataset.catalog import DatasetCatalog
    from tuneforge.services.dataset.importing import import_into_catalog

    catalog = DatasetCatalog(Store(tmp_path / "state.db"), tmp_path / "datasets")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "your mail?"},
                                            {"role": "assistant", "content": "it is anna@example.ru"}]}) + "\n")
    info, _ = import_into_catalog(catalog, src, "d", scrub=True, validation_split=0)
    probes = catalog.dir("d") / "pii_probes.jsonl"
    assert stat.S_IMODE(probes.stat().st_mode) == 0o600
    assert json.loads(probes.read_text()) == {"kind": "email", "value": "anna@example.ru",
                                              "context": "it is ", "prompt": "your mail?"}
    assert "anna" not in Path(info.path).read_text() and info.size_bytes == Path(info.path).stat().st_size
    catalog.append("d", src, validation_split=0)  # the files are swapped in: the probes stay
    assert probes.read_text().count("anna@example.ru") == 1 and stat.S_IMODE(probes.stat().st_mode) == 0o600
