"""Reading a Telegram Desktop export as a stream of chats and messages.

Telegram Desktop writes ``result.json`` in two layouts: a single-chat export whose root *is*
the chat (``name``, ``type``, ``id``, ``messages``) and a full-account export
(``personal_information``, ``chats.list[]``, ``left_chats.list[]``, ...). Exports of a busy
account run to several GB, so nothing here loads the file: :func:`read_export` walks it
(:mod:`tuneforge.services.dataset.tgjson`) and yields one small event at a time, decoding only
one message object at a time. The input is a ``result.json`` on disk or a ``.zip`` of the export folder, read
member by member straight from the archive (voice files referenced by ``file`` fields are
looked up in the same archive, never extracted wholesale).

Dialog building lives in :mod:`tuneforge.services.dataset.dialogs`.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import tgjson

ProgressFn = Callable[[int, int], None]
"""``progress(bytes_read, total_bytes)``."""

PERSONAL = "personal_chat"
BOT = "bot_chat"
SAVED = "saved_messages"
GROUP_TYPES = frozenset({"private_group", "private_supergroup", "public_supergroup"})
CHANNEL_TYPES = frozenset({"private_channel", "public_channel"})

# Voice files larger than this are not copied out of a zip for transcription.
MAX_MEDIA_BYTES = 200 * 1024 * 1024


@dataclass
class ChatStart:
    name: str
    type: str
    id: Any


@dataclass
class ChatEnd:
    pass


@dataclass
class Owner:
    """``personal_information`` of a full-account export: the account's owner."""

    user_id: str
    name: str


@dataclass
class Contacts:
    """``contacts.list`` of a full-account export: the names in the owner's address book."""

    names: list[str]


Event = ChatStart | ChatEnd | Owner | Contacts | dict
"""What :func:`read_export` yields; a plain ``dict`` is one message."""


