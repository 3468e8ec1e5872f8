"""GRPO's rewards, declared as data: their shape, their checks, and the functions TRL calls.

No user Python runs inside the training worker: a GRPO run names its rewards from a closed
set of built-ins (``config.rewards``, the proto's ``RewardFunction``) and, for anything else,
an HTTP endpoint the owner runs. Each built-in scores one sampled reply in [0, 1]:

| kind    | 1.0 when                                                    | reads                       |
|---------|-------------------------------------------------------------|-----------------------------|
| format  | it ends with the end-of-turn token (0.5) and leaks no special token / role marker (0.5) | the raw token ids |
| length  | its visible text has min_chars..max_chars characters (linear fall-off outside) | the text |
| chrf    | chrF against the owner's real reply (style_metrics.chrf)    | the record's last assistant turn |
| regex   | ``pattern`` is found (``must_not_match``: is not)           | the text                    |
| http    | (the endpoint decides: ``{"rewards": [..]}``, one number per completion) | everything   |

TRL weights them (``reward_weights``) and logs ``reward`` and ``rewards/<name>/mean``; the
worker's events callback forwards those as metrics. An endpoint that fails (refused, slow,
too large, malformed) fails the step and so the job, with the reason: a reward that silently
became 0 would train the adapter on nothing. Torch-free; the parse/check half is used by
config.py.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

from tuneforge.runtime.errors import FieldViolation, unavailable

KINDS = ("format", "length", "chrf", "regex", "http")
KEYS = ("kind", "weight", "name", "min_chars", "max_chars", "pattern", "must_not_match", "url",
        "timeout_seconds", "max_response_bytes")
MAX_REWARDS = 16
MAX_PATTERN_CHARS = 1000
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
MAX_RESPONSE_BYTES_LIMIT = 64 << 20
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Markers of chat templates a reply must never contain as text (besides the tokenizer's own
# special tokens): a reply that writes them started another turn or echoed the template.
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>",
                    "<|eot_id|>", "<start_of_turn>", "<end_of_turn>", "[INST]", "[/INST]",
                    "<|user|>", "<|assistant|>", "<|system|>", "<|endoftext|>")


# ---- shape ---------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    text = str(value or "").strip().lower()
    return text.removeprefix("kind_")


def parse(value: Any) -> list[dict[str, Any]]:
    """A list of reward objects (typed, a JSON list as text) in canonical form: ``kind`` as
    its short lower-case name, numbers as numbers; unset keys absent. Raises ValueError."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError("expected a JSON list of reward objects, e.g. "
                             '[{"kind": "format", "weight": 1}]') from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of reward objects, got {value!r}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"rewards[{i}] must be an object with a kind, got {item!r}")
        unknown = [k for k in item if k not in KEYS]
        if unknown:
            raise ValueError(f"rewards[{i}] has unknown key(s) {', '.join(map(str, unknown))}; "
                             f"keys: {', '.join(KEYS)}")
        out.append(_canonical(i, item))
    return out


