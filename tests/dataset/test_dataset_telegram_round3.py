"""Telegram exports, round 3: forum topics, Markdown entities, chat types, zips with several
exports, and --exclude-contact that names nobody."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset import dialogs, telegram
from tuneforge.services.dataset.dialogs import TelegramOptions

ME, PEER, ANNA, BORIS = ("Me", "user1"), ("Peer", "user2"), ("Anna", "user3"), ("Boris", "user4")


def msg(i: int, frm: str, fid: str, ts: int, text, **extra) -> dict:
    return {"id": i, "type": "message", "date_unixtime": str(ts), "from": frm, "from_id": fid,
            "text": text, **extra}  # fmt: skip


def topic_created(i: int, ts: int, title: str) -> dict:
    """A forum topic's root, as Telegram Desktop exports it."""
    return {"id": i, "type": "service", "date_unixtime": str(ts), "actor": "Me", "actor_id": "user1",
            "action": "topic_created", "title": title, "text": ""}  # fmt: skip


def write(tmp_path: Path, chats: list[dict], **extra) -> Path:
    path = tmp_path / "result.json"
    export = {"personal_information": {"user_id": 1, "first_name": "Me"}, **extra, "chats": {"list": chats}}
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    return path


def chat(messages: list[dict], name: str = "Peer", chat_type: str = "personal_chat", chat_id: int = 2) -> dict:
    return {"name": name, "type": chat_type, "id": chat_id, "messages": messages}


def run(path: Path, tmp_path: Path, **kw) -> tuple[dialogs.TelegramReport, list[dict]]:
    out = tmp_path / "out.jsonl"
    with telegram.ExportSource(path) as src:
        report = dialogs.process_export(src, out, TelegramOptions(**kw))
    return report, [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def contents(rows: list[dict]) -> list[list[str]]:
    return [[m["content"] for m in r["messages"]] for r in rows]


def test_forum_topics_interleaved_in_time_become_separate_dialogs(tmp_path):
    # Two topics and General, their messages interleaved minute by minute; replies point at
    # the topic root (topic_created) or at a message inside the topic.
    forum = chat([
        topic_created(10, 100, "Billing"), topic_created(20, 101, "Shipping"),
        msg(11, *ANNA, 110, "billing q", reply_to_message_id=10),
        msg(21, *BORIS, 111, "shipping q", reply_to_message_id=20),
        msg(12, *ME, 112, "billing a", reply_to_message_id=11),
        msg(22, *ME, 113, "shipping a", reply_to_message_id=21),
        msg(30, *ANNA, 114, "general q"),
        msg(31, *ME, 115, "general a"),
    ], "Support forum", "private_supergroup", 5)
    _, rows = run(write(tmp_path, [forum]), tmp_path, include_groups=True)
    assert sorted(contents(rows)) == [["Anna: billing q", "billing a"], ["Anna: general q", "general a"],
                                      ["Boris: shipping q", "shipping a"]]


def test_a_group_without_topics_is_not_split_by_its_reply_chains(tmp_path):
    group = chat([msg(1, *ANNA, 100, "q1"), msg(2, *ME, 101, "a1", reply_to_message_id=1),
                  msg(3, *BORIS, 102, "q2"), msg(4, *ME, 103, "a2", reply_to_message_id=3)],
                 "Team", "private_group", 5)
    _, rows = run(write(tmp_path, [group]), tmp_path, include_groups=True)
    assert contents(rows) == [["Anna: q1", "a1", "Boris: q2", "a2"]]


@pytest.mark.parametrize("entity,expected", [
    ({"type": "text_link", "text": "our site\n\n", "href": "https://x.y"}, "see [our site](https://x.y)\n\nbye"),
    ({"type": "text_link", "text": " our site ", "href": "https://x.y"}, "see  [our site](https://x.y) bye"),
    ({"type": "code", "text": "pip install x\n"}, "see `pip install x`\nbye"),
])
def test_whitespace_around_a_link_or_code_entity_goes_outside_the_markup(entity, expected):
    assert telegram.flatten_text(["see ", entity, "bye"]) == expected


def test_an_unknown_chat_type_is_named_not_include_groups(tmp_path):
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "hi"), msg(2, *ME, 2, "yo")], "X", "secret_chat_v2")])
    with pytest.raises(TuneforgeError) as exc:
        run(path, tmp_path, include_groups=True)
    assert exc.value.reason == "TELEGRAM_NO_PERSONAL_CHATS"
    assert "'secret_chat_v2'" in exc.value.message and "--include-groups" not in exc.value.message


