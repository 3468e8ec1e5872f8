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
* a record longer than ``max_seq_length`` is handled by the ``truncation`` policy and
  counted in a :class:`TruncationReport` (records over the limit and which, assistant tokens
  and turns a cut removes, and what the policy did): ``truncate`` (default) keeps the start
  and does not train an assistant turn the limit cuts (its partial labels are dropped);
  ``split_turns`` splits the conversation before user turns into records within the limit,
  each starting with the system prompt (a turn too long on its own is truncated as above);
  ``drop`` drops the record. A record left with no assistant token is **dropped with a
  warning** (real datasets have a few overlong chats; failing a long job for them would be
  hostile). If every record is dropped that way, the job fails with ``EMPTY_ASSISTANT_MASK``.
  The report is the same one ``train plan`` and ``dataset stats --base-model`` show
  (:func:`truncation_report`, run by ``truncation_check`` for the service).

Will it stop? A LoRA chat model that never learnt its end-of-turn token never stops talking.
So every trained assistant turn must end (trailing whitespace aside) with the template's
end-of-turn token **inside the labels** (:func:`end_of_turn_ids`: the first special token the
template writes after an assistant reply, e.g. ``<|im_end|>``, ``<|eot_id|>``); a record
where one does not fails the job with ``END_OF_TURN_NOT_TRAINED`` naming the record and the
turn. No truncation policy keeps a trained turn without it: :attr:`Encoded.end_of_turn_coverage`
(trained turns ending with it, after truncation) is 1 whenever anything trains.

