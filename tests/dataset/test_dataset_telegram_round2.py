"""Telegram exports from the real world: order, gaps, group-only exports, scrubbing, appends."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.store import Store
from tuneforge.services.dataset import dialogs, telegram
from tuneforge.services.dataset.catalog import DatasetCatalog
from tuneforge.services.dataset.dialogs import TelegramOptions

ME, PEER = ("Me", "user1"), ("Peer", "user2")


def msg(i: int, frm: str, fid: str, ts: int, text, **extra) -> dict:
    return {"id": i, "type": "message", "date_unixtime": str(ts), "from": frm, "from_id": fid,
            "text": text, **extra}  # fmt: skip


def write(tmp_path: Path, chats: list[dict], name: str = "result.json") -> Path:
    path = tmp_path / name
    export = {"personal_information": {"user_id": 1, "first_name": "Me"}, "chats": {"list": chats}}
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    return path


def chat(messages: list[dict], name: str = "Peer", chat_type: str = "personal_chat", chat_id: int = 2) -> dict:
    return {"name": name, "type": chat_type, "id": chat_id, "messages": messages}


def run(path: Path, tmp_path: Path, known: frozenset[str] = frozenset(), **kw) -> tuple[dialogs.TelegramReport, list[dict]]:
    out = tmp_path / "out.jsonl"
    with telegram.ExportSource(path) as src:
        report = dialogs.process_export(src, out, TelegramOptions(**kw), known_ids=known)
    return report, [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def contents(rows: list[dict]) -> list[list[str]]:
    return [[m["content"] for m in r["messages"]] for r in rows]


def test_messages_out_of_order_in_the_file_are_sorted_by_date(tmp_path):
    path = write(tmp_path, [chat([msg(2, *ME, 200, "answer"), msg(1, *PEER, 100, "question"),
                                  msg(3, *PEER, 300, "thanks"), msg(4, *ME, 300, "welcome")])])
    _, rows = run(path, tmp_path)
    assert contents(rows) == [["question", "answer", "thanks", "welcome"]]  # equal dates keep file order


def test_a_negative_time_gap_never_glues_distant_messages_into_one_session(tmp_path):
    day = 86400
    # A late exchange written before an early one: two sessions, whichever way the gap runs.
    path = write(tmp_path, [chat([msg(3, *PEER, 10 * day, "late q"), msg(4, *ME, 10 * day + 5, "late a"),
                                  msg(1, *PEER, 1 * day, "early q"), msg(2, *ME, 1 * day + 5, "early a")])])
    _, rows = run(path, tmp_path)
    assert contents(rows) == [["early q", "early a"], ["late q", "late a"]]


def test_a_group_only_export_says_there_are_no_personal_chats(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "hi"), msg(2, *ME, 2, "yo")], "Team", "private_supergroup")])
    with pytest.raises(TuneforgeError) as exc:
        run(path, tmp_path, owner_name="Me")
    assert exc.value.reason == "TELEGRAM_NO_PERSONAL_CHATS"
    assert "--include-groups" in exc.value.message and "authors" not in exc.value.message
    assert "{" not in exc.value.message and "None" not in exc.value.message


def test_a_channel_only_export_points_at_include_channels(tmp_path):
    path = write(tmp_path, [chat([msg(1, *ME, 1, "post")], "News", "public_channel")])
    with pytest.raises(TuneforgeError) as exc:
        run(path, tmp_path, owner_name="Me")
    assert "--include-channels" in exc.value.message


def test_scrub_replaces_personal_data_in_russian_and_english_and_keeps_dates_and_prices(tmp_path):
    q = "Мой номер +7 (912) 345-67-89, почта anna@example.ru. Встреча 01.12.2026 в 14:30, цена 1 500 000 ₽"
    a = "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00; call (415) 555-0132 on 2026-12-01, $1,299.99"
    path = write(tmp_path, [chat([msg(1, *PEER, 1, q), msg(2, *ME, 2, a)])])
    report, rows = run(path, tmp_path, scrub=True)
    user, assistant = contents(rows)[0]
    assert user == "Мой номер <PHONE>, почта <EMAIL>. Встреча 01.12.2026 в 14:30, цена 1 500 000 ₽"
    assert assistant == "Card <CARD>, IBAN <IBAN>; call <PHONE> on 2026-12-01, $1,299.99"
    assert report.scrubbed == {"phones": 2, "emails": 1, "cards": 1, "ibans": 1}


def test_a_long_number_failing_the_luhn_check_is_not_a_card(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "Трек 4111 1111 1111 1112"), msg(2, *ME, 2, "ok")])])
    report, rows = run(path, tmp_path, scrub=True)
    assert contents(rows)[0][0] == "Трек 4111 1111 1111 1112" and "cards" not in report.scrubbed


def test_scrub_names_replaces_contacts_but_not_the_owner(tmp_path):
    anna = ("Анна Петрова", "user2")
    path = write(tmp_path, [chat([msg(1, *anna, 1, "Это Анна, привет от Петрова"), msg(2, *ME, 2, "Hi Анна Петрова, Me here")],
                                 name="Анна Петрова")])
    report, rows = run(path, tmp_path, scrub_names=True)
    assert contents(rows)[0] == ["Это <NAME>, привет от <NAME>", "Hi <NAME>, Me here"]
    assert report.scrubbed == {"names": 3}


def test_contacts_are_listed_and_an_excluded_contact_is_left_out(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "q"), msg(2, *ME, 2, "a")]),
                            chat([msg(3, "Doctor", "user3", 1, "results"), msg(4, *ME, 2, "thanks")], "Doctor", chat_id=3)])
    report, rows = run(path, tmp_path)
    assert {c["name"]: c["messages"] for c in report.contacts} == {"Peer": 1, "Doctor": 1}
    report, rows = run(path, tmp_path, exclude_contacts=("doctor",))
    assert contents(rows) == [["q", "a"]] and report.chats_skipped == {"excluded_contact": 1}


def test_each_dialog_keeps_the_ids_of_its_messages_and_known_ids_are_skipped(tmp_path):
    first = [msg(1, *PEER, 100, "q1"), msg(2, *ME, 110, "a1")]
    later = [msg(3, *PEER, 90000, "q2"), msg(4, *ME, 90010, "a2")]
    path = write(tmp_path, [chat(first + later)])
    report, rows = run(path, tmp_path, known=frozenset({"2:1", "2:2"}))
    assert contents(rows) == [["q2", "a2"]] and rows[0]["telegram_ids"] == {
        "chat": 2, "messages": [3, 4], "from": ["user2", ""], "names": {"user2": "Peer"}}
    assert report.messages_already_in_dataset == 2


def test_append_to_adds_only_new_dialogs_to_the_dataset(tmp_path, run_worker):
    root = tmp_path / "var"
    month1 = write(tmp_path, [chat([msg(1, *PEER, 100, "q1"), msg(2, *ME, 110, "a1")])], "m1.json")
    month2 = write(tmp_path, [chat([msg(1, *PEER, 100, "q1"), msg(2, *ME, 110, "a1"),
                                    msg(3, *PEER, 90000, "q2"), msg(4, *ME, 90010, "a2")])], "m2.json")
    base = {"data_root": str(root), "options": {"validation_split": 0}}
    code, _, err = run_worker("tuneforge.services.dataset.telegram_worker",
                              {**base, "input": str(month1), "dataset_name": "chats"}, tmp_path)
    assert code == 0, err
    for _ in range(2):  # the second time there is nothing new
        code, events, err = run_worker("tuneforge.services.dataset.telegram_worker",
                                       {**base, "input": str(month2), "append_to": "chats"}, tmp_path)
        assert code == 0, err
    info = DatasetCatalog(Store(root / "state.db"), root).get("chats")
    lines = Path(info.path).read_text(encoding="utf-8").splitlines()
    assert [[m["content"] for m in json.loads(x)["messages"]] for x in lines] == [["q1", "a1"], ["q2", "a2"]]
    assert info.record_count == 2
    result = [e for e in events if e["event"] == "result"][-1]["data"]
    assert result["report"]["messages_already_in_dataset"] == 4 and result["report"]["dialogs"] == 0


def test_a_truncated_zip_export_is_a_broken_archive_not_invalid_json(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "q" * 5000), msg(2, *ME, 2, "a")])])
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, "Export/result.json")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(TuneforgeError) as exc:
        run(cut, tmp_path)
    assert exc.value.reason == "TELEGRAM_BROKEN_ARCHIVE"


def test_the_reader_gives_the_same_dialogs_whatever_the_read_size(tmp_path, monkeypatch):
    from tuneforge.services.dataset import tgjson

    messages = [msg(i, *(ME if i % 2 else PEER), i * 10, f"сообщение {i} " + "ё" * (i % 7)) for i in range(1, 40)]
    path = write(tmp_path, [chat(messages), chat([], "Empty", chat_id=5), chat(messages[:4], "Other", chat_id=6)])
    _, expected = run(path, tmp_path)
    monkeypatch.setattr(tgjson, "CHUNK", 7)  # values and UTF-8 characters cut at every boundary
    _, got = run(path, tmp_path)
    assert got == expected and len(got) == 3


def test_a_broken_export_names_the_line_and_column(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{\n "name": "x",\n "type": "personal_chat",\n "messages": [\n  {"id": 1 "type": "message"}\n ]\n}\n')
    with pytest.raises(TuneforgeError) as exc:
        run(path, tmp_path, owner_name="x")
    assert exc.value.reason == "TELEGRAM_INVALID_JSON" and "line 5, column 12" in exc.value.message


def test_a_chat_longer_than_the_sort_buffer_gives_the_same_dialogs(tmp_path, monkeypatch):
    messages = []
    for i in range(60):  # 15 sessions of two exchanges, a day apart
        who = PEER if i % 2 == 0 else ME
        messages.append(msg(i + 1, *who, (i // 4) * 86400 + i, f"m{i}"))
    path = write(tmp_path, [chat(messages)])
    _, whole = run(path, tmp_path)
    monkeypatch.setattr(dialogs, "MAX_PENDING", 7)
    _, windowed = run(path, tmp_path)
    assert windowed == whole and len(whole) == 15


def test_one_endless_session_is_written_in_parts_with_bounded_memory(tmp_path, monkeypatch):
    messages = [msg(i + 1, *(PEER if i % 2 == 0 else ME), i * 10, f"m{i}") for i in range(100)]
    path = write(tmp_path, [chat(messages)])
    monkeypatch.setattr(dialogs, "MAX_PENDING", 10)
    report, rows = run(path, tmp_path)
    assert report.messages_kept == 100 and [m["content"] for r in rows for m in r["messages"]][:2] == ["m0", "m1"]


def test_a_photo_with_a_caption_keeps_the_caption_and_is_counted(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "Look at this", photo="photos/p.jpg"), msg(2, *ME, 2, "Nice")])])
    report, rows = run(path, tmp_path)
    assert contents(rows) == [["Look at this", "Nice"]] and report.media_text_only == 1
