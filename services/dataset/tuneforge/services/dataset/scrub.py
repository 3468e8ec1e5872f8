"""Privacy scrubbing: personal data in training text replaced by typed placeholders.

Chat exports and support logs are full of phone numbers, e-mail addresses, card numbers and
bank accounts; a model fine-tuned on them can repeat them to anyone. With ``--scrub`` every
text that goes into a dataset passes through :class:`Scrubber`, which replaces

* e-mail addresses → ``<EMAIL>``, internationalised ones too (``info@пример.рф``,
  ``xn--`` domains);
* payment card numbers (13–19 digits, spaces or dashes allowed) that pass the Luhn check →
  ``<CARD>`` (a long number that fails it is left alone: order ids, tracking numbers; so is
  an ISBN, with or without its ``ISBN`` prefix, whose own check digit holds);
* IBANs (country code, check digits, 11–30 more characters) that pass the ISO 7064 mod-97
  check → ``<IBAN>``;
* phone numbers → ``<PHONE>``: ``+`` and 8–15 digits, or 10–11 digits written the way
  phones are (``8 (912) 345-67-89`` whole, trunk prefix included, ``415-555-0132``,
  ``89123456789``). Dates
  (``01.12.2026``, ``2026-12-01``), times, prices (``1 500 000 ₽``, ``$1,299.99``) and
  numbers grouped in thousands are not phones and stay;
* optionally the names of contacts (``names``) → ``<NAME>``: the full name and each
  capitalised part of it (two letters or more: "Ян", "Al"), as whole words. Inflected forms
  (Ивана, Ивану) are not caught.

:meth:`Scrubber.record` covers every text of a normalised record that is trained on: message
contents, the arguments of assistant ``tool_calls`` / ``function_call``, and the prompt,
chosen, rejected and completion messages of preference and KTO records.

Each replacement is counted by kind (``counts``: phones, emails, cards, ibans, names), so the dataset's report says what was
removed. The scrubber is deterministic and holds no state besides the counts — and, when
asked (``probes``, a list), what it removed: each value with the text before it in its message
(``context``) and the message before that (``prompt``). The import keeps that list privately on
the server for the trainer's leak audit (``pii_probes.jsonl``, docs/privacy.md); it is never
in the dataset's files nor returned by any RPC.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KINDS = ("email", "card", "iban", "phone", "name")
PLACEHOLDERS = {k: f"<{k.upper()}>" for k in KINDS}
# ``counts`` keys: the plural, as the report's ScrubCounts fields are named.

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,24}|xn--[a-z0-9-]{2,59})(?![\w-])")
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?![\w])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
_PHONE = re.compile(
    r"(?<![\w+.,:/])(?:\+\s?\d{1,3}[\s-]?|[78][\s-]?(?=\(\d))?(?:\(\d{2,5}\)[\s-]?)?\d(?:[\s-]?\d){5,14}(?![\w.,:/]\d|\w)"
)
_GROUP_SPLIT = re.compile(r"[\s()-]+")
_ISBN_PREFIX = re.compile(r"ISBN(?:-1[03])?:?\s*$", re.IGNORECASE)
MESSAGE_LISTS = ("messages", "prompt", "chosen", "rejected", "completion")
PROBE_CONTEXT_CHARS = 300  # text kept before a removed value (the audit's prompt)
MAX_PROBES = 10_000  # per import; the audit samples a few dozen
PROBES_FILE = "pii_probes.jsonl"  # in the dataset's directory; read by the trainer's audit_worker


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def isbn_ok(digits: str) -> bool:
    """An ISBN-13 (978/979, weights 1-3) or ISBN-10 (weights 10..1, ``X`` = 10) check digit."""
    if len(digits) == 13 and digits[:3] in ("978", "979") and digits.isdigit():
        return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits)) % 10 == 0
    if len(digits) == 10 and digits[:9].isdigit() and (digits[9].isdigit() or digits[9] in "Xx"):
        values = [int(c) for c in digits[:9]] + [10 if digits[9] in "Xx" else int(digits[9])]
        return sum(v * (10 - i) for i, v in enumerate(values)) % 11 == 0
    return False


def _isbn(match: re.Match) -> bool:
    """Whether a number is an ISBN: after an ``ISBN`` prefix, or an ISBN-13 (978/979) whose
    check digit holds, or a hyphenated ISBN-10 (four groups) whose check digit holds."""
    digits = re.sub(r"[\s-]", "", match.group())
    if _ISBN_PREFIX.search(match.string[max(0, match.start() - 12):match.start()]):
        return isbn_ok(digits) or len(digits) in (10, 13)
    groups = match.group().split("-")
    return isbn_ok(digits) and (len(digits) == 13 or len(groups) == 4)


def phone_like(text: str) -> bool:
    """Whether a run of digits and separators is written the way a phone number is."""
    digits = re.sub(r"\D", "", text)
    stripped = text.strip()
    if stripped.startswith("+"):
        return 8 <= len(digits) <= 15
    if "(" in stripped:
        return 10 <= len(digits) <= 11
    if len(digits) == 11:
        ok_prefix = digits[0] in "78" or digits[0] == "1"
    elif len(digits) == 10:  # bare ten digits: a Russian mobile (9xx); else company ids
        ok_prefix = digits[0] in ("9" if digits == stripped else "23456789")
    else:
        return False
    groups = [g for g in _GROUP_SPLIT.split(stripped) if g]
    if len(groups) > 2 and all(len(g) == 3 for g in groups[1:]) and " " in stripped:
        return False  # 1 234 567 890: a number grouped in thousands
    return ok_prefix


class Scrubber:
    """Replace personal data in texts; ``counts`` tells how much of each kind was replaced."""

    def __init__(self, names: Iterable[str] = (), probes: list[dict[str, str]] | None = None) -> None:
        """``probes``: when a list, each removed value is appended to it (up to ``MAX_PROBES``)
        as ``{"kind", "value", "context", "prompt"}`` for the leak audit."""
        self.counts: Counter[str] = Counter()
        self.probes = probes
        self._prompt = ""
        self._words: set[str] = set()
        self._names: re.Pattern[str] | None = None
        self.add_names(names)

    def add_names(self, names: Iterable[str]) -> None:
        """Also replace these names (full, and each capitalised part of two letters or more)."""
        words = set(self._words)
        for name in names:
            name = " ".join(str(name).split())
            if len(name) >= 2 and any(c.isalpha() for c in name):
                words.add(name)
            words.update(p for p in name.split() if len(p) >= 2 and p[0].isupper())
        if words == self._words:
            return
        self._words = words
        ordered = sorted(words, key=len, reverse=True)  # the full name before its parts
        self._names = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in ordered) + r")(?!\w)")

    def text(self, text: str, prompt: str = "") -> str:
        """``text`` scrubbed; ``prompt`` (the message before it, already scrubbed) is kept with
        each probe."""
        if not text:
            return text
        self._prompt = prompt[-PROBE_CONTEXT_CHARS:]
        text = _EMAIL.sub(lambda m: self._sub(m, "email"), text)
        text = _IBAN.sub(lambda m: self._sub(m, "iban") if iban_ok(m.group()) else m.group(), text)
        text = _CARD.sub(self._card, text)
        text = _PHONE.sub(lambda m: self._sub(m, "phone") if phone_like(m.group()) and not _isbn(m) else m.group(), text)
        if self._names is not None:
            text = self._names.sub(lambda m: self._sub(m, "name"), text)
        return text

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A normalised record with every text that is trained on scrubbed: ``text``, and the
        messages of chats, preference pairs and KTO examples, tool-call arguments included."""
        out = dict(record)
        if isinstance(record.get("text"), str):
            out["text"] = self.text(record["text"])
        for key in MESSAGE_LISTS:
            if isinstance(record.get(key), list):
                out[key], before = [], ""
                for m in record[key]:
                    out[key].append(self.message(m, before) if isinstance(m, dict) else m)
                    before = out[key][-1].get("content") if isinstance(out[key][-1], dict) else ""
                    before = before if isinstance(before, str) else ""
        return out

    def message(self, message: dict[str, Any], prompt: str = "") -> dict[str, Any]:
        """One message: its content and the arguments of its tool calls (``prompt``: the
        message before it, kept with probes)."""
        out = dict(message)
        if isinstance(message.get("content"), str):
            out["content"] = self.text(message["content"], prompt)
        if isinstance(message.get("tool_calls"), list):
            out["tool_calls"] = [self._call(c) for c in message["tool_calls"]]
        if isinstance(message.get("function_call"), dict):
            out["function_call"] = self._arguments(message["function_call"])
        return out

    def _call(self, call: Any) -> Any:
        if not isinstance(call, dict):
            return call
        if isinstance(call.get("function"), dict):
            return {**call, "function": self._arguments(call["function"])}
        return self._arguments(call)

    def _arguments(self, fn: dict[str, Any]) -> dict[str, Any]:
        """Arguments are a JSON string (OpenAI) or an object: scrubbed value by value, so the
        JSON stays valid."""
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                decoded = json.loads(args)
            except ValueError:
                return {**fn, "arguments": self.text(args)}
            return {**fn, "arguments": json.dumps(self._value(decoded), ensure_ascii=False)}
        if isinstance(args, (dict, list)):
            return {**fn, "arguments": self._value(args)}
        return fn

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v) for v in value]
        return value

    def _sub(self, match: re.Match, kind: str) -> str:
        self.counts[f"{kind}s"] += 1
        if self.probes is not None and len(self.probes) < MAX_PROBES:
            self.probes.append({"kind": kind, "value": match.group(), "prompt": self._prompt,
                                "context": match.string[max(0, match.start() - PROBE_CONTEXT_CHARS):match.start()]})
        return PLACEHOLDERS[kind]

    def _card(self, match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not _isbn(match):
            return self._sub(match, "card")
        return match.group()


def write_probes(directory: Path, probes: list[dict[str, str]]) -> Path:
    """Keep what the scrubber removed, for the trainer's leak audit: ``pii_probes.jsonl`` in the
    dataset's directory, readable by the server's user only (0600), appended to by a later
    import into the same dataset. Never part of the dataset's files, never sent by an RPC."""
    path = Path(directory) / PROBES_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in probes)
    return path
