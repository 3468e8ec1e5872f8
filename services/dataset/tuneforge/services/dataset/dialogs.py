"""Telegram export → training dialogs (JSONL), streaming, with a report of everything dropped.

The owner's messages become ``assistant`` turns, everyone else's ``user`` turns. Per chat:
messages are filtered (service, unsupported, forwarded, media without text, too long, ...,
each counted by reason), split into sessions at a silence longer than ``session_gap_seconds``,
consecutive messages of one side merged into one turn, leading owner turns dropped (a
dialog starts with the user), and cut into chunks of at most ``max_dialog_length`` turns,
each ending on an assistant turn. Chunks shorter than ``min_dialog_messages`` are dropped.
A forum (a supergroup with topics) is split by topic first: a message belongs to the topic
whose ``topic_created`` service message its ``reply_to_message_id`` chain leads to, and a
message outside any topic to General, so interleaved topics never merge into one dialog.

Output lines are ``{"messages": [{"role", "content"}, ...]}`` (TRL / OpenAI chat format) or
``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}`` (ShareGPT) on request.
Only the current session of the current chat is held in memory.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import telegram as tg

ProgressFn = Callable[[int, int, int], None]
"""``progress(bytes_read, total_bytes, messages_read)``."""

Transcriber = Callable[[Path], str]
"""Turns a local audio/video file into text (see :mod:`tuneforge.audio.whisper`)."""

VOICE_TYPES = frozenset({"voice_message", "video_message"})
OUTPUT_FORMATS = ("messages", "sharegpt")


@dataclass
class TelegramOptions:
    owner_name: str = ""
    owner_id: str = ""  # "user123456" or "123456"
    include_groups: bool = False
    include_channels: bool = False
    include_bots: bool = False
    include_saved_messages: bool = False
    include_forwarded: bool = False
    stickers_as_emoji: bool = False
    transcribe_voice: bool = False
    min_dialog_messages: int = 2
    max_dialog_length: int = 20
    max_message_length: int = 2000
    session_gap_seconds: int = 6 * 3600
    system_prompt: str = ""
    output_format: str = "messages"
    scrub: bool = False  # replace phones, e-mails, cards, IBANs with placeholders
    scrub_names: bool = False  # also the names of contacts other than the owner
    exclude_contacts: tuple[str, ...] = ()  # chats with (and group messages of) these people

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TelegramOptions:
        """Build from a spec/proto dict; unknown keys are ignored, 0/"" mean the default."""
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for name in defaults.__dataclass_fields__:
            if name in data and data[name] not in (None, "", 0, [], ()):
                kwargs[name] = data[name]
        if "exclude_contacts" in kwargs:
            kwargs["exclude_contacts"] = tuple(str(c) for c in kwargs["exclude_contacts"])
        opts = cls(**kwargs)
        opts.validate()
        return opts

    def validate(self) -> None:
        if self.min_dialog_messages < 2:
            raise invalid_argument("min_dialog_messages", "must be at least 2")
        if self.max_dialog_length < 2:
            raise invalid_argument("max_dialog_length", "must be at least 2")
        if self.max_dialog_length < self.min_dialog_messages:
            raise invalid_argument(
                "max_dialog_length", "must be >= min_dialog_messages"
            )
        if self.max_message_length < 1:
            raise invalid_argument("max_message_length", "must be positive")
        if self.session_gap_seconds < 1:
            raise invalid_argument("session_gap_seconds", "must be positive")
        if self.output_format not in OUTPUT_FORMATS:
            raise invalid_argument(
                "output_format", f"must be one of {', '.join(OUTPUT_FORMATS)}"
            )


@dataclass
class TelegramReport:
    chats_read: int = 0
    chats_used: int = 0
    chats_skipped: dict[str, int] = field(default_factory=dict)
    messages_read: int = 0
    messages_kept: int = 0
    messages_dropped: dict[str, int] = field(default_factory=dict)
    voice_transcribed: int = 0
    dialogs: int = 0
    dialogs_dropped: dict[str, int] = field(default_factory=dict)
    user_turns: int = 0
    assistant_turns: int = 0
    owner: str = ""
    bytes_read: int = 0
    scrubbed: dict[str, int] = field(default_factory=dict)  # placeholder kind → count
    contacts: list[dict[str, Any]] = field(default_factory=list)  # [{name, messages}], most first
    messages_already_in_dataset: int = 0  # --append-to: messages whose ids were there
    media_text_only: int = 0  # photos/files with a caption: only the caption is trained on

    @property
    def balance(self) -> float:
        """Share of assistant turns among all turns (0.5 = balanced)."""
        total = self.user_turns + self.assistant_turns
        return round(self.assistant_turns / total, 4) if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["balance"] = self.balance
        return data


@dataclass
class _Turn:
    role: str
    parts: list[str]
    sources: int
    ids: list[Any] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # per message: its from_id; "" = the owner
    names: dict[str, str] = field(default_factory=dict)  # from_id -> display name (not with scrub_names)


@dataclass
class _Kept:
    """A message that contributes text, waiting for its chat to end (to be sorted by date)."""

    ts: float | None
    is_owner: bool
    author: str
    text: str
    id: Any
    topic: Any = None  # the forum topic (its topic_created message id); None: General / no forum
    from_id: str = ""  # the author's Telegram id ("user123"); the record's provenance


class _Owner:
    def __init__(self, opts: TelegramOptions) -> None:
        oid = (opts.owner_id or "").strip()
        self.id = f"user{oid}" if oid.isdigit() else oid
        self.name = (opts.owner_name or "").strip().casefold()
        self.matched = 0

    @property
    def given(self) -> bool:
        return bool(self.id or self.name)

    def adopt(self, owner: tg.Owner) -> None:
        """A full export names its owner; use it when the caller named nobody."""
        if not self.given:
            self.id = owner.user_id
            self.name = owner.name.casefold() if not owner.user_id else ""

    def __call__(self, msg: dict) -> bool:
        if self.id and str(msg.get("from_id") or "") == self.id:
            return True
        return (
            bool(self.name)
            and str(msg.get("from") or "").strip().casefold() == self.name
        )


MAX_CONTACTS_LISTED = 50
MAX_PENDING = 20_000  # messages of one chat held for sorting before its finished sessions go out


def process_export(
    source: tg.ExportSource,
    out_path: Path,
    opts: TelegramOptions,
    *,
    transcriber: Transcriber | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    known_ids: frozenset[str] = frozenset(),
    probes: list[dict[str, str]] | None = None,
    export_id: str = "",
    forgotten: frozenset[str] = frozenset(),
) -> TelegramReport:
    """Write dialogs of ``source`` to ``out_path`` (JSONL) and return the report.

    ``probes``: with scrubbing on, what it removed is appended there (scrub.Scrubber) for the
    leak audit; the caller keeps it privately.
    ``export_id`` (the import job's id: its params name the upload, its result the report) is
    kept in every record's ``telegram_ids.export``, so each record says which export it came from.
    ``forgotten`` (:func:`contact_digest` of contacts forgotten from the dataset appended to):
    their personal chats and their group messages are left out (``forgotten_contact``), so a
    newer export never brings a forgotten person back.

    ``known_ids`` (``"<chat id>:<message id>"``, from :func:`record_ids` of an existing
    dataset) are skipped, so that re-importing a newer export adds only new messages.

    Raises INVALID_ARGUMENT: ``TELEGRAM_NO_PERSONAL_CHATS`` (field ``include_groups``) when
    every chat was skipped by type; ``TELEGRAM_OWNER_NOT_FOUND`` (field ``owner_name``)
    listing the top authors with message counts when no message is the owner's; and the
    errors of :func:`tuneforge.services.dataset.telegram.read_export`.
    """
    opts.validate()
    run = _Export(out_path, opts, source, transcriber, known_ids, probes)
    run.writer.export_id = export_id
    run.forgotten = forgotten
    report = run.report
    if opts.scrub_names and run.scrubber is not None:
        run.scrubber.add_names(known_names(source, opts, should_stop))
    on_bytes = (
        (lambda done, total: progress(done, total, report.messages_read))
        if progress
        else None
    )
    with source.open_json(on_bytes) as stream:
        for ev in tg.read_export(stream):
            if isinstance(ev, dict):
                run.message(ev)
                if should_stop and report.messages_read % 1000 == 0 and should_stop():
                    break
            elif isinstance(ev, tg.ChatStart):
                run.start_chat(ev)
            elif isinstance(ev, tg.ChatEnd):
                run.end_chat()
            elif isinstance(ev, tg.Owner):
                run.owner.adopt(ev)
        report.bytes_read = source.size
    run.end_chat()
    return run.finish()


def known_names(source: tg.ExportSource, opts: TelegramOptions,
                should_stop: Callable[[], bool] | None = None) -> set[str]:
    """Every contact's name in the export, read before any chat is scrubbed (a name first
    seen in a later chat is still replaced in the earlier ones): the address book of a full
    export, the names of personal chats and every author but the owner. One extra pass over
    the file, made only for ``scrub_names``."""
    owner = _Owner(opts)
    names: set[str] = set()
    seen = 0
    with source.open_json() as stream:
        for ev in tg.read_export(stream):
            if isinstance(ev, dict):
                if ev.get("type", "message") == "message" and not owner(ev) and ev.get("from"):
                    names.add(str(ev["from"]))
                seen += 1
                if should_stop and seen % 1000 == 0 and should_stop():
                    break
            elif isinstance(ev, tg.ChatStart):
                if ev.type == tg.PERSONAL and ev.name:
                    names.add(ev.name)
            elif isinstance(ev, tg.Contacts):
                names.update(n for n in ev.names if n)
            elif isinstance(ev, tg.Owner):
                owner.adopt(ev)
    if owner.name:
        names = {n for n in names if n.strip().casefold() != owner.name}
    return names


def record_ids(record: dict[str, Any]) -> list[str]:
    """The ``"<chat id>:<message id>"`` keys of the messages a dialog record was built from."""
    ids = record.get("telegram_ids")
    if not isinstance(ids, dict):
        return []
    return [f"{ids.get('chat')}:{i}" for i in ids.get("messages") or ()]


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


class _Export:
    """One run over an export: the chat being read (buffered until it ends, then sorted by
    date), counters, the owner matcher, the scrubber and the dialog writer."""

    def __init__(self, out_path: Path, opts: TelegramOptions, source: tg.ExportSource,
                 transcriber: Transcriber | None, known_ids: frozenset[str],
                 probes: list[dict[str, str]] | None = None) -> None:  # fmt: skip
        from tuneforge.services.dataset.scrub import Scrubber

        self.out_path, self.opts, self.source, self.transcriber = out_path, opts, source, transcriber
        self.known = known_ids
        self.report = TelegramReport()
        self.dropped: Counter[str] = Counter()
        self.chats_skipped: Counter[str] = Counter()
        self.dialogs_dropped: Counter[str] = Counter()
        self.authors: Counter[str] = Counter()
        self.contacts: Counter[str] = Counter()
        self.excluded = {" ".join(c.split()).casefold() for c in opts.exclude_contacts}
        self.excluded_matched: set[str] = set()
        self.peers: dict[str, str] = {}  # personal chats: name -> "user<id>", for not-found errors
        self.topics: dict[Any, Any] = {}  # forum: message id -> its topic (topic_created id)
        self.owner = _Owner(opts)
        self.scrubber = Scrubber(probes=probes) if opts.scrub or opts.scrub_names else None
        self.writer = _DialogWriter(out_path, opts, self.report, self.dropped, self.dialogs_dropped)
        self.chat: tg.ChatStart | None = None
        self.skip_chat = False
        self.pending: list[_Kept] = []
        self.forgotten: frozenset[str] = frozenset()

    def start_chat(self, chat: tg.ChatStart) -> None:
        self.chat, self.pending, self.topics = chat, [], {}
        self.report.chats_read += 1
        reason = _chat_skip_reason(chat.type, self.opts)
        if chat.type == tg.PERSONAL:
            self.peers[chat.name] = f"user{chat.id}"
            if self.is_excluded(chat.name, chat.id) and reason is None:
                reason = "excluded_contact"
            if self.forgotten and contact_digest(chat.id) in self.forgotten and reason is None:
                reason = "forgotten_contact"
        self.skip_chat = reason is not None
        if reason:
            self.chats_skipped[reason] += 1
        else:
            self.report.chats_used += 1

    def message(self, ev: dict) -> None:
        self.report.messages_read += 1
        chat = self.chat
        if self.skip_chat:
            self.dropped[f"chat_{chat.type if chat else 'unknown'}"] += 1
            return
        from_id = _scalar(ev.get("from_id"))
        author = str(ev.get("from") or from_id or "unknown")
        topic = self.topic(ev)
        if self.forgotten and from_id and contact_digest(from_id) in self.forgotten:
            self.dropped["forgotten_contact"] += 1  # never counted, named or kept in the report
            return
        is_owner = False
        if ev.get("type", "message") == "message":
            self.authors[(author, from_id)] += 1  # formatted only for an error
            is_owner = self.owner(ev)
            self.owner.matched += is_owner
            if not is_owner:
                self.contacts[author] += 1
        excluded = not is_owner and self.is_excluded(author, from_id)
        if self.known and f"{chat.id if chat else None}:{ev.get('id')}" in self.known:
            self.report.messages_already_in_dataset += 1
            return
        if excluded:
            self.dropped["excluded_contact"] += 1
            return
        text = _message_text(ev, self.opts, self.source, self.transcriber, self.dropped, self.report)
        if text is not None:
            self.pending.append(_Kept(_timestamp(ev), is_owner, author, text, ev.get("id"), topic,
                                      str(from_id or author)))
            if len(self.pending) >= MAX_PENDING:
                self.write_sessions(final=False)

    def is_excluded(self, name: str, ident: Any) -> bool:
        """Whether ``--exclude-contact`` names this person (by name, or id with or without
        ``user``); each entry that matched is remembered, so one that never did is an error."""
        if not self.excluded:
            return False
        hits = contact_keys(name, ident) & self.excluded
        self.excluded_matched |= hits
        return bool(hits)

    def topic(self, ev: dict) -> Any:
        """The forum topic of a message: a ``topic_created`` service message opens one; a
        message replying into a topic (its root or any message in it) belongs to it; any other
        message is in General (None). Outside forums, always None."""
        mid = ev.get("id")
        mid = mid if isinstance(mid, (int, str)) else None
        if ev.get("type") == "service" and ev.get("action") == "topic_created" and mid is not None:
            self.topics[mid] = mid
            return mid
        if not self.topics:
            return None
        reply = ev.get("reply_to_message_id")
        topic = self.topics.get(reply) if isinstance(reply, (int, str)) else None
        if mid is not None and topic is not None:
            self.topics[mid] = topic
        return topic

    def end_chat(self) -> None:
        if not self.skip_chat and self.pending and self.chat is not None:
            self.write_sessions(final=True)
        self.pending, self.skip_chat = [], False

    def write_sessions(self, final: bool) -> None:
        """Sort the buffered messages by date (stable: file order breaks ties), split them by
        forum topic, cut each topic's messages into sessions at a gap in either direction,
        write them. Not ``final`` (a chat longer than ``MAX_PENDING`` messages): each topic's
        last session stays buffered, as it may go on — memory stays bounded, and order is
        restored within each window of that many messages."""
        pending, chat = self.pending, self.chat
        assert chat is not None
        last: float | None = None
        for k in pending:  # a message without a date sorts with the one before it
            k.ts = last = k.ts if k.ts is not None else last
        pending.sort(key=lambda k: k.ts if k.ts is not None else float("-inf"))
        by_topic: dict[Any, list[_Kept]] = {}
        for k in pending:
            by_topic.setdefault(k.topic, []).append(k)
        largest = max(by_topic, key=lambda t: len(by_topic[t])) if by_topic else None
        if self.opts.scrub_names and self.scrubber is not None:
            peers = {chat.name} if chat.type == tg.PERSONAL else set()  # a group's title is no name
            self.scrubber.add_names({k.author for k in pending if not k.is_owner} | peers)
        self.writer.chat_id = chat.id
        left: list[_Kept] = []
        for topic, group in by_topic.items():
            sessions, rest = self._sessions(group, final, cut=topic == largest)
            left += rest
            for session in sessions:
                self.writer.write_session(self.turns(session, chat.type in tg.GROUP_TYPES))
        self.pending = left

    def _sessions(self, pending: list[_Kept], final: bool, cut: bool) -> tuple[list[list[_Kept]], list[_Kept]]:
        """(sessions to write, messages to keep buffered) of one topic's sorted messages."""
        sessions: list[list[_Kept]] = [[]]
        last = None
        for k in pending:
            if last is not None and k.ts is not None and abs(k.ts - last) > self.opts.session_gap_seconds:
                sessions.append([])
            last = k.ts if k.ts is not None else last
            sessions[-1].append(k)
        if final:
            return sessions, []
        if len(sessions) > 1:
            return sessions[:-1], sessions[-1]
        if not cut:
            return [], sessions[0]
        # one endless session: write its first half (ending on an owner's reply) to stay bounded
        one = sessions[0]
        at = next((i for i in range(len(one) // 2, len(one)) if one[i - 1].is_owner and not one[i].is_owner),
                  len(one) // 2)  # fmt: skip
        return [one[:at]], one[at:]

    def turns(self, session: list[_Kept], group: bool) -> list[_Turn]:
        """Consecutive messages of one side merged into one turn (group members named)."""
        out: list[_Turn] = []
        for k in session:
            role = "assistant" if k.is_owner else "user"
            text = f"{k.author}: {k.text}" if group and not k.is_owner else k.text
            if self.scrubber is not None:
                before = next((t for t in reversed(out) if t.role != role), None)
                text = self.scrubber.text(text, prompt="\n".join(before.parts) if before else "")
            author = "" if k.is_owner else k.from_id
            if out and out[-1].role == role:
                out[-1].parts.append(text)
                out[-1].sources += 1
                out[-1].ids.append(k.id)
                out[-1].authors.append(author)
            else:
                out.append(_Turn(role, [text], 1, [k.id], [author]))
            if author and not self.opts.scrub_names:
                out[-1].names[author] = k.author
        return out

    def finish(self) -> TelegramReport:
        report, owner = self.report, self.owner
        self.writer.close()
        report.messages_dropped = dict(self.dropped)
        report.chats_skipped = dict(self.chats_skipped)
        report.dialogs_dropped = dict(self.dialogs_dropped)
        report.messages_kept = self.writer.messages_kept
        report.owner = owner.id or owner.name
        report.contacts = [{"name": n, "messages": c} for n, c in self.contacts.most_common(MAX_CONTACTS_LISTED)]
        if self.scrubber is not None:
            report.scrubbed = dict(self.scrubber.counts)
        if report.chats_used == 0 and report.chats_read:
            self.out_path.unlink(missing_ok=True)
            field, hint = _skipped_hint(self.chats_skipped)
            raise invalid_argument(
                field,
                f"no personal chats in this export (skipped: {counts_text(self.chats_skipped)}); {hint}",
                reason="TELEGRAM_NO_PERSONAL_CHATS",
            )
        self.check_excluded()
        if not owner.given or not owner.matched:
            self.out_path.unlink(missing_ok=True)
            top = ", ".join(f"{name} ({fid or '?'}): {n}" for (name, fid), n in self.authors.most_common(20)) or "no messages"
            what = "no owner given" if not owner.given else f"owner {report.owner} not found"
            raise invalid_argument(
                "owner_name",
                f"{what}; authors by message count: {top}",
                reason="TELEGRAM_OWNER_NOT_FOUND",
            )
        return report


    def check_excluded(self) -> None:
        """An ``--exclude-contact`` that matched nobody is an error (a typo would otherwise
        train on the very person meant to be left out), with the close candidates."""
        missing = sorted(self.excluded - self.excluded_matched)
        if not missing:
            return
        self.out_path.unlink(missing_ok=True)
        known = {" ".join(n.split()): str(fid or "") for (n, fid) in self.authors if not self.owner({"from": n, "from_id": fid})}
        known.update((n, i) for n, i in self.peers.items() if n not in known)
        parts = [f"{entry!r} (close: {close_contacts(entry, known)})" for entry in missing]
        raise invalid_argument(
            "exclude_contacts", f"no contact matches {'; '.join(parts)}; give a contact's name or id "
            "as the report's contacts list shows it", reason="TELEGRAM_CONTACT_NOT_FOUND",
        )


def contact_keys(name: str, ident: Any) -> set[str]:
    """The keys a contact is matched by (``--exclude-contact``, ``dataset forget``): the display
    name with case and spacing ignored, and the id with and without ``user``."""
    bare = str(ident or "").removeprefix("user")
    return {" ".join(str(name).split()).casefold(), bare, f"user{bare}"} - {"", "user"}


def contact_digest(ident: Any) -> str:
    """How a forgotten contact is remembered (``dataset forget``): the SHA-256 of the bare id,
    never the id or the name itself."""
    return hashlib.sha256(str(ident or "").removeprefix("user").encode()).hexdigest()


def close_contacts(entry: str, known: dict[str, str]) -> str:
    """The contacts of ``known`` (name -> id) close to ``entry`` by name or id, for an error."""
    by_key = {n.casefold(): n for n in known} | {i.casefold(): n for n, i in known.items() if i}
    close = difflib.get_close_matches(entry.casefold(), list(by_key), n=5, cutoff=0.6)
    names = list(dict.fromkeys(by_key[c] for c in close))
    return ", ".join(f"{n} ({known[n]})" if known[n] and known[n] != n else n for n in names) or "none close"


SKIP_HINTS = {
    "group": ("include_groups", "pass --include-groups (include_groups) to use group chats"),
    "channel": ("include_channels", "pass --include-channels (include_channels) to use channels"),
    "bot": ("include_bots", "pass --include-bots (include_bots) to use chats with bots"),
    "saved_messages": ("include_saved_messages",
                       "pass --include-saved-messages (include_saved_messages) to use Saved Messages"),
    "excluded_contact": ("exclude_contacts", "every personal chat is with an excluded contact"),
    "forgotten_contact": ("append_to", "every personal chat is with a contact forgotten from this dataset"),
}


def _skipped_hint(skipped: Counter[str]) -> tuple[str, str]:
    """(field, what to do) for an export whose every chat was skipped: one hint per reason,
    and an unknown chat ``type`` said as such (no --include option would take it)."""
    hints, field = [], ""
    for reason in sorted(skipped, key=lambda r: -skipped[r]):
        if reason in SKIP_HINTS:
            field = field or SKIP_HINTS[reason][0]
            hints.append(SKIP_HINTS[reason][1])
        else:
            kind = reason.removeprefix("type_")
            field = field or "input"
            hints.append(f"chat type {kind!r} is not one Telegram Desktop writes (known: "
                         f"{', '.join(sorted(KNOWN_CHAT_TYPES))}) and no option includes it")
    return field or "include_groups", "; ".join(hints)


KNOWN_CHAT_TYPES = frozenset({tg.PERSONAL, tg.BOT, tg.SAVED, *tg.GROUP_TYPES, *tg.CHANNEL_TYPES})


def _chat_skip_reason(chat_type: str, opts: TelegramOptions) -> str | None:
    if chat_type == tg.PERSONAL:
        return None
    if chat_type in tg.GROUP_TYPES:
        return None if opts.include_groups else "group"
    if chat_type in tg.CHANNEL_TYPES:
        return None if opts.include_channels else "channel"
    if chat_type == tg.BOT:
        return None if opts.include_bots else "bot"
    if chat_type == tg.SAVED:
        return None if opts.include_saved_messages else "saved_messages"
    return f"type_{chat_type or 'unknown'}"


def _message_text(
    msg: dict,
    opts: TelegramOptions,
    source: tg.ExportSource,
    transcriber: Transcriber | None,
    dropped: Counter[str],
    report: TelegramReport,
) -> str | None:
    """The text a message contributes, or ``None`` (and the drop counted) when it has none."""
    mtype = msg.get("type", "message")
    if mtype != "message":
        dropped["service" if mtype == "service" else f"type_{mtype}"] += 1
        return None
    if "forwarded_from" in msg and not opts.include_forwarded:
        dropped["forwarded"] += 1
        return None
    media = _scalar(msg.get("media_type"))
    text = tg.flatten_text(msg.get("text")).strip()
    if media == "sticker":
        emoji = str(msg.get("sticker_emoji") or "").strip()
        if opts.stickers_as_emoji and emoji:
            return emoji
        dropped["sticker"] += 1
        return None
    if media in VOICE_TYPES and not text:
        if not opts.transcribe_voice or transcriber is None:
            dropped["voice_not_transcribed"] += 1
            return None
        with source.media_file(str(msg.get("file") or "")) as path:
            if path is None:
                dropped["voice_file_missing"] += 1
                return None
            text = (transcriber(path) or "").strip()
        if not text:
            dropped["voice_empty_transcript"] += 1
            return None
        report.voice_transcribed += 1
    if not text:
        dropped[
            "media_without_text"
            if (media or msg.get("photo") or msg.get("file"))
            else "empty"
        ] += 1
        return None
    if len(text) > opts.max_message_length:
        dropped["too_long"] += 1
        return None
    if (media or msg.get("photo") or msg.get("file")) and media not in VOICE_TYPES:
        report.media_text_only += 1  # a photo/file with a caption: the caption is kept
    return text


def _scalar(value: Any) -> Any:
    """A field that should be a string or number, as one (a hand-edited export may hold a list)."""
    return value if value is None or isinstance(value, (str, int, float)) else json.dumps(value)


def _timestamp(msg: dict) -> float | None:
    raw = msg.get("date_unixtime")
    if raw is not None:
        try:
            return float(raw)
        except (TypeError, ValueError):
            pass
    date = msg.get("date")
    if isinstance(date, str):
        try:
            dt = datetime.fromisoformat(date)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return None


class _DialogWriter:
    """Cuts sessions into dialogs and writes them as JSONL lines."""

    def __init__(
        self,
        path: Path,
        opts: TelegramOptions,
        report: TelegramReport,
        messages_dropped: Counter[str],
        dialogs_dropped: Counter[str],
    ) -> None:
        self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115
        self._opts = opts
        self._report = report
        self._msg_dropped = messages_dropped
        self._dropped = dialogs_dropped
        self.messages_kept = 0
        self.chat_id: Any = None
        self.export_id = ""
        # Chunks hold whole user/assistant pairs so that each ends on the assistant.
        self._chunk = max(2, opts.max_dialog_length - opts.max_dialog_length % 2)

    def write_session(self, turns: list[_Turn]) -> None:
        if not turns:
            return
        while turns and turns[0].role == "assistant":
            self._msg_dropped["leading_assistant_turn"] += turns[0].sources
            turns = turns[1:]
        for start in range(0, len(turns), self._chunk):
            chunk = turns[start : start + self._chunk]
            if chunk and chunk[-1].role == "user":
                self._msg_dropped["trailing_user_turn"] += chunk[-1].sources
                chunk = chunk[:-1]
            if not any(t.role == "assistant" for t in chunk):
                self._dropped["no_assistant_turn"] += 1
                self._msg_dropped["dialog_dropped"] += sum(t.sources for t in chunk)
                continue
            if len(chunk) < self._opts.min_dialog_messages:
                self._dropped["too_short"] += 1
                self._msg_dropped["dialog_dropped"] += sum(t.sources for t in chunk)
                continue
            self._write(chunk)

    def _write(self, turns: list[_Turn]) -> None:
        opts, report = self._opts, self._report
        msgs = [{"role": t.role, "content": "\n".join(t.parts)} for t in turns]
        if opts.system_prompt:
            msgs.insert(0, {"role": "system", "content": opts.system_prompt})
        if opts.output_format == "sharegpt":
            names = {"system": "system", "user": "human", "assistant": "gpt"}
            record: dict[str, Any] = {
                "conversations": [
                    {"from": names[m["role"]], "value": m["content"]} for m in msgs
                ]
            }
        else:
            record = {"messages": msgs}
        # Provenance (lineage, `dataset contacts`, `dataset forget`): the chat, each message's id
        # and author ("" = the owner) and the authors' names (left out with scrub_names).
        record["telegram_ids"] = {"chat": self.chat_id, "messages": [i for t in turns for i in t.ids],
                                  "from": [a for t in turns for a in t.authors],
                                  "names": {k: v for t in turns for k, v in t.names.items()}}
        if self.export_id:
            record["telegram_ids"]["export"] = self.export_id
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        report.dialogs += 1
        for t in turns:
            self.messages_kept += t.sources
            if t.role == "assistant":
                report.assistant_turns += 1
            else:
                report.user_turns += 1

    def close(self) -> None:
        self._fh.close()
