from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset import dialogs, telegram
from tuneforge.services.dataset.dialogs import TelegramOptions


def run(path: Path, tmp_path: Path, **kw) -> tuple[dialogs.TelegramReport, list[dict]]:
    transcriber = kw.pop("transcriber", None)
    out = tmp_path / "out.jsonl"
    with telegram.ExportSource(path) as src:
        report = dialogs.process_export(
            src, out, TelegramOptions(**kw), transcriber=transcriber
        )
    return report, [
        json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()
    ]


def msg(i: int, frm: str, fid: str, ts: int, text, **extra) -> dict:
    return {"id": i, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(ts),
            "from": frm, "from_id": fid, "text": text, "text_entities": [], **extra}  # fmt: skip


def write_chat(
    tmp_path: Path, messages: list[dict], chat_type: str = "personal_chat"
) -> Path:
    path = tmp_path / "result.json"
    path.write_text(
        json.dumps({"name": "Peer", "type": chat_type, "id": 1, "messages": messages})
    )
    return path


def test_single_chat_layout_builds_dialogs_and_counts_every_skip(data, tmp_path):
    report, rows = run(
        data / "telegram_single_chat.json", tmp_path, owner_name="Ivan Ivanov"
    )
    assert rows[0] == {"messages": [
        {"role": "user", "content": "Привет! Как дела?\nСмотри [статью](https://example.com) и это"},
        {"role": "assistant", "content": "Привет, всё хорошо\nhttps://t.me/x\nОтвет после голосового"},
    ], "telegram_ids": {"chat": 111, "messages": [2, 3, 4, 5, 10], "from": ["user111", "user111", "", "", ""],
                        "names": {"user111": "Anna Petrova"}}}  # fmt: skip
    assert rows[1]["messages"][-1] == {
        "role": "assistant",
        "content": "Да",
    }  # new session after 2 days
    assert len(rows) == 2
    assert report.messages_read == 15 and report.messages_kept == 7
    assert report.messages_dropped == {
        "service": 1, "type_unsupported": 1, "sticker": 1, "forwarded": 1,
        "voice_not_transcribed": 1, "too_long": 1, "media_without_text": 1, "trailing_user_turn": 1,
    }  # fmt: skip
    assert report.user_turns == report.assistant_turns == 2 and report.balance == 0.5


def test_full_export_uses_personal_information_as_owner_and_skips_channels_bots_saved(
    data, tmp_path
):
    report, rows = run(data / "telegram_full_export.json", tmp_path)
    assert report.owner == "user999"
    assert report.chats_read == 7
    assert report.chats_skipped == {
        "group": 2,
        "channel": 1,
        "bot": 1,
        "saved_messages": 1,
    }
    contents = [m["content"] for r in rows for m in r["messages"]]
    assert "hello ghost" in contents  # left/deleted-account personal chat is read
    assert not any(
        "отчёт" in c or "note to self" in c or "hi bot" in c for c in contents
    )


def test_groups_and_left_chats_only_with_include_groups(data, tmp_path):
    report, rows = run(data / "telegram_full_export.json", tmp_path, include_groups=True,
                       include_bots=True, include_saved_messages=True, include_channels=True)  # fmt: skip
    users = [r["messages"][0]["content"] for r in rows]
    assert "Bob: Кто сделает отчёт?\nCarol: Не я" in users  # group members are named
    assert "Dan: bye" in users  # left_chats are read
    assert "/start" in users  # bot chat
    assert report.chats_skipped == {}
    assert report.dialogs == len(rows) == 6


def test_owner_by_from_id_and_owner_not_found_lists_candidates(data, tmp_path):
    _, rows = run(data / "telegram_single_chat.json", tmp_path, owner_id="999")
    assert rows
    with pytest.raises(TuneforgeError) as exc:
        run(data / "telegram_single_chat.json", tmp_path, owner_name="Nobody")
    err = exc.value
    assert (
        err.reason == "TELEGRAM_OWNER_NOT_FOUND"
        and err.violations[0].field == "owner_name"
    )
    assert "Anna Petrova (user111): 7" in err.violations[0].description
    assert "Ivan Ivanov (user999): 6" in err.violations[0].description
    assert not (tmp_path / "out.jsonl").exists()