def test_a_zip_with_two_exports_names_both_instead_of_picking_one(tmp_path):
    body = json.dumps(chat([msg(1, *PEER, 1, "hi"), msg(2, *ME, 2, "yo")]))
    zpath = tmp_path / "exports.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("Downloads/ChatExport_1/result.json", body)
        zf.writestr("Downloads/ChatExport_2/result.json", body)
    with pytest.raises(TuneforgeError) as exc:
        telegram.ExportSource(zpath)
    assert exc.value.reason == "TELEGRAM_RESULT_JSON_AMBIGUOUS"
    assert "ChatExport_1/result.json" in exc.value.message and "ChatExport_2/result.json" in exc.value.message


def two_peers(tmp_path: Path) -> Path:
    return write(tmp_path, [chat([msg(1, *ANNA, 1, "q"), msg(2, *ME, 2, "a")], "Anna", chat_id=3),
                            chat([msg(3, *BORIS, 3, "q"), msg(4, *ME, 4, "a")], "Boris", chat_id=4)])


def test_exclude_contact_that_matches_nobody_is_an_error_with_close_names_and_ids(tmp_path):
    with pytest.raises(TuneforgeError) as exc:
        run(two_peers(tmp_path), tmp_path, exclude_contacts=("Ana",))
    assert exc.value.reason == "TELEGRAM_CONTACT_NOT_FOUND"
    assert "'ana'" in exc.value.message and "Anna (user3)" in exc.value.message
    assert not (tmp_path / "out.jsonl").exists()


def test_exclude_contact_by_id_leaves_that_chat_out(tmp_path):
    report, rows = run(two_peers(tmp_path), tmp_path, exclude_contacts=("user3",))
    assert report.chats_skipped == {"excluded_contact": 1}
    assert [r["telegram_ids"]["chat"] for r in rows] == [4]


def test_a_name_first_seen_in_a_later_chat_is_scrubbed_in_an_earlier_one(tmp_path):
    path = write(tmp_path, [chat([msg(1, *ANNA, 1, "Boris told me"), msg(2, *ME, 2, "ok")], "Anna", chat_id=3),
                            chat([msg(3, *BORIS, 3, "hi"), msg(4, *ME, 4, "hello")], "Boris", chat_id=4)])
    _, rows = run(path, tmp_path, scrub_names=True)
    assert contents(rows)[0][0] == "<NAME> told me"


def test_address_book_names_of_two_letters_are_scrubbed_before_any_chat(tmp_path):
    book = {"contacts": {"about": "", "list": [{"first_name": "Ян", "last_name": "", "phone_number": "+7 900"},
                                                {"first_name": "Al", "last_name": "Gore"}]}}
    path = write(tmp_path, [chat([msg(1, *PEER, 1, "Ян и Al придут"), msg(2, *ME, 2, "ok")])], **book)
    report, rows = run(path, tmp_path, scrub_names=True)
    assert contents(rows)[0][0] == "<NAME> и <NAME> придут"
    assert report.scrubbed["names"] == 2


def test_odd_field_types_in_a_hand_edited_export_do_not_crash(tmp_path):
    path = write(tmp_path, [chat([msg(1, "Peer", ["user2"], 1, "hi", media_type=["photo"], reply_to_message_id=[1]),
                                  msg(2, *ME, 2, "yo")])])
    _, rows = run(path, tmp_path)
    assert contents(rows) == [["hi", "yo"]]


def test_a_language_for_an_english_only_whisper_model_is_refused_before_loading_it():
    from tuneforge.services.dataset.telegram_worker import make_transcriber

    with pytest.raises(TuneforgeError) as exc:
        make_transcriber("small.en", "ru", None)
    assert exc.value.reason == "WHISPER_LANGUAGE_UNSUPPORTED" and "English-only" in exc.value.message


def test_forum_topics_stay_apart_when_a_long_forum_is_written_window_by_window(tmp_path, monkeypatch):
    monkeypatch.setattr(dialogs, "MAX_PENDING", 6)
    messages = [topic_created(1, 0, "A"), topic_created(2, 0, "B")]
    for i in range(10):  # A and B alternate, each an exchange of question and answer
        root = 1 if i % 2 == 0 else 2
        messages += [msg(10 + 2 * i, *ANNA, 10 + 2 * i, f"q{root}-{i}", reply_to_message_id=root),
                     msg(11 + 2 * i, *ME, 11 + 2 * i, f"a{root}-{i}", reply_to_message_id=root)]
    forum = chat(messages, "Forum", "private_supergroup", 5)
    report, rows = run(write(tmp_path, [forum]), tmp_path, include_groups=True, max_dialog_length=40)
    for row in rows:
        topics = {c.split("-")[0][-1] for c in contents([row])[0]}
        assert len(topics) == 1, row
    assert report.messages_kept == 20
