"""How close generated replies are to the owner's real replies: style metrics and one score.

Pure Python (no torch, no tokenizer), so the evaluation worker, tests and anyone holding a
report can recompute it. Inputs are pairs ``(reply, reference)`` plus whether each reply
stopped by itself (the end-of-turn token within the token limit).

Per side (the base model's replies, the adapter's) :func:`side_metrics` gives:

``length_ratio``        mean of len(reply) / len(reference), in characters (1.0 = same length)
``emoji_rate``          emoji per 100 non-space characters, over all replies
``punctuation_rate``    punctuation marks per 100 non-space characters
``script_match``        share of replies written in the reference's dominant script (Latin,
                        Cyrillic, Han, ...): a proxy for "answers in the owner's language"
``distinct_1/2``        distinct word uni-/bigrams over all replies / all of them (variety)
``stop_rate``           share of replies that ended with the end-of-turn token by themselves
``chrf``                mean character n-gram F-score (chrF, n = 1..4, beta 2) against the
                        reference: register, catch-phrases and sign-offs
``style_score``         0..1, a weighted mean of closeness to the owner on every metric above
                        (:data:`WEIGHTS`); the one number to compare base and adapter on

Closeness of two rates a, b is ``1 - |a - b| / max(a, b)`` (1 when both are 0); of a length
ratio r it is ``min(r, 1/r)``. :func:`reference_metrics` gives the owner's own rates.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

WEIGHTS = {"chrf": 0.3, "length": 0.15, "stop": 0.15, "script": 0.1, "punctuation": 0.1,
           "emoji": 0.1, "distinct": 0.1}
_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1FC00, 0x1FFFF))
_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "HANGUL", "HIRAGANA",
            "KATAKANA", "THAI", "GEORGIAN", "ARMENIAN")


@dataclass(frozen=True)
class Reply:
    text: str
    reference: str
    stopped: bool = True


# ---- per-text features ---------------------------------------------------------------------
def is_emoji(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _EMOJI_RANGES)


def _counts(text: str) -> tuple[int, int, int]:
    """(non-space characters, emoji, punctuation marks)."""
    chars = [c for c in text if not c.isspace()]
    emoji = sum(1 for c in chars if is_emoji(c))
    punct = sum(1 for c in chars if unicodedata.category(c).startswith("P"))
    return len(chars), emoji, punct


def script_of(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    if name.startswith("CJK"):
        return "HAN"
    for script in _SCRIPTS:
        if name.startswith(script):
            return script
    return "OTHER"


def dominant_script(text: str) -> str | None:
    """The script most letters of ``text`` are written in; None for a text with no letters."""
    counts = Counter(s for s in map(script_of, text) if s)
    return counts.most_common(1)[0][0] if counts else None


def _ngrams(items: Sequence, n: int) -> list[tuple]:
    return [tuple(items[i:i + n]) for i in range(len(items) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over ``texts`` (0 when there are none)."""
    grams = [g for t in texts for g in _ngrams(t.lower().split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def chrf(hypothesis: str, reference: str, max_n: int = 4, beta: float = 2.0) -> float:
    """Character n-gram F-score (Popović 2015), spaces removed, averaged over n = 1..max_n."""
    hyp, ref = "".join(hypothesis.split()), "".join(reference.split())
    if not hyp and not ref:
        return 1.0
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        h, r = Counter(_ngrams(hyp, n)), Counter(_ngrams(ref, n))
        if not h or not r:
            continue
        common = sum((h & r).values())
        precisions.append(common / sum(h.values()))
        recalls.append(common / sum(r.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p == 0 and r == 0:
        return 0.0
    return (1 + beta**2) * p * r / (beta**2 * p + r)


# ---- aggregates ----------------------------------------------------------------------------
def closeness(a: float, b: float) -> float:
    """1 when the two non-negative rates are equal, falling to 0 as one dwarfs the other."""
    top = max(a, b)
    return 1.0 if top <= 0 else 1.0 - abs(a - b) / top


def _rates(texts: Sequence[str]) -> tuple[float, float]:
    chars = emoji = punct = 0
    for text in texts:
        c, e, p = _counts(text)
        chars, emoji, punct = chars + c, emoji + e, punct + p
    if not chars:
        return 0.0, 0.0
    return 100.0 * emoji / chars, 100.0 * punct / chars


def reference_metrics(references: Sequence[str]) -> dict[str, float]:
    """The owner's own rates, the yardstick both sides are compared with."""
    emoji, punct = _rates(references)
    lengths = [len(r) for r in references]
    return {"emoji_rate": emoji, "punctuation_rate": punct,
            "distinct_1": distinct_n(references, 1), "distinct_2": distinct_n(references, 2),
            "mean_length": sum(lengths) / len(lengths) if lengths else 0.0}


def _length_ratio(reply: str, reference: str) -> float:
    return len(reply.strip()) / max(1, len(reference.strip()))


def side_metrics(replies: Sequence[Reply]) -> dict[str, float]:
    """Every metric of one side's replies against their references, and the style score."""
    if not replies:
        raise ValueError("no replies to score")
    texts = [r.text for r in replies]
    refs = [r.reference for r in replies]
    emoji, punct = _rates(texts)
    owner = reference_metrics(refs)
    ratios = [_length_ratio(r.text, r.reference) for r in replies]
    script_hits = [dominant_script(r.text) == dominant_script(r.reference) for r in replies]
    out = {
        "length_ratio": sum(ratios) / len(ratios),
        "emoji_rate": emoji,
        "punctuation_rate": punct,
        "script_match": sum(script_hits) / len(replies),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "stop_rate": sum(r.stopped for r in replies) / len(replies),
        "chrf": sum(chrf(r.text, r.reference) for r in replies) / len(replies),
    }
    parts = {
        "chrf": out["chrf"],
        "length": sum(min(x, 1 / x) if x > 0 else 0.0 for x in ratios) / len(ratios),
        "stop": out["stop_rate"],
        "script": out["script_match"],
        "punctuation": closeness(punct, owner["punctuation_rate"]),
        "emoji": closeness(emoji, owner["emoji_rate"]),
        "distinct": closeness(out["distinct_2"], owner["distinct_2"]),
    }
    out["style_score"] = sum(WEIGHTS[k] * v for k, v in parts.items()) / sum(WEIGHTS.values())
    return out