def test_single_chat_without_owner_is_an_error(data, tmp_path):
    with pytest.raises(TuneforgeError, match="no owner given"):
        run(data / "telegram_single_chat.json", tmp_path)


def test_entities_flatten_to_markdown_keeping_link_targets_and_code():
    text = ["Go to ", {"type": "text_link", "text": "our site", "href": "https://x.y"}, ", ",
            {"type": "mention", "text": "@bob"}, " ", {"type": "code", "text": "x=1"}, {"type": "bold"},
            " run:", {"type": "pre", "text": "pip install x\n", "language": "bash"}, "done"]  # fmt: skip
    assert telegram.flatten_text(text) == (
        "Go to [our site](https://x.y), @bob `x=1` run:\n```bash\npip install x\n```\ndone"
    )
    assert (
        telegram.flatten_text(None) == "" and telegram.flatten_text("plain") == "plain"
    )


def test_stickers_as_emoji_forwarded_system_prompt_and_sharegpt(data, tmp_path):
    report, rows = run(data / "telegram_single_chat.json", tmp_path, owner_name="ivan ivanov",
                       stickers_as_emoji=True, include_forwarded=True, system_prompt="Be Ivan.",
                       output_format="sharegpt")  # fmt: skip
    conv = rows[0]["conversations"]
    assert conv[0] == {"from": "system", "value": "Be Ivan."}
    assert [c["from"] for c in conv[1:]] == ["human", "gpt", "human", "gpt"]
    assert conv[3]["value"] == "😂" and "Forwarded thing" in conv[4]["value"]
    assert (
        "sticker" not in report.messages_dropped
        and "forwarded" not in report.messages_dropped
    )


def test_session_gap_chunking_min_length_and_max_message_length(tmp_path):
    me, peer = ("Me", "user1"), ("Peer", "user2")
    messages, ts = [], 1000
    for i in range(12):  # 12 alternating turns in one session
        who = peer if i % 2 == 0 else me
        messages.append(msg(i, *who, ts, f"m{i}"))
        ts += 60
    ts += (
        7 * 3600
    )  # gap > 6 h: new session with a single exchange + a lone user message
    messages += [
        msg(20, *peer, ts, "late"),
        msg(21, *me, ts + 5, "reply"),
        msg(22, *peer, ts + 9, "x" * 50),
    ]
    path = write_chat(tmp_path, messages)
    report, rows = run(
        path, tmp_path, owner_id="user1", max_dialog_length=5, max_message_length=40
    )
    lengths = [len(r["messages"]) for r in rows]
    assert lengths == [4, 4, 4, 2]  # chunks of 4 (whole pairs), then the second session
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)
    assert all(r["messages"][0]["role"] == "user" for r in rows)
    assert report.messages_dropped["too_long"] == 1
    _, rows = run(
        path,
        tmp_path,
        owner_id="user1",
        session_gap_seconds=10**6,
        max_dialog_length=40,
    )
    assert [len(r["messages"]) for r in rows] == [14]
    report, rows = run(path, tmp_path, owner_id="user1", min_dialog_messages=4)
    assert [len(r["messages"]) for r in rows] == [12] and report.dialogs_dropped == {
        "too_short": 1
    }


def test_leading_owner_messages_are_dropped_and_merged_turns(tmp_path):
    me, peer = ("Me", "user1"), ("Peer", "user2")
    path = write_chat(tmp_path, [msg(1, *me, 10, "I start"), msg(2, *peer, 20, "a"), msg(3, *peer, 21, "b"),
                                 msg(4, *me, 30, "c"), msg(5, *me, 31, "d")])  # fmt: skip
    report, rows = run(path, tmp_path, owner_name="me")
    assert rows == [
        {
            "messages": [
                {"role": "user", "content": "a\nb"},
                {"role": "assistant", "content": "c\nd"},
            ],
            "telegram_ids": {"chat": 1, "messages": [2, 3, 4, 5], "from": ["user2", "user2", "", ""],
                             "names": {"user2": "Peer"}},
        }
    ]
    assert report.messages_dropped == {"leading_assistant_turn": 1}
    assert report.messages_kept == 4


