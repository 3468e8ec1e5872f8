"""Chat records → token ids + labels that carry loss on assistant tokens only.

Runs in the training worker (it needs a tokenizer). Every record is rendered with the base
model's chat template. Which tokens are the assistant's:

* the template has ``{% generation %}`` markers (our tiny model; many fine-tuning templates):
  the tokenizer's own ``return_assistant_tokens_mask`` is used;
* it has none (the stock Qwen2.5 / Llama 3 templates): the mask is computed from character
  spans — for each assistant turn, the text rendered up to the turn's generation prompt and the
  text rendered through the turn give its span (content + end-of-turn token, trailing
  whitespace excluded); tokens overlapping a span are the assistant's. Needs a fast tokenizer
  and a template whose renderings are prefixes of each other (a clear error says so if not).

The mask is checked, not trusted. Policy:

* a record whose assistant mask is empty **before** truncation (no assistant turn, empty
  replies, a template that hides assistant text) fails the job with ``EMPTY_ASSISTANT_MASK``
  naming the record — that is a data or template bug, and training would silently learn
  nothing from it;
* a record whose assistant tokens are all cut off by ``max_seq_length`` is **dropped with a
  warning** (real datasets have a few overlong chats; failing a long job for them would be
  hostile). If every record is dropped that way, the job fails with ``EMPTY_ASSISTANT_MASK``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, invalid_argument

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass
class Encoded:
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    source_index: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # record indices cut to no assistant tokens
    truncated: int = 0
    tokens: int = 0
    assistant_tokens: int = 0

    def as_columns(self) -> dict[str, list]:
        return {"input_ids": self.input_ids, "labels": self.labels}


def _data_error(source: str, index: int, why: str, reason: str = "INVALID_TRAINING_RECORD",
                field_name: str = "dataset") -> TuneforgeError:
    return invalid_argument(field_name, f"{source} record {index} (line {index + 1}): {why}",
                            reason=reason,
                            message=f"{source} record {index} (line {index + 1}): {why}")


def _normalize_message(msg: Any) -> dict[str, Any] | None:
    if not isinstance(msg, dict):
        return None
    role = msg.get("role", msg.get("from"))
    content = msg.get("content", msg.get("value"))
    role = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}.get(
        role, role)
    if isinstance(content, list):  # OpenAI content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(role, str) or not isinstance(content, str):
        return None
    out = {k: v for k, v in msg.items() if k not in ("from", "value")}
    out["role"], out["content"] = role, content
    return out


def load_records(path: Path, source: str = "train") -> list[list[dict[str, Any]]]:
    """Read a JSONL of ``{"messages": [...]}`` (or ShareGPT ``conversations``) records."""
    records = []
    with open(path, encoding="utf-8-sig") as fh:
        for index, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise _data_error(source, index, f"not valid JSON ({exc})") from None
            msgs = obj.get("messages", obj.get("conversations")) if isinstance(obj, dict) else None
            if not isinstance(msgs, list) or not msgs:
                raise _data_error(source, index, "expected a non-empty 'messages' list")
            normalized = [_normalize_message(m) for m in msgs]
            if any(m is None for m in normalized):
                raise _data_error(source, index, "every message needs a string role and content")
            records.append(normalized)
    if not records:
        raise invalid_argument("dataset", f"{source} file {path} has no records",
                               reason="EMPTY_DATASET")
    return records


def split_validation(records: list, fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``fraction`` of the records (at least one) for eval loss, deterministically."""
    if fraction <= 0 or len(records) < 2:
        return records, []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_val = min(len(records) - 1, max(1, round(len(records) * fraction)))
    held = set(order[:n_val])
    return ([r for i, r in enumerate(records) if i not in held],
            [r for i, r in enumerate(records) if i in held])


def has_generation_markers(tokenizer: Any) -> bool:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default", "")
    return bool(template) and bool(_GENERATION.search(template))


def _mask_from_markers(tokenizer: Any, messages: list) -> tuple[list[int], list[int]]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    return list(out["input_ids"]), [int(bool(m)) for m in out["assistant_masks"]]


def _mask_from_spans(tokenizer: Any, messages: list) -> tuple[list[int], list[int]]:
    def render(msgs: list, gen: bool) -> str:
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    text = render(messages, False)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix, through = render(messages[:i], True), render(messages[: i + 1], False)
        if not (through.startswith(prefix) and text.startswith(through)):
            raise ValueError(
                "the chat template renders earlier turns differently once later turns follow, "
                "so assistant tokens cannot be located; use a template with "
                "{% generation %} markers")
        end = len(through.rstrip())
        if end > len(prefix):
            spans.append((len(prefix), end))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(s < e_span and e > s_span for s_span, e_span in spans))
            for s, e in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def encode_records(tokenizer: Any, records: list, max_seq_length: int,
                   source: str = "train") -> Encoded:
    """Tokenize, mask and truncate (keep the start) every record; see the module doc."""
    if not getattr(tokenizer, "chat_template", None):
        raise invalid_argument("base_model", "the tokenizer has no chat template",
                               reason="NO_CHAT_TEMPLATE")
    markers = has_generation_markers(tokenizer)
    if not markers and not getattr(tokenizer, "is_fast", False):
        raise invalid_argument(
            "base_model", "the chat template has no {% generation %} markers and the "
            "tokenizer is not a fast tokenizer, so assistant tokens cannot be located",
            reason="CHAT_TEMPLATE_UNSUPPORTED")
    out = Encoded()
    for index, messages in enumerate(records):
        if not any(m["role"] == "assistant" for m in messages):
            raise _data_error(source, index, "no assistant message, nothing to learn from",
                              reason="EMPTY_ASSISTANT_MASK")
        try:
            ids, mask = (_mask_from_markers if markers else _mask_from_spans)(tokenizer, messages)
        except ValueError as exc:
            raise _data_error(source, index, f"chat template failed: {exc}",
                              reason="CHAT_TEMPLATE_UNSUPPORTED") from None
        except Exception as exc:  # jinja errors (e.g. roles that must alternate)
            raise _data_error(source, index, f"chat template failed: "
                              f"{type(exc).__name__}: {exc}") from None
        if not any(mask):
            raise _data_error(
                source, index,
                "assistant mask is empty: no token of it counts as the assistant's "
                "(empty replies, or a chat template that does not mark assistant text)",
                reason="EMPTY_ASSISTANT_MASK")
        if len(ids) > max_seq_length:
            out.truncated += 1
            ids, mask = ids[:max_seq_length], mask[:max_seq_length]
            if not any(mask):
                out.dropped.append(index)
                continue
        out.input_ids.append(ids)
        out.labels.append([t if m else -100 for t, m in zip(ids, mask)])
        out.source_index.append(index)
        out.tokens += len(ids)
        out.assistant_tokens += sum(mask)
    if not out.input_ids:
        raise invalid_argument(
            "config.max_seq_length",
            f"every {source} record loses all its assistant tokens when truncated to "
            f"{max_seq_length} tokens; raise max_seq_length",
            reason="EMPTY_ASSISTANT_MASK")
    return out
