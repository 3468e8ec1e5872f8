"""Documents → short passages → questions a person would ask, in the document's language.

A model fine-tuned on "What about Installation — Linux?" answered by a 6,000-character
Markdown section learns to dump sections, not to answer. So a document is

1. cut into sections by its headings (code fences are respected: a ``#`` inside a fence is
   not a heading);
2. each section cut into passages of at most ``max_tokens`` (estimated like the dataset
   stats do: four characters a token) along paragraph, then sentence boundaries; a code block
   that alone exceeds the budget is left out (and counted), images and HTML comments are
   dropped from the text;
3. each passage gets up to ``n`` natural phrasings of a question about its topic (the
   section heading; a generic heading such as "Usage" borrows its parent's), in Russian when
   the passage is mostly Cyrillic, else in English. Later passages of one section are asked
   as follow-ups ("What else should I know about X?").

The phrasings are templates: good enough to teach the model what the docs say, and the
``llm_url`` option of ``generate`` rephrases them with a real model when one is at hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
MAX_PASSAGE_TOKENS = 160
MIN_PASSAGE_CHARS = 8
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_CYRILLIC = re.compile(r"[а-яё]", re.I)
_LATIN = re.compile(r"[a-z]", re.I)
GENERIC_HEADINGS = frozenset({
    "overview", "introduction", "usage", "example", "examples", "notes", "details", "summary",
    "описание", "введение", "обзор", "пример", "примеры", "использование", "заметки", "подробности",
})  # fmt: skip

_EN = ("What is {t}?", "Can you explain {t}?", "What should I know about {t}?", "Tell me about {t}.",
       "How does {t} work?")  # fmt: skip
_EN_HOW = ("How do I {r}?", "How can I {r}?", "What are the steps to {r}?")
_EN_MORE = ("What else should I know about {t}?", "Are there more details on {t}?",
            "What other points matter for {t}?")  # fmt: skip
_RU = ("{T} — что это?", "{T}: что нужно знать?", "Расскажите подробнее: {t}.", "{T}: как это устроено?")
_RU_HOW = ("{Q}?", "Подскажите, {q}?", "Объясните, {q}?")
_RU_MORE = ("{T}: что ещё важно знать?", "Какие ещё есть подробности? Тема: {t}.",
            "{T}: что ещё стоит учесть?")  # fmt: skip


@dataclass
class Passage:
    topic: str
    text: str
    part: int  # 1 for a section's first passage
    lang: str  # "ru" or "en"


@dataclass
class Split:
    passages: list[Passage]
    skipped_code_blocks: int = 0


def language(text: str) -> str:
    return "ru" if len(_CYRILLIC.findall(text)) > len(_LATIN.findall(text)) else "en"


def split_document(text: str, max_tokens: int = MAX_PASSAGE_TOKENS) -> Split:
    out = Split([])
    budget = max_tokens * CHARS_PER_TOKEN
    for path, body in _sections(_COMMENT.sub("", text)):
        topic = path[-1]
        if topic.strip().lower().rstrip(":") in GENERIC_HEADINGS and len(path) > 1:
            topic = f"{path[-2]} ({topic})"
        blocks = _blocks(_IMAGE.sub("", body))
        chunks, skipped = _pack(blocks, budget)
        out.skipped_code_blocks += skipped
        for part, chunk in enumerate((c for c in chunks if len(c) >= MIN_PASSAGE_CHARS), start=1):
            out.passages.append(Passage(topic, chunk, part, language(topic + " " + chunk)))
    return out


def questions(passage: Passage, n: int = 3) -> list[str]:
    """Up to ``n`` phrasings of a question about the passage's topic, in its language."""
    t = passage.topic.strip().rstrip(":.")
    if passage.lang == "ru":
        if t.endswith("?"):
            forms = (t, f"Подскажите: {_lower_first(t)}", f"Вопрос: {_lower_first(t)}")
        elif t.lower().startswith(("как ", "где ", "когда ", "зачем ", "почему ", "что ")):
            forms = tuple(f.format(Q=t, q=_lower_first(t)) for f in _RU_HOW)
        else:
            templates = _RU_MORE if passage.part > 1 else _RU
            forms = tuple(f.format(T=_upper_first(t), t=_lower_first(t)) for f in templates)
    else:
        if t.endswith("?"):
            forms = (t, f"Could you tell me: {_lower_first(t)}", f"Quick question: {_lower_first(t)}")
        elif t.lower().startswith("how to "):
            forms = tuple(f.format(r=t[7:]) for f in _EN_HOW)
        else:
            templates = _EN_MORE if passage.part > 1 else _EN
            forms = tuple(f.format(t=_lower_first(t)) for f in templates)
    return list(dict.fromkeys(forms))[: max(1, n)]


def shorten(text: str, max_tokens: int = MAX_PASSAGE_TOKENS) -> str:
    """The leading paragraphs of ``text`` that fit the budget (at least one sentence)."""
    chunks, _ = _pack(_blocks(text), max_tokens * CHARS_PER_TOKEN)
    return chunks[0] if chunks else ""


# --- internals ----------------------------------------------------------------------------


def _sections(text: str) -> list[tuple[list[str], str]]:
    out: list[tuple[list[str], str]] = []
    path: list[str] = []
    body: list[str] = []
    in_code = False

    def close() -> None:
        if path and "\n".join(body).strip():
            out.append((list(path), "\n".join(body)))

    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            close()
            level = len(m.group(1))
            path[:] = path[: level - 1] + [m.group(2).strip()]
            body = []
        else:
            body.append(line)
    close()
    return out


def _blocks(body: str) -> list[str]:
    """Paragraphs and whole code fences, in order."""
    blocks: list[str] = []
    current: list[str] = []
    in_code = False
    for line in body.splitlines():
        fence = line.strip().startswith("```")
        if fence and not in_code:
            if current:
                blocks.append("\n".join(current).strip())
            current, in_code = [line], True
            continue
        if fence and in_code:
            current.append(line)
            blocks.append("\n".join(current).strip())
            current, in_code = [], False
            continue
        if not in_code and not line.strip():
            if current:
                blocks.append("\n".join(current).strip())
            current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current).strip())
    return [b for b in blocks if b]


def _pack(blocks: list[str], budget: int) -> tuple[list[str], int]:
    """Greedy packing of blocks into chunks of at most ``budget`` characters."""
    chunks: list[str] = []
    current = ""
    skipped = 0
    for block in blocks:
        pieces = [block]
        if len(block) > budget:
            if block.startswith("```"):
                skipped += 1
                continue
            pieces = _sentences(block, budget)
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > budget:
                chunks.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks, skipped


def _sentences(block: str, budget: int) -> list[str]:
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(block):
        while len(sentence) > budget:  # one endless sentence: cut at a space
            cut = sentence.rfind(" ", 0, budget)
            cut = cut if cut > budget // 2 else budget
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > budget:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a name-like token."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and (first.isupper() or any(c.isupper() for c in first[1:]) or "`" in first):
        return text
    return text[:1].lower() + text[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]