def test_zip_upload_reads_result_json_inside_a_folder_and_transcribes_voice(
    data, tmp_path
):
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(
            data / "telegram_single_chat.json",
            "Telegram Desktop/ChatExport/result.json",
        )
        zf.writestr(
            "Telegram Desktop/ChatExport/voice_messages/audio_1.ogg",
            b"OggS fake voice bytes",
        )
    seen = []

    def transcriber(path: Path) -> str:  # a real callable reading the file it is given
        seen.append(path.read_bytes())
        return "расшифровка голосового"

    report, rows = run(
        zpath,
        tmp_path,
        owner_name="Ivan Ivanov",
        transcribe_voice=True,
        transcriber=transcriber,
    )
    assert seen == [b"OggS fake voice bytes"]
    assert (
        report.voice_transcribed == 1
        and "voice_not_transcribed" not in report.messages_dropped
    )
    assert rows[0]["messages"][2] == {
        "role": "user",
        "content": "расшифровка голосового",
    }


def test_voice_file_missing_from_upload_is_counted(data, tmp_path):
    report, _ = run(data / "telegram_single_chat.json", tmp_path, owner_name="Ivan Ivanov",
                    transcribe_voice=True, transcriber=lambda p: "never")  # fmt: skip
    assert report.messages_dropped["voice_file_missing"] == 1


def test_media_references_cannot_escape_the_export_folder(tmp_path):
    (tmp_path / "secret.ogg").write_bytes(b"x")
    folder = tmp_path / "export"
    folder.mkdir()
    path = folder / "result.json"
    path.write_text(
        json.dumps({"name": "P", "type": "personal_chat", "id": 1, "messages": []})
    )
    with telegram.ExportSource(path) as src:
        with src.media_file("../secret.ogg") as found:
            assert found is None
        with src.media_file(
            "(File not included. Change data exporting settings to download.)"
        ) as f2:
            assert f2 is None


def test_broken_and_foreign_json_and_zip_without_result(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "type": "personal_chat", "messages": [{"id": 1,')
    with pytest.raises(TuneforgeError) as exc:
        run(bad, tmp_path, owner_name="x")
    assert exc.value.reason == "TELEGRAM_INVALID_JSON"
    other = tmp_path / "other.json"
    other.write_text('{"hello": [1, 2, 3]}')
    with pytest.raises(TuneforgeError) as exc:
        run(other, tmp_path, owner_name="x")
    assert exc.value.reason == "TELEGRAM_NOT_AN_EXPORT"
    zpath = tmp_path / "x.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(TuneforgeError) as exc:
        telegram.ExportSource(zpath)
    assert exc.value.reason == "TELEGRAM_RESULT_JSON_MISSING"


def test_options_are_validated():
    with pytest.raises(TuneforgeError) as exc:
        TelegramOptions.from_dict({"max_dialog_length": 1})
    assert exc.value.violations[0].field == "max_dialog_length"
    with pytest.raises(TuneforgeError):
        TelegramOptions.from_dict({"output_format": "xml"})
    opts = TelegramOptions.from_dict(
        {"min_dialog_messages": 0, "owner_name": "", "unknown": 1}
    )
    assert opts.min_dialog_messages == 2  # 0 = default, as proto3 sends it


def test_progress_reports_bytes_and_messages(data, tmp_path):
    calls = []
    with telegram.ExportSource(data / "telegram_full_export.json") as src:
        dialogs.process_export(src, tmp_path / "o.jsonl", TelegramOptions(),
                               progress=lambda d, t, m: calls.append((d, t, m)))  # fmt: skip
        size = src.size
    assert calls and calls[-1][0] == size and calls[-1][1] == size