def _canonical(i: int, item: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"kind": _kind(item.get("kind"))}
    for key, cast in (("weight", float), ("min_chars", int), ("max_chars", int),
                      ("timeout_seconds", float), ("max_response_bytes", int)):
        raw = item.get(key)
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool):
            raise ValueError(f"rewards[{i}].{key}: expected a number, got {raw!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"rewards[{i}].{key}: expected a number, got {raw!r}") from None
        if cast is int and not number.is_integer():
            raise ValueError(f"rewards[{i}].{key}: expected an integer, got {raw!r}")
        spec[key] = cast(number)
    for key in ("name", "pattern", "url"):
        if item.get(key) not in (None, ""):
            spec[key] = str(item[key])
    if item.get("must_not_match") is not None:
        raw = item["must_not_match"]
        spec["must_not_match"] = (raw if isinstance(raw, bool)
                                  else str(raw).strip().lower() in ("1", "true", "yes", "on"))
    return spec


def names(specs: Sequence[dict[str, Any]]) -> list[str]:
    """Each reward's metric name: its ``name``, else its kind (``_<index>`` when repeated)."""
    kinds = [s.get("kind") for s in specs]
    return [s.get("name") or (s["kind"] if kinds.count(s["kind"]) == 1 else f"{s['kind']}_{i}")
            for i, s in enumerate(specs)]


def weight(spec: dict[str, Any]) -> float:
    return float(spec.get("weight", 1.0))


# ---- checks --------------------------------------------------------------------------------
def check(specs: Sequence[dict[str, Any]], field: str = "config.rewards") -> list[FieldViolation]:
    """Every problem of a reward list, each naming its field (``config.rewards[1].pattern``)."""
    v: list[FieldViolation] = []
    if len(specs) > MAX_REWARDS:
        v.append(FieldViolation(field, f"at most {MAX_REWARDS} rewards, got {len(specs)}"))
    for i, spec in enumerate(specs):
        v += _check_one(spec, f"{field}[{i}]")
    if specs and not v and not any(weight(s) > 0 for s in specs):
        v.append(FieldViolation(field, "every weight is 0: at least one reward must count"))
    seen: set[str] = set()
    for i, name in enumerate(names(specs)):
        if name in seen:
            v.append(FieldViolation(f"{field}[{i}].name", f"{name!r} is used twice; names "
                                    "label the metrics and must differ"))
        seen.add(name)
    return v


def _check_one(spec: dict[str, Any], at: str) -> list[FieldViolation]:
    v: list[FieldViolation] = []

    def bad(key: str, why: str) -> None:
        v.append(FieldViolation(f"{at}.{key}", why))

    kind = spec.get("kind")
    if kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}, got {kind or 'nothing'!r}")
    w = weight(spec)
    if not math.isfinite(w) or w < 0:
        bad("weight", f"must be a finite number >= 0, got {w}")
    if "name" in spec and not _NAME.match(spec["name"]):
        bad("name", "1-64 letters, digits, '_' or '-'")
    if kind == "length":
        lo, hi = spec.get("min_chars"), spec.get("max_chars")
        if lo is None and hi is None:
            bad("min_chars", "a length reward needs min_chars, max_chars or both")
        for key, value in (("min_chars", lo), ("max_chars", hi)):
            if value is not None and value < 0:
                bad(key, f"must be >= 0, got {value}")
        if lo is not None and hi is not None and hi < lo:
            bad("max_chars", f"must be >= min_chars ({lo}), got {hi}")
    if kind == "regex":
        pattern = spec.get("pattern") or ""
        if not pattern:
            bad("pattern", "a regex reward needs a pattern")
        elif len(pattern) > MAX_PATTERN_CHARS:
            bad("pattern", f"at most {MAX_PATTERN_CHARS} characters, got {len(pattern)}")
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                bad("pattern", f"not a valid regular expression: {exc}")
    if kind == "http":
        url = spec.get("url") or ""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            bad("url", f"must be an http:// or https:// URL with a host, got {url!r}")
        t = spec.get("timeout_seconds")
        if t is not None and not (0 < t <= MAX_TIMEOUT_SECONDS):
            bad("timeout_seconds", f"must be in (0, {MAX_TIMEOUT_SECONDS:g}], got {t}")
        cap = spec.get("max_response_bytes")
        if cap is not None and not (0 < cap <= MAX_RESPONSE_BYTES_LIMIT):
            bad("max_response_bytes", f"must be in (0, {MAX_RESPONSE_BYTES_LIMIT}], got {cap}")
    for key, kinds in (("pattern", ("regex",)), ("url", ("http",)),
                       ("min_chars", ("length",)), ("max_chars", ("length",))):
        if key in spec and kind in KINDS and kind not in kinds:
            bad(key, f"is for a {' / '.join(kinds)} reward, not {kind}")
    return v


# ---- the built-in scores (one reply each) --------------------------------------------------
def format_score(raw: str, end_markers: Sequence[str], leak_markers: Sequence[str]) -> float:
    """0.5 for ending with an end-of-turn marker + 0.5 for leaking no marker before it."""
    text = raw.rstrip()
    body, ends = text, False
    for marker in end_markers:
        if marker and text.endswith(marker):
            body, ends = text[: -len(marker)], True
            break
    leaks = any(m and m in body for m in leak_markers)
    return 0.5 * ends + 0.5 * (not leaks)


def length_score(text: str, min_chars: int | None, max_chars: int | None) -> float:
    n = len(text.strip())
    if min_chars is not None and n < min_chars:
        return max(0.0, 1.0 - (min_chars - n) / max(min_chars, 1))
    if max_chars is not None and n > max_chars:
        return max(0.0, 1.0 - (n - max_chars) / max(max_chars, 1))
    return 1.0


