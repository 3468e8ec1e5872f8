"""Preference-pair formats (DPO / ORPO data): detection and normalisation.

The shapes public preference datasets come in, each normalised to the one record the trainer
reads (TRL's conversational preference shape)::

    {"prompt": [{"role": "system"|"user"|"assistant", "content": "..."}, ...],   # ends on user
     "chosen": [{"role": "assistant", "content": "..."}],
     "rejected": [{"role": "assistant", "content": "..."}]}

| format                | looks like                                                          |
|-----------------------|---------------------------------------------------------------------|
| `preference`          | ``prompt`` / ``chosen`` / ``rejected`` as text or message lists (UltraFeedback, TRL); without ``prompt``, two full conversations whose shared start is the prompt; optional ``system`` |
| `preference_hh`       | Anthropic HH-RLHF: ``chosen`` / ``rejected`` full transcripts ``\\n\\nHuman: … \\n\\nAssistant: …`` |
| `preference_sharegpt` | LLaMA-Factory's ShareGPT pairs: ``conversations`` + ``chosen`` / ``rejected`` messages (``from``/``value``) |
| `kto`                 | unpaired, labelled answers (KTO data): ``messages`` / ``conversations`` or ``prompt`` + ``completion``, with ``"label": true/false`` (LLaMA-Factory: ``kto_tag``) |

A KTO record is stored as TRL's unpaired shape, the label kept, so that a rejected answer
never becomes a training target of SFT::

    {"prompt": [... ends on user], "completion": [{"role": "assistant", ...}], "label": true|false}

Problems raise :class:`formats.RecordProblem` with the same codes as chat records where they
mean the same (MISSING_FIELD, INVALID_MESSAGE, UNKNOWN_ROLE, EMPTY_CONTENT) plus
INVALID_PREFERENCE (the prompt does not end on a user turn, a side is not one assistant reply,
or chosen equals rejected — a pair that teaches nothing) and INVALID_LABEL (a KTO label that is
not true/false). A forced format on a record without its fields is MISSING_FIELD.
"""

from __future__ import annotations

import re
from typing import Any

FORMATS = ("preference", "preference_hh", "preference_sharegpt", "kto")
KTO_LABEL_KEYS = ("label", "kto_tag")
KTO_TEXT_KEYS = ("messages", "conversations", "completion")
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")
_ROLE_NAMES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
               "model": "assistant", "system": "system", "tool": "tool"}


def _problem(code: str, message: str) -> Exception:
    from tuneforge.services.dataset.formats import RecordProblem

    return RecordProblem(code, message)


def detect(record: Any) -> str | None:
    """A preference format if the record has ``chosen`` and ``rejected``, ``kto`` if it has a
    conversation (or completion) with a true/false ``label`` (or a ``kto_tag``) beside it;
    else None. A labelled conversation is never taken for a plain chat: its label would be
    lost. (A label that is not true/false is metadata, as an intent class is.)"""
    if not isinstance(record, dict):
        return None
    labelled = "kto_tag" in record or isinstance(record.get("label"), bool)
    if labelled and any(k in record for k in KTO_TEXT_KEYS):
        return "kto"
    if "chosen" not in record or "rejected" not in record:
        return None
    if "conversations" in record:
        return "preference_sharegpt"
    chosen = record["chosen"]
    if "prompt" not in record and isinstance(chosen, str) and "Assistant:" in chosen:
        return "preference_hh"
    return "preference"


def _message(msg: Any, where: str) -> dict[str, str]:
    if not isinstance(msg, dict):
        raise _problem("INVALID_MESSAGE", f"{where}: a message must be an object")
    role = msg.get("role", msg.get("from"))
    content = msg.get("content", msg.get("value"))
    role = _ROLE_NAMES.get(str(role).lower()) if isinstance(role, str) else None
    if role is None:
        raise _problem("UNKNOWN_ROLE", f"{where}: unknown role {msg.get('role', msg.get('from'))!r}")
    if not isinstance(content, str):
        raise _problem("INVALID_MESSAGE", f"{where}: content must be text")
    return {"role": role, "content": content}


