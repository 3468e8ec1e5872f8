"""Reading a Telegram Desktop export as a stream of chats and messages.

Telegram Desktop writes ``result.json`` in two layouts: a single-chat export whose root *is*
the chat (``name``, ``type``, ``id``, ``messages``) and a full-account export
(``personal_information``, ``chats.list[]``, ``left_chats.list[]``, ...). Exports of a busy
account run to several GB, so nothing here loads the file: :func:`read_export` walks it with
``ijson`` (C backend) and yields one small event at a time, building only one message object
at a time. The input is a ``result.json`` on disk or a ``.zip`` of the export folder, read
member by member straight from the archive (voice files referenced by ``file`` fields are
looked up in the same archive, never extracted wholesale).

Dialog building lives in :mod:`tuneforge.services.dataset.dialogs`.
"""

from __future__ import annotations

import collections
import io
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from tuneforge.runtime.errors import invalid_argument

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


Event = ChatStart | ChatEnd | Owner | dict
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
        if zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            member = _find_result_json(self._zip)
            self._member = member
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
    return min(candidates, key=lambda i: (i.filename.count("/"), i.filename))


_CHAT_PREFIXES = ("chats.list.item", "left_chats.list.item")
_MESSAGE_PREFIXES = frozenset(p + ".messages.item" for p in _CHAT_PREFIXES) | {
    "messages.item"
}
_META_KEYS = ("name", "type", "id")
_META_PREFIXES = {
    f"{chat}.{key}" if chat else key: (chat, key)
    for chat in ("", *_CHAT_PREFIXES)
    for key in _META_KEYS
}
_OWNER_PREFIXES = {
    f"personal_information.{k}": k for k in ("user_id", "first_name", "last_name")
}
_LEFT_MESSAGE = "left_chats.list.item.messages.item"
_LONGEST_CHECKED = max(
    len(p) for p in [*_META_PREFIXES, *_OWNER_PREFIXES, "chats.list.item.messages.item"]
)
_MESSAGE = "\x00message"  # the prefix messages are renamed to, for ijson.items


def read_export(stream: BinaryIO) -> Iterator[Event]:
    """Yield :class:`Owner`, then per chat :class:`ChatStart`, its messages, :class:`ChatEnd`.

    Works on both layouts. Only one message is held in memory at a time. The event stream
    of ``ijson.parse`` passes through a thin filter that notes chat boundaries and chat
    metadata and renames each message's opening event, so that ``ijson.items`` builds the
    message objects in C (the hot path: most of a big export is messages). Chat metadata
    (``name``/``type``/``id``) precedes ``messages`` in every Telegram export.
    Raises INVALID_ARGUMENT ``TELEGRAM_INVALID_JSON`` for a broken file and
    ``TELEGRAM_NOT_AN_EXPORT`` when no chat layout is found.
    """
    chats: list[ChatStart] = []
    message_chat: collections.deque[int] = collections.deque()
    owner: dict[str, Any] = {}
    root_chat: list[ChatStart] = []  # the single-chat layout's chat, once seen

    def chat_for(chat_prefix: str) -> ChatStart:
        if chat_prefix:
            return chats[-1]
        if not root_chat:
            root_chat.append(ChatStart(name="", type="", id=None))
            chats.append(root_chat[0])
        return root_chat[0]

    def events() -> Iterator[tuple[str, str, Any]]:
        for ev in ijson.parse(stream, use_float=True):
            prefix = ev[0]
            # Fast path: the events inside a full export's messages have long prefixes.
            if len(prefix) > _LONGEST_CHECKED and prefix != _LEFT_MESSAGE:
                yield ev
                continue
            _prefix, event, value = ev
            if event == "start_map":
                if prefix in _MESSAGE_PREFIXES:
                    chat_for(
                        prefix[: -len(".messages.item")]
                        if prefix != "messages.item"
                        else ""
                    )
                    message_chat.append(len(chats) - 1)
                    yield (_MESSAGE, event, value)
                    continue
                if prefix in _CHAT_PREFIXES:
                    chats.append(ChatStart(name="", type="", id=None))
            elif prefix in _META_PREFIXES and event not in ("start_map", "start_array"):
                chat_prefix, key = _META_PREFIXES[prefix]
                chat = chat_for(chat_prefix)
                setattr(chat, key, value if key == "id" else str(value or ""))
            elif prefix in _OWNER_PREFIXES:
                owner[_OWNER_PREFIXES[prefix]] = value
            elif prefix == "messages" and event == "start_array":
                chat_for("")
            yield ev

    emitted = 0  # chats whose ChatStart was yielded
    owner_sent = False

    def catch_up(upto: int) -> Iterator[Event]:
        """ChatEnd for the open chat, then ChatStart/ChatEnd of empty chats, then ChatStart."""
        nonlocal emitted
        while emitted <= upto:
            if emitted:
                yield ChatEnd()
            yield _finish(chats[emitted])
            emitted += 1

    try:
        for message in ijson.items(events(), _MESSAGE):
            if not owner_sent and owner:
                owner_sent = True
                yield _owner(owner)
            chat_index = message_chat.popleft()
            if chat_index >= emitted:
                yield from catch_up(chat_index)
            yield message
    except ijson.JSONError as exc:
        raise invalid_argument(
            "input",
            f"result.json is not valid JSON: {exc}",
            reason="TELEGRAM_INVALID_JSON",
        ) from exc
    if not owner_sent and owner:
        yield _owner(owner)
    if not chats:
        raise invalid_argument(
            "input",
            "no chats found: expected a Telegram Desktop JSON export (a chat with 'messages' "
            "or a full export with 'chats.list')",
            reason="TELEGRAM_NOT_AN_EXPORT",
        )
    yield from catch_up(len(chats) - 1)
    yield ChatEnd()


def _finish(chat: ChatStart) -> ChatStart:
    if not chat.type:
        chat.type = PERSONAL
    return chat


def _owner(info: dict[str, Any]) -> Owner:
    uid = info.get("user_id")
    name = " ".join(
        str(info.get(k) or "").strip() for k in ("first_name", "last_name")
    ).strip()
    return Owner(user_id=f"user{uid}" if uid is not None else "", name=name)


def flatten_text(text: Any) -> str:
    """Plain text of a message's ``text``: a string or a list of strings and entities.

    Entities (bold, link, text_link, mention, code, spoiler, ...) contribute their ``text``;
    the visible link text is kept, the hidden ``href`` of a text_link is not.
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
                    parts.append(value)
        return "".join(parts)
    return str(text)