def chrf_score(text: str, reference: str) -> float:
    from tuneforge.services.trainer.style_metrics import chrf

    return chrf(text, reference)


def regex_score(text: str, pattern: re.Pattern, must_not_match: bool) -> float:
    found = pattern.search(text) is not None
    return float(found != must_not_match)


def http_rewards(url: str, prompts: list, completions: list[str], references: list,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> list[float]:
    """POST the batch as JSON, read ``{"rewards": [...]}`` (one finite number per completion).
    Raises UNAVAILABLE (REWARD_ENDPOINT_FAILED) saying why on anything else."""
    body = json.dumps({"prompts": prompts, "completions": completions,
                       "references": references}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})

    def fail(why: str):
        return unavailable("REWARD_ENDPOINT_FAILED", f"reward endpoint {url}: {why}", url=url)

    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - checked scheme
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise fail(f"answer of {int(length)} bytes is over max_response_bytes={max_bytes}")
            data = resp.read(max_bytes + 1)
    except TimeoutError:
        raise fail(f"no answer within timeout_seconds={timeout:g}") from None
    except urllib.error.HTTPError as exc:
        raise fail(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise fail(f"no answer within timeout_seconds={timeout:g}") from None
        raise fail(f"cannot connect: {exc.reason}") from None
    if len(data) > max_bytes:
        raise fail(f"answer is over max_response_bytes={max_bytes}")
    try:
        rewards = json.loads(data.decode("utf-8"))["rewards"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise fail('answer is not JSON of the form {"rewards": [...]}') from None
    if not isinstance(rewards, list) or len(rewards) != len(completions):
        raise fail(f"expected {len(completions)} rewards, got "
                   f"{len(rewards) if isinstance(rewards, list) else type(rewards).__name__}")
    out = []
    for r in rewards:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r):
            raise fail(f"every reward must be a finite number, got {r!r}")
        out.append(float(r))
    return out


# ---- TRL's reward functions ----------------------------------------------------------------
def _text(completion: Any) -> str:
    """A completion's visible text: TRL passes ``[{"role": "assistant", "content": ...}]`` for
    conversational prompts, a string otherwise."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


def leak_markers(tokenizer: Any) -> list[str]:
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    specials |= {str(t) for t in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values()
                 if getattr(t, "special", False)}
    return sorted(specials | set(TEMPLATE_MARKERS))


def functions(specs: Sequence[dict[str, Any]], tokenizer: Any) -> list[Callable[..., list[float]]]:
    """One callable per reward, in TRL's signature, named for its metric."""
    from tuneforge.services.trainer.chat_data import end_of_turn_ids

    ends = [tokenizer.decode([i]) for i in sorted(end_of_turn_ids(tokenizer))]
    leaks = leak_markers(tokenizer)
    out = []
    for spec, name in zip(specs, names(specs)):
        fn = _function(spec, tokenizer, ends, leaks)
        fn.__name__ = name
        out.append(fn)
    return out


def _function(spec: dict[str, Any], tokenizer: Any, ends: list[str], leaks: list[str]):
    kind = spec["kind"]
    if kind == "format":
        def score(prompts, completions, completion_ids=None, **kw):
            raws = ([tokenizer.decode(ids, skip_special_tokens=False) for ids in completion_ids]
                    if completion_ids is not None else [_text(c) for c in completions])
            return [format_score(r, ends, leaks) for r in raws]
    elif kind == "length":
        def score(prompts, completions, **kw):
            return [length_score(_text(c), spec.get("min_chars"), spec.get("max_chars"))
                    for c in completions]
    elif kind == "chrf":
        def score(prompts, completions, reference=None, **kw):
            refs = reference or [""] * len(completions)
            return [chrf_score(_text(c), r or "") for c, r in zip(completions, refs)]
    elif kind == "regex":
        pattern = re.compile(spec["pattern"])

        def score(prompts, completions, **kw):
            return [regex_score(_text(c), pattern, bool(spec.get("must_not_match")))
                    for c in completions]
    elif kind == "http":
        def score(prompts, completions, reference=None, **kw):
            return http_rewards(spec["url"], list(prompts), [_text(c) for c in completions],
                                list(reference or [None] * len(completions)),
                                float(spec.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
                                int(spec.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES))
    else:  # checked before a worker starts
        raise ValueError(f"unknown reward kind {kind!r}")
    return score
