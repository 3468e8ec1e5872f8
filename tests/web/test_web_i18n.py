"""Every string the console shows has its Russian (issue 28): the visible string literals of
the pages' scripts, and every ``t("…")`` call, are keys of ``static/i18n_ru.js``, with the same
``{placeholders}``. The browser test checks the rendered pages in Russian."""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "tuneforge" / "web" / "static"
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`')
T_CALL = re.compile(r'\bt\(\s*"((?:[^"\\\n]|\\.)*)"')
# Literals that are code, not text: HTTP verbs, states and reasons the code compares, CSS
# classes and selectors, MIME types, and sample values shown as placeholders.
CODE = {"11px DejaVu Sans, sans-serif", "APPLIED", "CANCELLED", "CONFIRMATION_REQUIRED", "DELETE", "EXPORT_FORMAT_",
        "FAILED", "GET", "POST", "PUT", "STATE_", "SUCCEEDED", "application/octet-stream", "body flush", "chat2",
        "chats-v1", "inline hint", "input[data-contact]:checked", "input[name], select[name], textarea[name]",
        "reward/", "reward: ", "use strict", "user123456",
        "ArrowLeft", "ArrowRight", "End", "Escape", "Home"}  # KeyboardEvent.key names
CSS_WORDS = ("btn", "badge", "field", "card", "form", "row", "grid", "hint", "msg", "chat", "turn", "column", "num",
             "stat", "progress", "preset", "dropzone", "options", "kv", "gap", "note", "lead", "mono", "steps", "report",
             "contacts", "sbs", "trained", "better", "worse", "t bad", "t")


def russian() -> dict[str, str]:
    text = (STATIC / "i18n_ru.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("/* BEGIN */") + 11:text.index("/* END */")])


def visible(literal: str) -> bool:
    """A literal a person reads (heuristic: words, not a path, selector, class or identifier)."""
    if not re.search(r"[A-Za-z]{2,}", literal):
        return False
    if re.match(r"^[/#.\[]|^https?:|^[a-z_-]+$|^[a-z]+[A-Z]|^\w+/\w+$", literal):
        return False
    if re.search(r"[=;{}]|^\S+\.\S+$|^[a-z0-9_ -]+:[a-z]", literal) and " " not in literal.strip():
        return False
    return not re.match(rf"^({'|'.join(re.escape(w) for w in CSS_WORDS)})( |$)", literal)


def scripts() -> list[Path]:
    return [p for p in sorted(STATIC.glob("*.js")) if not p.name.startswith("i18n")]


def test_every_visible_string_of_the_pages_has_its_russian():
    ru = russian()
    missing = []
    for path in scripts():
        for match in LITERAL.finditer(path.read_text(encoding="utf-8")):
            literal = match.group(1) if match.group(1) is not None else match.group(2)
            if "${" in literal or not visible(literal) or literal in CODE:
                continue
            if literal not in ru:
                missing.append(f"{path.name}: {literal!r}")
    assert not missing, "untranslated:\n" + "\n".join(missing)


def test_every_t_call_has_its_russian_with_the_same_placeholders():
    ru = russian()
    for path in scripts():
        for key in T_CALL.findall(path.read_text(encoding="utf-8")):
            assert key in ru, f"{path.name}: t({key!r}) has no Russian"
    for key, value in ru.items():
        assert set(re.findall(r"\{(\w+)\}", key)) == set(re.findall(r"\{(\w+)\}", value)), key
        assert value.strip(), key


def test_templated_text_goes_through_t():
    """A template literal with words and ${…} would show English in Russian: build it with t()."""
    offenders = []
    for path in scripts():
        for match in re.finditer(r"`([^`]*)`", path.read_text(encoding="utf-8")):
            text = match.group(1)
            words = re.sub(r"\$\{[^}]*\}", "", re.sub(r'\bt\("(?:[^"\\]|\\.)*"', "", text))
            if "${" in text and re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", words):
                offenders.append(f"{path.name}: `{text[:80]}`")
    assert not offenders, "\n".join(offenders)