Reasoning templates (Qwen3's ``<think>``): the template renders the turn being generated with
a think block (empty when there is no reasoning: ``<think>\n\n</think>\n\n``) but earlier
turns without one. Each assistant turn is therefore trained in the context the model meets at
inference: its own sample, rendered as the template renders the last turn, the empty think
block part of the prompt (what ``enable_thinking=False`` puts there), the reply and its
end-of-turn token the labels. :func:`render_prompt` renders prompts for generation the same
way, so training and inference agree.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tuneforge.client.truncation import REPORTED_INDICES, TruncationReport
from tuneforge.runtime.errors import TuneforgeError, invalid_argument
from tuneforge.services.trainer.config import TRUNCATIONS

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")
_PROBE = "Zq7 probe reply"


@dataclass
class Encoded:
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    source_index: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # record indices cut to no assistant tokens
    truncated: int = 0  # samples longer than max_seq_length
    report: TruncationReport | None = None
    tokens: int = 0
    assistant_tokens: int = 0
    turns: int = 0  # trained assistant turns (label runs) after truncation
    turns_ending: int = 0  # of those, the ones whose labels end with the end-of-turn token

    def as_columns(self) -> dict[str, list]:
        return {"input_ids": self.input_ids, "labels": self.labels}

    @property
    def end_of_turn_coverage(self) -> float:
        """Share of trained assistant turns whose labels end with the end-of-turn token."""
        return self.turns_ending / self.turns if self.turns else 0.0


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


def record_messages(obj: Any, source: str = "train", index: int = 0) -> list[dict[str, Any]]:
    """The normalised messages of one record (``messages`` or ShareGPT ``conversations``)."""
    msgs = obj.get("messages", obj.get("conversations")) if isinstance(obj, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise _data_error(source, index, "expected a non-empty 'messages' list")
    normalized = [_normalize_message(m) for m in msgs]
    if any(m is None for m in normalized):
        raise _data_error(source, index, "every message needs a string role and content")
    return normalized  # type: ignore[return-value]


def iter_jsonl(path: Path, source: str = "train") -> Iterator[tuple[int, Any]]:
    """``(index, object)`` for every non-blank line of a training JSONL (``index`` counts every
    line, so errors name the line). One reader for chat records and preference pairs, so both
    report bad JSON (INVALID_TRAINING_RECORD naming the record) and a file with no records
    (EMPTY_DATASET) alike."""
    seen = False
    with open(path, encoding="utf-8-sig") as fh:
        for index, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise _data_error(source, index, f"not valid JSON ({exc})") from None
            seen = True
            yield index, obj
    if not seen:
        raise invalid_argument("dataset", f"{source} file {path} has no records",
                               reason="EMPTY_DATASET")


def load_records(path: Path, source: str = "train") -> list[list[dict[str, Any]]]:
    """Read a JSONL of ``{"messages": [...]}`` (or ShareGPT ``conversations``) records."""
    return [record_messages(obj, source, index) for index, obj in iter_jsonl(path, source)]


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


def _template(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default", "")
    return template or ""


def has_generation_markers(tokenizer: Any) -> bool:
    return bool(_GENERATION.search(_template(tokenizer)))


def has_reasoning_blocks(tokenizer: Any) -> bool:
    """A template that writes think blocks (Qwen3 style): see the module doc."""
    return "</think>" in _template(tokenizer)


def _render(tokenizer: Any, messages: list, gen: bool, thinking: bool = False) -> str:
    # enable_thinking=False: the prompt a reasoning template ends with an empty think block;
    # every other template ignores the variable.
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen,
                                         enable_thinking=thinking)


def render_prompt(tokenizer: Any, messages: list) -> list[int]:
    """Token ids of the prompt a model answers ``messages`` from, rendered as in training."""
    return list(tokenizer(_render(tokenizer, messages, True), add_special_tokens=False)["input_ids"])


def end_of_turn_ids(tokenizer: Any) -> set[int]:
    """The template's end-of-turn token: the first special token it writes after a reply.

    Falls back to the tokenizer's eos token when the template writes none (then a reply can
    only stop at eos)."""
    text = _render(tokenizer, [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": _PROBE}], False)
    at = text.find(_PROBE)
    if at >= 0:
        specials = set(getattr(tokenizer, "all_special_ids", []) or [])
        specials |= {i for i, t in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items()
                     if getattr(t, "special", False)}
        rest = tokenizer(text[at + len(_PROBE):], add_special_tokens=False)["input_ids"]
        for token in rest:
            if token in specials:
                return {int(token)}
    eos = getattr(tokenizer, "eos_token_id", None)
    return {int(eos)} if eos is not None else set()


def _mask_from_markers(tokenizer: Any, messages: list) -> tuple[list[int], list[int]]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    return list(out["input_ids"]), [int(bool(m)) for m in out["assistant_masks"]]


def _spans_to_mask(tokenizer: Any, text: str, spans: list) -> tuple[list[int], list[int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(s < e_span and e > s_span for s_span, e_span in spans))
            for s, e in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def _turn_span(tokenizer: Any, messages: list, i: int) -> tuple[str, tuple[int, int]]:
    """(messages[:i+1] rendered, the character span of turn i's reply + end token in it)."""
    through = _render(tokenizer, messages[: i + 1], False)
    prefix = _render(tokenizer, messages[:i], True)
    if not through.startswith(prefix):  # a reply with its own reasoning: the think block is trained
        prefix = _render(tokenizer, messages[:i], True, thinking=True)
    if not through.startswith(prefix):
        raise ValueError(
            "the chat template renders a reply differently from its generation prompt, so "
            "assistant tokens cannot be located; use a template with {% generation %} markers")
    return through, (len(prefix), len(through.rstrip()))


def _mask_from_spans(tokenizer: Any, messages: list) -> tuple[list[int], list[int]]:
    text = _render(tokenizer, messages, False)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        through, span = _turn_span(tokenizer, messages, i)
        if not text.startswith(through):
            raise ValueError(
                "the chat template renders earlier turns differently once later turns follow, "
                "so assistant tokens cannot be located; use a template with "
                "{% generation %} markers")
        if span[1] > span[0]:
            spans.append(span)
    return _spans_to_mask(tokenizer, text, spans)


def _per_turn_samples(tokenizer: Any, messages: list) -> list[tuple[list[int], list[int]]]:
    """Reasoning templates: one sample per assistant turn, rendered as the turn being
    generated (see the module doc)."""
    samples = []
    for i, msg in enumerate(messages):
        if msg["role"] == "assistant":
            text, (start, end) = _turn_span(tokenizer, messages, i)
            samples.append(_spans_to_mask(tokenizer, text, [(start, end)] if end > start else []))
    return samples


def label_runs(mask: list[int]) -> list[tuple[int, int]]:
    """(start, end) of every run of trained tokens."""
    runs, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _run_ends_turn(tokenizer: Any, ids: list[int], run: tuple[int, int], eot: set[int]) -> bool:
    for pos in range(run[1] - 1, run[0] - 1, -1):
        if ids[pos] in eot:
            return True
        if tokenizer.decode([ids[pos]]).strip():
            return False
    return False


def _check_end_of_turn(tokenizer: Any, ids: list[int], mask: list[int], eot: set[int],
                       source: str, index: int) -> None:
    for turn, run in enumerate(label_runs(mask)):
        if not _run_ends_turn(tokenizer, ids, run, eot):
            names = ", ".join(tokenizer.convert_ids_to_tokens(sorted(eot))) or "(none)"
            raise _data_error(
                source, index,
                f"trained assistant turn {turn} does not end with the end-of-turn token {names} "
                "inside the labels, so the model would never learn to stop; use a chat template "
                "whose {% generation %} block includes the end-of-turn token",
                reason="END_OF_TURN_NOT_TRAINED")


def _template_mode(tokenizer: Any) -> str:
    if not _template(tokenizer):
        raise invalid_argument("base_model", "the tokenizer has no chat template",
                               reason="NO_CHAT_TEMPLATE")
    reasoning, markers = has_reasoning_blocks(tokenizer), has_generation_markers(tokenizer)
    if (reasoning or not markers) and not getattr(tokenizer, "is_fast", False):
        raise invalid_argument(
            "base_model", "the chat template has no {% generation %} markers (or writes think "
            "blocks) and the tokenizer is not a fast tokenizer, so assistant tokens cannot be "
            "located", reason="CHAT_TEMPLATE_UNSUPPORTED")
    return "per_turn" if reasoning else "markers" if markers else "spans"


def _record_samples(tokenizer: Any, messages: list, mode: str, source: str,
                    index: int) -> list[tuple[list[int], list[int]]]:
    if not any(m["role"] == "assistant" for m in messages):
        raise _data_error(source, index, "no assistant message, nothing to learn from",
                          reason="EMPTY_ASSISTANT_MASK")
    try:
        if mode == "per_turn":
            return _per_turn_samples(tokenizer, messages)
        return [(_mask_from_markers if mode == "markers" else _mask_from_spans)(tokenizer, messages)]
    except ValueError as exc:
        raise _data_error(source, index, f"chat template failed: {exc}",
                          reason="CHAT_TEMPLATE_UNSUPPORTED") from None
    except Exception as exc:  # jinja errors (e.g. roles that must alternate)
        raise _data_error(source, index, f"chat template failed: "
                          f"{type(exc).__name__}: {exc}") from None


def _cut(tokenizer: Any, ids: list[int], mask: list[int], limit: int,
         eot: set[int]) -> tuple[list[int], list[int]]:
    """Keep the first ``limit`` tokens; a label run the cut leaves without its end-of-turn
    token is not trained."""
    if len(ids) <= limit:
        return ids, mask
    ids, mask = ids[:limit], list(mask[:limit])
    for start, end in label_runs(mask):
        if not _run_ends_turn(tokenizer, ids, (start, end), eot):
            mask[start:end] = [0] * (end - start)
    return ids, mask


def _turn_groups(messages: list) -> tuple[list, list[list]]:
    """(system prompt, turns): a turn starts at a user message that follows an assistant reply,
    so a tool call stays with its results."""
    system = messages[:1] if messages[0]["role"] == "system" else []
    groups: list[list] = []
    for msg in messages[len(system):]:
        if not groups or (msg["role"] == "user"
                          and any(m["role"] == "assistant" for m in groups[-1])):
            groups.append([msg])
        else:
            groups[-1].append(msg)
    return system, groups


def _split_turns(tokenizer: Any, messages: list, mode: str, limit: int, eot: set[int],
                 source: str, index: int) -> list[tuple[list[int], list[int]]]:
    """The record as several, split at turn boundaries, each within ``limit`` where one turn
    fits (greedy: as many whole turns as fit), each starting with the system prompt."""
    system, groups = _turn_groups(messages)

    def longest(piece: list) -> int:
        return max(len(ids) for ids, _ in _record_samples(tokenizer, system + piece, mode,
                                                          source, index))

    pieces: list[list] = []
    for group in groups:
        candidate = (pieces[-1] if pieces else []) + group
        if pieces and (not any(m["role"] == "assistant" for m in pieces[-1])
                       or longest(candidate) <= limit):
            pieces[-1] = candidate
        else:
            pieces.append(list(group))
    return [_cut(tokenizer, ids, mask, limit, eot)
            for piece in pieces if any(m["role"] == "assistant" for m in piece)
            for ids, mask in _record_samples(tokenizer, system + piece, mode, source, index)]


def _count_cut(tokenizer: Any, ids: list[int], mask: list[int], limit: int, eot: set[int],
               report: TruncationReport) -> None:
    report.assistant_tokens_cut += sum(mask[limit:])
    for start, end in label_runs(mask):
        if end > limit and (start >= limit
                            or not _run_ends_turn(tokenizer, ids[:limit], (start, limit), eot)):
            report.turns_cut += 1


def encode_records(tokenizer: Any, records: list, max_seq_length: int,
                   source: str = "train", truncation: str = "truncate",
                   indices: list[int] | None = None, allow_empty: bool = False) -> Encoded:
    """Tokenize, mask, check and fit every record to ``max_seq_length`` by the ``truncation``
    policy, counting what that does in ``Encoded.report``; see the module doc. ``indices``:
    the records' indices in their file (default 0, 1, ...), used in errors and the report.
    Nothing left to train is EMPTY_ASSISTANT_MASK unless ``allow_empty``."""
    if truncation not in TRUNCATIONS:
        raise invalid_argument("config.truncation",
                               f"expected one of {', '.join(TRUNCATIONS)}, got {truncation!r}")
    mode = _template_mode(tokenizer)
    eot = end_of_turn_ids(tokenizer)
    out = Encoded(report=TruncationReport(max_seq_length, truncation))
    report = out.report
    for position, messages in enumerate(records):
        index = indices[position] if indices is not None else position
        samples = _record_samples(tokenizer, messages, mode, source, index)
        if not any(any(mask) for _, mask in samples):
            raise _data_error(
                source, index,
                "assistant mask is empty: no token of it counts as the assistant's "
                "(empty replies, or a chat template that does not mark assistant text)",
                reason="EMPTY_ASSISTANT_MASK")
        for ids, mask in samples:
            _check_end_of_turn(tokenizer, ids, mask, eot, source, index)
        report.records += 1
        original = samples
        over = [(ids, mask) for ids, mask in samples if len(ids) > max_seq_length]
        out.truncated += len(over)
        if over:
            report.records_over_limit += 1
            if len(report.record_indices) < REPORTED_INDICES:
                report.record_indices.append(index)
            for ids, mask in over:
                _count_cut(tokenizer, ids, mask, max_seq_length, eot, report)
            if truncation == "drop":
                samples = []
            elif truncation == "split_turns":
                samples = _split_turns(tokenizer, messages, mode, max_seq_length, eot, source,
                                       index)
            else:
                samples = [_cut(tokenizer, ids, mask, max_seq_length, eot) for ids, mask in samples]
        kept = [(ids, mask) for ids, mask in samples if any(mask)]
        if over:
            report.assistant_tokens_lost += (sum(sum(m) for _, m in original)
                                             - sum(sum(m) for _, m in kept))
            if truncation == "split_turns":
                report.records_added_by_split += max(0, len(kept) - len(original))
        for ids, mask in kept:
            runs = label_runs(mask)
            out.turns += len(runs)
            out.turns_ending += sum(_run_ends_turn(tokenizer, ids, r, eot) for r in runs)
            out.input_ids.append(ids)
            out.labels.append([t if m else -100 for t, m in zip(ids, mask)])
            out.source_index.append(index)
            out.tokens += len(ids)
            out.assistant_tokens += sum(mask)
        if not kept:
            out.dropped.append(index)
            report.records_dropped += 1
    report.turns_without_end_of_turn = out.turns - out.turns_ending
    if not out.input_ids and not allow_empty:
        raise invalid_argument(
            "config.max_seq_length",
            f"every {source} record loses all its assistant tokens to max_seq_length="
            f"{max_seq_length} (truncation={truncation}); raise max_seq_length",
            reason="EMPTY_ASSISTANT_MASK")
    return out


def truncation_report(tokenizer: Any, records: list, max_seq_length: int,
                      truncation: str = "truncate") -> TruncationReport:
    """What ``max_seq_length`` and the policy do to ``records``, exactly as training does it
    (the training job's own encoding). A dataset where every record would be dropped gets
    its report too (training would refuse it)."""
    return encode_records(tokenizer, records, max_seq_length, "train", truncation,
                          allow_empty=True).report  # type: ignore[return-value]


def token_pieces(tokenizer: Any, ids: list[int]) -> list[tuple[int, str]]:
    """(index of the first token, text) per piece: one token each, except where a token ends
    inside a multi-byte character (byte-level BPE), which joins the next."""
    pieces, start = [], 0
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[start:end])
        if text.endswith("\ufffd") and end - start < 4 and end < len(ids):
            continue
        pieces.append((start, text))
        start = end
    return pieces


def trained_tokens(tokenizer: Any, messages: list, max_seq_length: int = 4096,
                   ) -> list[list[tuple[str, bool]]]:
    """What training sees of one record: per sample (one, or one per turn for reasoning
    templates), its tokens as ``(text, trained)`` — the job's own masking and checks."""
    enc = encode_records(tokenizer, [messages], max_seq_length, "preview")
    return [[(text, labels[i] != -100) for i, text in token_pieces(tokenizer, ids)]
            for ids, labels in zip(enc.input_ids, enc.labels)]