def _messages(value: Any, where: str, default_role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if isinstance(value, dict):
        return [_message(value, where)]
    if isinstance(value, list) and value:
        return [_message(m, f"{where}[{i}]") for i, m in enumerate(value)]
    raise _problem("MISSING_FIELD", f"{where} must be text or a non-empty list of messages")


def _require(record: dict, *keys: str) -> None:
    missing = [k for k in keys if k not in record or record[k] is None]
    if len(missing) == 1:
        raise _problem("MISSING_FIELD", f"field {missing[0]!r} is missing")
    if missing:
        names = [repr(k) for k in missing]
        raise _problem("MISSING_FIELD", f"fields {', '.join(names[:-1])} and {names[-1]} are missing")


def _finish(prompt: list, chosen: list, rejected: list, system: Any = None) -> dict[str, Any]:
    """Split off a shared prefix, add the system prompt, and check the pair."""
    if system and isinstance(system, str) and (not prompt or prompt[0]["role"] != "system"):
        prompt = [{"role": "system", "content": system}, *prompt]
    if not prompt or prompt[-1]["role"] != "user":
        raise _problem("INVALID_PREFERENCE", "the prompt must end with a user message")
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        if len(side) != 1 or side[0]["role"] != "assistant":
            raise _problem("INVALID_PREFERENCE", f"{name} must be one assistant reply")
        if not side[0]["content"].strip():
            raise _problem("EMPTY_CONTENT", f"the {name} reply is empty")
    if chosen[0]["content"].strip() == rejected[0]["content"].strip():
        raise _problem("INVALID_PREFERENCE", "chosen and rejected are the same reply")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _split_shared(chosen: list, rejected: list) -> tuple[list, list, list]:
    """(shared prompt, chosen tail, rejected tail) of two full conversations."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def _preference(record: dict) -> dict[str, Any]:
    _require(record, "chosen", "rejected")
    chosen = _messages(record["chosen"], "chosen", "assistant")
    rejected = _messages(record["rejected"], "rejected", "assistant")
    if "prompt" in record:
        prompt = _messages(record["prompt"], "prompt", "user")
    else:
        prompt, chosen, rejected = _split_shared(chosen, rejected)
    return _finish(prompt, chosen, rejected, record.get("system"))


def _hh_turns(text: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(text, str):
        raise _problem("MISSING_FIELD", f"{where} must be a Human/Assistant transcript")
    parts = _HH_TURN.split("\n\n" + text.lstrip("\n"))
    if parts[0].strip():
        raise _problem("INVALID_MESSAGE", f"{where}: text before the first Human: turn")
    turns = [{"role": "user" if who == "Human" else "assistant", "content": body.strip()}
             for who, body in zip(parts[1::2], parts[2::2])]
    if not turns:
        raise _problem("INVALID_MESSAGE", f"{where}: no Human:/Assistant: turns")
    return turns


def _preference_hh(record: dict) -> dict[str, Any]:
    _require(record, "chosen", "rejected")
    prompt, chosen, rejected = _split_shared(_hh_turns(record["chosen"], "chosen"),
                                             _hh_turns(record["rejected"], "rejected"))
    return _finish(prompt, chosen, rejected)


def _preference_sharegpt(record: dict) -> dict[str, Any]:
    _require(record, "conversations", "chosen", "rejected")
    prompt = _messages(record["conversations"], "conversations", "user")
    return _finish(prompt, _messages(record["chosen"], "chosen", "assistant"),
                   _messages(record["rejected"], "rejected", "assistant"), record.get("system"))


def _kto(record: dict) -> dict[str, Any]:
    """One labelled answer: the conversation's last assistant turn is the completion."""
    key = next((k for k in KTO_LABEL_KEYS if k in record), None)
    if key is None:
        raise _problem("MISSING_FIELD", "field 'label' (true/false) is missing")
    label = record[key]
    if not isinstance(label, bool):
        raise _problem("INVALID_LABEL", f"{key!r} must be true or false (a KTO label), not {label!r}")
    if "completion" in record:
        _require(record, "prompt")
        prompt = _messages(record["prompt"], "prompt", "user")
        completion = _messages(record["completion"], "completion", "assistant")
    else:
        where = "messages" if "messages" in record else "conversations"
        turns = _messages(record.get(where), where, "user")
        prompt, completion = turns[:-1], turns[-1:]
    if isinstance(record.get("system"), str) and record["system"].strip() and (
            not prompt or prompt[0]["role"] != "system"):
        prompt = [{"role": "system", "content": record["system"]}, *prompt]
    if not prompt or prompt[-1]["role"] != "user":
        raise _problem("INVALID_PREFERENCE", "the prompt must end with a user message")
    if len(completion) != 1 or completion[0]["role"] != "assistant":
        raise _problem("NO_ASSISTANT_MESSAGE", "a KTO example must end with one assistant reply")
    if not completion[0]["content"].strip():
        raise _problem("EMPTY_CONTENT", "the assistant reply is empty")
    return {"prompt": prompt, "completion": completion, "label": label}


NORMALISERS = {"preference": _preference, "preference_hh": _preference_hh,
               "preference_sharegpt": _preference_sharegpt, "kto": _kto}


def size(record: dict[str, Any]) -> int:
    """Characters of a normalised pair or KTO example (for the import's max_record_chars limit)."""
    return sum(len(m["content"]) for key in ("prompt", "chosen", "rejected", "completion")
               for m in record.get(key, ()))


def is_preference(record: dict[str, Any]) -> bool:
    """Whether a normalised record is a pair (stats and the trainer tell them apart so)."""
    return "chosen" in record and "rejected" in record


def is_kto(record: dict[str, Any]) -> bool:
    """Whether a normalised record is one labelled KTO example."""
    return "completion" in record and isinstance(record.get("label"), bool)


def longest_conversation(record: dict[str, Any]) -> dict[str, Any]:
    """The prompt with the longer reply, as a chat record: what a pair costs in tokens (the
    trainer scores prompt + chosen and prompt + rejected as separate rows); a KTO example's
    prompt + completion."""
    if is_kto(record):
        return {"messages": [*record["prompt"], *record["completion"]], "source": record.get("source")}
    side = max((record["chosen"], record["rejected"]),
               key=lambda msgs: sum(len(m["content"]) for m in msgs))
    return {"messages": [*record["prompt"], *side], "source": record.get("source")}

