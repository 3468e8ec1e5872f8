"""Preference pairs for DPO / ORPO and labelled answers for KTO: the stored record shapes,
their checks and loading.

A stored preference dataset (``data.jsonl``) holds one pair per line in TRL's conversational
preference shape, which is also what ``dataset import`` writes for every preference format it
recognises (services/dataset/preference_formats.py)::

    {"prompt": [{"role": "user", "content": "..."}, ...],
     "chosen": [{"role": "assistant", "content": "..."}],
     "rejected": [{"role": "assistant", "content": "..."}]}

The prompt is the conversation so far (system and earlier turns included); chosen and
rejected are the competing final replies. Checks are the same for import and training, so a
record that imported cleanly never fails the job: a non-empty prompt that ends on a user turn,
one non-empty assistant reply on each side, and replies that differ (an identical pair teaches
nothing and makes DPO's loss constant).

A stored KTO dataset holds one labelled answer per line, TRL's unpaired shape (what ``dataset
import`` writes for the ``kto`` format and ``dataset prefer --from-eval --kto`` emits)::

    {"prompt": [...], "completion": [{"role": "assistant", "content": "..."}], "label": true}

``label`` true = a desirable answer, false = an undesirable one. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, invalid_argument
from tuneforge.services.trainer.chat_data import iter_jsonl

ROLES = ("system", "user", "assistant", "tool")


def _message(msg: Any) -> dict[str, str] | None:
    if not isinstance(msg, dict):
        return None
    role, content = msg.get("role"), msg.get("content")
    if role not in ROLES or not isinstance(content, str):
        return None
    return {"role": role, "content": content}


def check_pair(obj: Any) -> tuple[dict[str, list[dict[str, str]]] | None, str | None]:
    """(the normalised pair, None) or (None, why it is not a usable pair)."""
    if not isinstance(obj, dict):
        return None, "expected an object with prompt, chosen and rejected"
    out: dict[str, list[dict[str, str]]] = {}
    for key in ("prompt", "chosen", "rejected"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            return None, f"{key!r} must be a non-empty list of messages"
        msgs = [_message(m) for m in value]
        if any(m is None for m in msgs):
            return None, f"every message in {key!r} needs a known role and string content"
        out[key] = msgs  # type: ignore[assignment]
    if out["prompt"][-1]["role"] != "user":
        return None, "the prompt must end with a user message"
    for key in ("chosen", "rejected"):
        if len(out[key]) != 1 or out[key][0]["role"] != "assistant":
            return None, f"{key!r} must be exactly one assistant message"
        if not out[key][0]["content"].strip():
            return None, f"the {key} reply is empty"
    if out["chosen"][0]["content"].strip() == out["rejected"][0]["content"].strip():
        return None, "chosen and rejected are the same reply"
    return out, None


def pair(prompt: list[dict[str, str]], chosen: str, rejected: str) -> dict[str, Any]:
    """A stored record from a prompt conversation and two reply texts."""
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def check_kto(obj: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the normalised labelled answer, None) or (None, why it is not a usable KTO example)."""
    if not isinstance(obj, dict):
        return None, "expected an object with prompt, completion and label"
    if not isinstance(obj.get("label"), bool):
        return None, "'label' must be true or false (a desirable or undesirable answer)"
    out: dict[str, Any] = {}
    for key in ("prompt", "completion"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            return None, f"{key!r} must be a non-empty list of messages"
        msgs = [_message(m) for m in value]
        if any(m is None for m in msgs):
            return None, f"every message in {key!r} needs a known role and string content"
        out[key] = msgs
    if out["prompt"][-1]["role"] != "user":
        return None, "the prompt must end with a user message"
    if len(out["completion"]) != 1 or out["completion"][0]["role"] != "assistant":
        return None, "'completion' must be exactly one assistant message"
    if not out["completion"][0]["content"].strip():
        return None, "the completion is empty"
    out["label"] = obj["label"]
    return out, None


def labelled(prompt: list[dict[str, str]], completion: str, label: bool) -> dict[str, Any]:
    """A stored KTO record from a prompt conversation, one reply text and its label."""
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": completion}],
            "label": bool(label)}


def _error(source: str, index: int, why: str) -> TuneforgeError:
    where = f"{source} record {index} (line {index + 1})"
    return invalid_argument("dataset", f"{where}: {why}", reason="INVALID_TRAINING_RECORD",
                            message=f"{where}: {why}")


def is_preference_file(path: Path) -> bool:
    """Whether the first record of a JSONL file is a preference pair (the shape, not checks)."""
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    return False
                return isinstance(obj, dict) and {"chosen", "rejected"} <= set(obj)
    return False


def load_pairs(path: Path, source: str = "train") -> list[dict[str, Any]]:
    """Every record of a preference JSONL, checked; INVALID_TRAINING_RECORD names the first
    bad one, EMPTY_DATASET when there is none."""
    pairs = []
    for index, obj in iter_jsonl(path, source):
        checked, why = check_pair(obj)
        if checked is None:
            if isinstance(obj, dict) and "messages" in obj:
                why = ("a chat record, not a preference pair: method=dpo/orpo needs "
                       "prompt/chosen/rejected records (import a preference dataset, or "
                       "train with method=lora)")
            raise _error(source, index, why or "not a preference pair")
        pairs.append(checked)
    return pairs


def load_labelled(path: Path, source: str = "train") -> list[dict[str, Any]]:
    """Every record of a KTO JSONL, checked; INVALID_TRAINING_RECORD names the first bad one
    (a chat or a pair says which method it is for), EMPTY_DATASET when there is none."""
    examples = []
    for index, obj in iter_jsonl(path, source):
        checked, why = check_kto(obj)
        if checked is None:
            if isinstance(obj, dict) and "messages" in obj:
                why = ("a chat record, not a labelled answer: method=kto needs "
                       "prompt/completion/label records (import a KTO dataset, or train with "
                       "method=lora)")
            elif isinstance(obj, dict) and {"chosen", "rejected"} <= set(obj):
                why = ("a preference pair, not a labelled answer: method=kto needs "
                       "prompt/completion/label records (train pairs with method=dpo)")
            raise _error(source, index, why or "not a labelled answer")
        examples.append(checked)
    return examples