class _CountingReader(io.RawIOBase):
    """A read-only stream that reports how many bytes were read through it."""

    def __init__(self, raw: BinaryIO, total: int, progress: ProgressFn | None) -> None:
        self._raw = raw
        self._total = total
        self._progress = progress
        self.read_bytes = 0
        self._next_report = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.read_bytes += n
        if self._progress and (self.read_bytes >= self._next_report or n == 0):
            self._progress(self.read_bytes, self._total)
            self._next_report = self.read_bytes + max(self._total // 200, 1 << 20)
        return n

    def read(self, size: int = -1) -> bytes:
        data = (
            self._raw.read(size) if size is not None and size >= 0 else self._raw.read()
        )
        self.read_bytes += len(data)
        if self._progress and (self.read_bytes >= self._next_report or not data):
            self._progress(self.read_bytes, self._total)
            self._next_report = self.read_bytes + max(self._total // 200, 1 << 20)
        return data


class ExportSource:
    """An opened export: ``result.json`` on disk or inside a zip, plus its media files."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise invalid_argument(
                "input", f"{self.path} is not a file", reason="INPUT_NOT_FOUND"
            )
        self._zip: zipfile.ZipFile | None = None
        self._base = ""  # folder of result.json inside the zip
        self.member_name = ""  # where result.json was found inside the zip
        with open(self.path, "rb") as fh:
            magic = fh.read(4)
        is_zip = zipfile.is_zipfile(self.path)
        if magic in (b"PK\x03\x04", b"PK\x05\x06") and not is_zip:
            raise broken_archive("its table of contents is missing: the file was cut short")
        if is_zip:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise broken_archive(str(exc)) from None
            member = _find_result_json(self._zip)
            self._member = member
            self.member_name = member.filename
            self._base = posixpath.dirname(member.filename)
            self.size = member.file_size
        else:
            self._member = None
            self.size = self.path.stat().st_size

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ExportSource:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def open_json(self, progress: ProgressFn | None = None) -> Iterator[BinaryIO]:
        raw: BinaryIO
        raw = self._zip.open(self._member) if self._zip else open(self.path, "rb")  # noqa: SIM115
        try:
            yield io.BufferedReader(_CountingReader(raw, self.size, progress), 1 << 20)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            if self._zip is None:
                raise
            raise broken_archive(f"{self._member.filename} cannot be read ({exc})") from None
        finally:
            raw.close()

    @contextmanager
    def media_file(self, relative: str) -> Iterator[Path | None]:
        """A local path for a ``file`` field of a message, or ``None`` if not in the upload.

        Paths are confined to the export folder: ``..`` or absolute references give ``None``.
        From a zip, the one member is copied to a temporary file that is removed afterwards.
        """
        rel = (relative or "").replace("\\", "/")
        norm = posixpath.normpath(rel)
        if (
            not rel
            or rel.startswith("(")
            or norm.startswith("..")
            or posixpath.isabs(norm)
        ):
            yield None
            return
        if self._zip is None:
            base = self.path.parent.resolve()
            candidate = (base / norm).resolve()
            ok = candidate.is_file() and base in candidate.parents
            yield candidate if ok else None
            return
        name = posixpath.join(self._base, norm) if self._base else norm
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            yield None
            return
        if info.file_size > MAX_MEDIA_BYTES:
            yield None
            return
        suffix = posixpath.splitext(norm)[1][:16]
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            with self._zip.open(info) as src:
                shutil.copyfileobj(src, tmp, 1 << 20)
            tmp.flush()
            yield Path(tmp.name)


def broken_archive(detail: str) -> Exception:
    return invalid_argument(
        "input", f"the zip archive is broken: {detail}; re-create or re-download it",
        reason="TELEGRAM_BROKEN_ARCHIVE",
    )


def _find_result_json(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    candidates = [
        i
        for i in zf.infolist()
        if posixpath.basename(i.filename) == "result.json"
        and not i.is_dir()
        and ".." not in i.filename.split("/")
    ]
    if not candidates:
        raise invalid_argument(
            "input",
            "the zip holds no result.json (export as JSON from Telegram Desktop)",
            reason="TELEGRAM_RESULT_JSON_MISSING",
        )
    # One result.json, wherever it sits (Telegram Desktop/ChatExport_.../), is the export;
    # of several, picking one would be a guess: say which were found.
    if len(candidates) > 1:
        found = sorted(i.filename for i in candidates)
        listed = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise invalid_argument(
            "input", f"the zip holds {len(found)} result.json files ({listed}); zip (or upload) "
            "the one export folder you mean", reason="TELEGRAM_RESULT_JSON_AMBIGUOUS",
        )
    return candidates[0]


CHAT_LISTS = ("chats", "left_chats")


def read_export(stream: BinaryIO) -> Iterator[Event]:
    """Yield :class:`Owner` and :class:`Contacts`, then per chat :class:`ChatStart`, its
    messages, :class:`ChatEnd`.

    Works on both layouts. Only one message is held in memory at a time: the walk over the
    export's top levels is done here, each message is decoded whole by the C decoder
    (:mod:`tuneforge.services.dataset.tgjson`). Chat metadata (``name``/``type``/``id``)
    precedes ``messages`` in every Telegram export; a chat's ChatStart is sent when its
    messages begin (or at its end, for a chat without messages).
    Raises INVALID_ARGUMENT ``TELEGRAM_INVALID_JSON`` for a broken file (with its line and
    column) and ``TELEGRAM_NOT_AN_EXPORT`` when no chat layout is found.
    """
    text = tgjson.TextStream(stream)
    found = [0]
    try:
        if text.peek() != "{":
            raise _not_an_export()
        root = ChatStart(name="", type="", id=None)
        for key in text.keys():
            if key == "personal_information":
                info = text.value()
                if isinstance(info, dict):
                    yield _owner(info)
            elif key == "contacts" and text.peek() == "{":
                contacts = text.value()
                if isinstance(contacts, dict) and isinstance(contacts.get("list"), list):
                    yield Contacts([_person_name(c) for c in contacts["list"] if isinstance(c, dict)])
            elif key in CHAT_LISTS and text.peek() == "{":
                yield from _chat_list(text, found)
            elif key in _META_KEYS and text.peek() not in "{[":
                _set_meta(root, key, text.value())
            elif key == "messages" and text.peek() == "[":
                found[0] += 1
                yield _finish(root)
                yield from _messages(text)
                yield ChatEnd()
            else:
                text.value()  # contacts, sessions, ...: not needed
        if text.peek():
            raise text.error("extra data after the end of the export")
    except tgjson.JsonBroken as exc:
        raise invalid_argument(
            "input", f"result.json is not valid JSON: {exc}", reason="TELEGRAM_INVALID_JSON"
        ) from None
    if not found[0]:
        raise _not_an_export()


_META_KEYS = ("name", "type", "id")


def _not_an_export() -> Exception:
    return invalid_argument(
        "input",
        "no chats found: expected a Telegram Desktop JSON export (a chat with 'messages' "
        "or a full export with 'chats.list')",
        reason="TELEGRAM_NOT_AN_EXPORT",
    )


def _set_meta(chat: ChatStart, key: str, value: Any) -> None:
    setattr(chat, key, value if key == "id" else str(value or ""))


def _chat_list(text: tgjson.TextStream, found: list[int]) -> Iterator[Event]:
    """``{"about": ..., "list": [chat, ...]}``."""
    for key in text.keys():
        if key == "list" and text.peek() == "[":
            for _ in text.items():
                if text.peek() == "{":
                    found[0] += 1
                    yield from _chat(text)
                else:
                    text.value()
        else:
            text.value()


def _chat(text: tgjson.TextStream) -> Iterator[Event]:
    chat = ChatStart(name="", type="", id=None)
    started = False
    for key in text.keys():
        if key in _META_KEYS and text.peek() not in "{[":
            _set_meta(chat, key, text.value())
        elif key == "messages" and text.peek() == "[" and not started:
            started = True
            yield _finish(chat)
            yield from _messages(text)
        else:
            text.value()
    if not started:
        yield _finish(chat)
    yield ChatEnd()


def _messages(text: tgjson.TextStream) -> Iterator[dict]:
    for message in text.values():
        if isinstance(message, dict):
            yield message


def _finish(chat: ChatStart) -> ChatStart:
    if not chat.type:
        chat.type = PERSONAL
    return chat


def _person_name(info: dict[str, Any]) -> str:
    return " ".join(str(info.get(k) or "").strip() for k in ("first_name", "last_name")).strip()


def _owner(info: dict[str, Any]) -> Owner:  # personal_information
    uid = info.get("user_id")
    return Owner(user_id=f"user{uid}" if uid is not None else "", name=_person_name(info))


def flatten_text(text: Any) -> str:
    """Text of a message's ``text``: a string or a list of strings and entities.

    Entities contribute their ``text``; what would be lost as plain text is kept as Markdown:
    a ``text_link`` becomes ``[text](href)``, ``code`` becomes `` `code` `` and ``pre`` a
    fenced block (with its language). Bold, italic, mentions, ... stay plain text.
    """
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        parts = []
        for part in text:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(_markdown(part, value))
        return "".join(parts)
    return str(text)


def _markdown(entity: dict, value: str) -> str:
    """An entity as Markdown. Whitespace around a link's or code span's text (Telegram often
    takes the newlines after a link into it) goes outside the markup: ``[text\n\n](url)``
    is no link to a Markdown reader."""
    kind = entity.get("type")
    if kind in ("text_link", "code"):
        inner = value.strip()
        if not inner:
            return value
        lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()):]
        if kind == "text_link" and isinstance(entity.get("href"), str) and entity["href"]:
            return f"{lead}[{inner}]({entity['href']}){trail}"
        if kind == "code":
            return f"{lead}`{inner}`{trail}"
    if kind == "pre":
        lang = entity.get("language") if isinstance(entity.get("language"), str) else ""
        return f"\n```{lang}\n{value.strip(chr(10))}\n```\n"
    return value
