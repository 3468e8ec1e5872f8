"""Dataset record formats: detection and normalisation to the chat ``messages`` shape.

Every common fine-tuning format maps to one normalised record, the shape TRL and the OpenAI
fine-tuning API consume::

    {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "...",
                   "name"?: str, "weight"?: 0|1}, ...]}

except plain text for continued pre-training, which stays ``{"text": "..."}``.

Validation follows the OpenAI cookbook's checks, each with a stable code (``RecordProblem``):
NOT_AN_OBJECT, MISSING_MESSAGES, INVALID_MESSAGE, UNKNOWN_ROLE, MISSING_CONTENT,
INVALID_CONTENT, EMPTY_CONTENT, UNKNOWN_KEYS (inside a message), INVALID_WEIGHT,
NO_ASSISTANT_MESSAGE, MISSING_FIELD, TOO_LONG, UNKNOWN_FORMAT. Record-level keys that are
not part of a format (ids, sources, metadata) are tolerated; a string ``source`` is kept.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from tuneforge.services.dataset import preference_formats

FORMATS = (
    "messages", "sharegpt", "alpaca", "prompt_completion", "vertex", "instruction_output",
    "question_answer", "text_label", "text", *preference_formats.FORMATS,
)  # fmt: skip
# question_answer: the pair shapes public datasets and FAQ tables use, first match wins.
QA_USER_KEYS = ("question", "query", "prompt", "instruction", "input", "questions")
QA_ASSISTANT_KEYS = ("answer", "response", "completion", "output", "target", "answers")
ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
    "system": "system", "tool": "tool", "function": "tool", "observation": "tool",
    "function_call": "assistant",
}  # fmt: skip
# What :func:`normalise` counts in ``notes`` (kept or dropped in a way a user should hear about).
NOTE_TEXT = {
    "IMAGES_DROPPED": "images referenced by records (images, image parts) are not trained on; the text is kept",
    "IMAGE_PLACEHOLDERS": "<image> placeholders in the text are kept as text, without their images",
    "TOOL_CALLS": "tool calls (function_call turns) carried as assistant tool_calls, OpenAI style",
    "TOOL_DEFINITIONS": "records with tool definitions (tools) carried as 'tools'",
}
IMAGE_KEYS = ("images", "image", "videos", "video")


class RecordProblem(Exception):
    """One invalid record: a stable code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def detect(record: Any) -> str | None:
    """The format a record looks like, by its keys; ``None`` if none fits."""
    if not isinstance(record, dict):
        return None
    if preference := preference_formats.detect(record):
        return preference
    keys = record.keys()
    if "conversations" in keys:
        return "sharegpt"
    if "messages" in keys:
        msgs = record["messages"]
        if (
            isinstance(msgs, list)
            and msgs
            and isinstance(msgs[0], dict)
            and "from" in msgs[0]
        ):
            return "sharegpt"
        return "messages"
    if "instruction" in keys and "output_text" in keys:
        return "instruction_output"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    if "input_text" in keys and "output_text" in keys:
        return "vertex"
    if any(k in keys for k in QA_USER_KEYS) and any(k in keys for k in QA_ASSISTANT_KEYS):
        return "question_answer"
    if "text" in keys and "label" in keys:
        return "text_label"
    if "text" in keys:
        return "text"
    return None


def formats_that_fit(record: Any) -> list[str]:
    """The formats a record passes when forced (what an unknown-format error may suggest)."""
    fits = []
    for fmt in FORMATS:
        try:
            normalise(record, fmt)
        except RecordProblem:
            continue
        fits.append(fmt)
    return fits


def normalise(
    record: Any, fmt: str, max_chars: int = 0, notes: Counter[str] | None = None
) -> dict[str, Any]:
    """Validate ``record`` as ``fmt`` and return the normalised record, or raise RecordProblem.

    Tool definitions (``tools``) and tool calls travel into the output the way OpenAI's
    fine-tuning format carries them; images cannot be trained on and are counted in
    ``notes`` (codes of :data:`NOTE_TEXT`) so that nothing is dropped without a word.
    """
    if not isinstance(record, dict):
        raise RecordProblem(
            "NOT_AN_OBJECT", f"record is {_kind(record)}, not an object"
        )
    try:
        fn = _NORMALISERS.get(fmt) or preference_formats.NORMALISERS[fmt]
    except KeyError:
        raise RecordProblem("UNKNOWN_FORMAT", f"unknown format {fmt!r}") from None
    out = fn(record)
    image_parts = out.pop("_image_parts", 0)
    if isinstance(record.get("source"), str) and record["source"]:
        out["source"] = record["source"]
    if record.get("tools") and "messages" in out:
        out["tools"] = _tools(record["tools"])
    if notes is not None:
        _count_notes(record, out, notes, image_parts)
    if max_chars:
        size = (
            len(out["text"])
            if "text" in out
            else preference_formats.size(out)
            if "prompt" in out  # a preference pair or a KTO example
            else sum(len(m["content"]) for m in out["messages"])
        )
        if size > max_chars:
            raise RecordProblem(
                "TOO_LONG", f"record has {size} characters, limit is {max_chars}"
            )
    return out


def _tools(value: Any) -> list[dict[str, Any]]:
    """Tool definitions as OpenAI's ``[{"type": "function", "function": {...}}]``; LLaMA-Factory
    writes them as a JSON string of bare function schemas."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordProblem("INVALID_TOOLS", f"'tools' is not valid JSON: {exc.msg}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RecordProblem("INVALID_TOOLS", "'tools' must be an array of function definitions")
    out = []
    for i, tool in enumerate(value):
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            fn = tool["function"]
        else:
            fn = tool
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise RecordProblem("INVALID_TOOLS", f"tools[{i}] has no function name")
        out.append({"type": "function", "function": fn})
    return out


def _count_notes(record: dict, out: dict[str, Any], notes: Counter[str], image_parts: int) -> None:
    """Count what a record carries that is not trained on. An image is counted once: image
    content parts and ``<image>`` placeholders refer to the images of the record's ``images``
    list, so a record drops as many images as it lists (or, without a list, has parts)."""
    listed = sum(len(v) if isinstance(v, list) else 1 for v in (record.get(k) for k in IMAGE_KEYS) if v)
    texts = [m["content"] for m in out.get("messages", ())] or [out.get("text", "")]
    placeholders = sum(t.count("<image>") for t in texts)
    images = max(listed, image_parts)
    if images:
        notes["IMAGES_DROPPED"] += images
    if placeholders:
        notes["IMAGE_PLACEHOLDERS"] += placeholders
    calls = sum(len(m.get("tool_calls") or ()) for m in out.get("messages", ()))
    if calls:
        notes["TOOL_CALLS"] += calls
    if out.get("tools"):
        notes["TOOL_DEFINITIONS"] += 1


def _kind(value: Any) -> str:
    """A JSON value's kind with its article ("an array", "a string"), as messages say it."""
    kind = {list: "an array", dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}")
    return kind


IMAGE_PART_TYPES = frozenset({"image_url", "image", "input_image", "video_url", "audio_url"})
# Content parts that are neither text nor an image: said by name, never dropped in silence.
UNSUPPORTED_PARTS = {
    "reasoning": "a 'reasoning' part (LLaMA-Factory v1 thinking) is not trained on; put it in "
                 "the text as <think>…</think> or leave it out",
}


def _content(value: Any, where: str, allow_missing: bool = False, images: list[int] | None = None,
             calls: list[dict[str, Any]] | None = None) -> str:
    """A message's text. Content parts are OpenAI's (``{"type": "text", "text": …}``) or
    LLaMA-Factory v1's (``{"type": "text", "value": …}``); a v1 ``tool_call`` part becomes a
    tool call (``calls``) and an image part is counted (``images``)."""
    if value is None:
        if allow_missing:
            return ""
        raise RecordProblem("MISSING_CONTENT", f"{where}: content is missing")
    if isinstance(value, list):
        texts: list[str] = []
        for k, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else None
            text = part.get("text", part.get("value")) if isinstance(part, dict) else None
            if kind == "text" and isinstance(text, str):
                texts.append(text)
            elif kind in IMAGE_PART_TYPES:
                if images is not None:
                    images[0] += 1
            elif kind == "tool_call" and calls is not None:
                calls.append(part.get("value"))
            elif kind in UNSUPPORTED_PARTS:
                raise RecordProblem("UNSUPPORTED_CONTENT_PART", f"{where}: content[{k}]: {UNSUPPORTED_PARTS[kind]}")
            else:
                what = f"a {kind!r} part" if isinstance(kind, str) else _kind(part)
                raise RecordProblem(
                    "INVALID_CONTENT", f"{where}: content[{k}] is {what}; only text, image and "
                    "tool_call content parts are read")
        value = "".join(texts)
        allow_missing = allow_missing or bool(calls)
    if not isinstance(value, str):
        raise RecordProblem(
            "INVALID_CONTENT", f"{where}: content is {_kind(value)}, not a string"
        )
    if not value.strip() and not allow_missing:
        raise RecordProblem("EMPTY_CONTENT", f"{where}: content is empty")
    return value


def _field(record: dict, key: str, required: bool = True) -> str:
    if key not in record or record[key] is None:
        if required:
            raise RecordProblem("MISSING_FIELD", f"field {key!r} is missing")
        return ""
    value = record[key]
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and key == "label"
    ):
        value = str(value)
    if not isinstance(value, str):
        raise RecordProblem(
            "INVALID_CONTENT", f"field {key!r} is {_kind(value)}, not a string"
        )
    if required and not value.strip():
        raise RecordProblem("EMPTY_CONTENT", f"field {key!r} is empty")
    return value


def _pair(user: str, assistant: str, system: str = "") -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    msgs += [
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]
    return {"messages": msgs}


def _messages(record: dict) -> dict[str, Any]:
    msgs = record.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RecordProblem("MISSING_MESSAGES", "'messages' must be a non-empty array")
    out = []
    images = [0]
    for i, msg in enumerate(msgs):
        out.append(_message(msg, f"messages[{i}]", i, images))
    _check_tool_results(out, "messages")
    if not any(m["role"] == "assistant" for m in out):
        raise RecordProblem("NO_ASSISTANT_MESSAGE", "no assistant message")
    return {"messages": out, "_image_parts": images[0]}


def _message(msg: Any, where: str, i: int, images: list[int]) -> dict[str, Any]:
    """One OpenAI-style message (or LLaMA-Factory v1's, with content parts and loss_weight)."""
    if not isinstance(msg, dict):
        raise RecordProblem("INVALID_MESSAGE", f"{where} is {_kind(msg)}, not an object")
    unknown = sorted(set(msg) - MESSAGE_KEYS - {"loss_weight"})
    if unknown:
        raise RecordProblem("UNKNOWN_KEYS", f"{where}: unknown keys {', '.join(unknown)}")
    role = msg.get("role")
    if role is None:
        raise RecordProblem("MISSING_ROLE", f"{where}: the message has no 'role'")
    if not isinstance(role, str) or role not in ROLES:
        raise RecordProblem("UNKNOWN_ROLE", f"{where}: unknown role {role!r}")
    has_calls = bool(msg.get("tool_calls") or msg.get("function_call"))
    if "content" not in msg and not has_calls:
        raise RecordProblem("MISSING_CONTENT", f"{where}: content is missing")
    part_calls: list[Any] = []
    item: dict[str, Any] = {
        "role": role,
        "content": _content(msg.get("content"), where, has_calls or role == "tool", images, part_calls),
    }
    for key in ("name", "tool_calls", "tool_call_id", "function_call"):
        if msg.get(key) is not None:
            item[key] = msg[key]
    if part_calls:
        if role != "assistant":
            raise RecordProblem("INVALID_TOOL_CALL", f"{where}: a tool_call part in a {role} message")
        decoded = [_function_call(c, where, i, [])["tool_calls"] for c in part_calls]
        calls = [dict(c, id=f"call_{i}_{k}") for k, c in enumerate(c for group in decoded for c in group)]
        item["tool_calls"] = [*(item.get("tool_calls") or ()), *calls]
    key = "weight" if "weight" in msg else "loss_weight" if "loss_weight" in msg else None
    if key is not None:  # loss_weight: LLaMA-Factory v1's name for it
        weight = msg[key]
        if weight not in (0, 1) or isinstance(weight, bool):
            raise RecordProblem("INVALID_WEIGHT", f"{where}: {key} must be 0 or 1")
        item["weight"] = int(weight)
    return item


def _check_tool_results(msgs: list[dict[str, Any]], key: str) -> None:
    """A tool result must answer a call made before it (OpenAI: ``tool_call_id`` names it);
    an orphan result teaches the model an answer to nothing."""
    called = False
    for i, m in enumerate(msgs):
        if m["role"] == "assistant" and (m.get("tool_calls") or m.get("function_call")):
            called = True
        elif m["role"] in ("tool", "function") and not called:
            raise RecordProblem(
                "ORPHAN_TOOL_RESULT", f"{key}[{i}]: a tool result with no tool call before it "
                "(an assistant message with tool_calls, or a function_call turn)")


def _sharegpt(record: dict) -> dict[str, Any]:
    convs = record.get("conversations", record.get("messages"))
    if not isinstance(convs, list) or not convs:
        raise RecordProblem(
            "MISSING_MESSAGES", "'conversations' must be a non-empty array"
        )
    msgs: list[dict[str, Any]] = []
    calls: list[str] = []  # ids of tool calls not answered by an observation yet
    if isinstance(record.get("system"), str) and record["system"].strip():
        msgs.append({"role": "system", "content": record["system"]})
    for i, turn in enumerate(convs):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise RecordProblem(
                "INVALID_MESSAGE", f"{where} is {_kind(turn)}, not an object"
            )
        speaker = turn.get("from")
        if speaker is None:
            raise RecordProblem("MISSING_ROLE", f"{where}: the turn has no 'from'")
        role = (
            SHAREGPT_ROLES.get(str(speaker).lower())
            if isinstance(speaker, str)
            else None
        )
        if role is None:
            raise RecordProblem("UNKNOWN_ROLE", f"{where}: unknown speaker {speaker!r}")
        if "value" not in turn:
            raise RecordProblem("MISSING_CONTENT", f"{where}: value is missing")
        if speaker.lower() == "function_call":
            msgs.append(_function_call(turn["value"], where, i, calls))
        elif role == "tool":
            if not any(m.get("tool_calls") for m in msgs):
                raise RecordProblem(
                    "ORPHAN_TOOL_RESULT", f"{where}: a tool result ({speaker!r}) with no function_call turn before it")
            call_id = calls.pop(0) if calls else ""
            msg = {"role": "tool", "content": _content(turn["value"], where, allow_missing=True)}
            msgs.append({**msg, "tool_call_id": call_id} if call_id else msg)
        else:
            msgs.append({"role": role, "content": _content(turn["value"], where)})
    if not any(m["role"] == "assistant" for m in msgs):
        raise RecordProblem("NO_ASSISTANT_MESSAGE", "no gpt/assistant turn")
    return {"messages": msgs}


def _function_call(value: Any, where: str, turn: int, pending: list[str]) -> dict[str, Any]:
    """A ShareGPT ``function_call`` turn (JSON ``{"name", "arguments"}``, or a list of them)
    as an assistant message with OpenAI ``tool_calls``; their ids wait for observations."""
    try:
        calls = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise RecordProblem("INVALID_TOOL_CALL", f"{where}: function_call is not valid JSON: {exc.msg}") from None
    calls = calls if isinstance(calls, list) else [calls]
    out = []
    for k, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise RecordProblem("INVALID_TOOL_CALL", f"{where}: a function_call needs a name")
        args = call.get("arguments", {})
        call_id = f"call_{turn}_{k}"
        out.append({"id": call_id, "type": "function", "function": {
            "name": call["name"], "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)}})
    pending.extend(c["id"] for c in out)
    return {"role": "assistant", "content": "", "tool_calls": out}


def _alpaca(record: dict) -> dict[str, Any]:
    instruction = _field(record, "instruction")
    extra = _field(record, "input", required=False)
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    out = _pair(user, _field(record, "output"), _field(record, "system", required=False))
    history = record.get("history")
    if history:  # earlier turns, [[user, assistant], ...] (LLaMA-Factory's alpaca layout)
        if not isinstance(history, list):
            raise RecordProblem("INVALID_CONTENT", f"field 'history' is {_kind(history)}, not an array")
        turns = []
        for i, pair in enumerate(history):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) and t.strip() for t in pair)):
                raise RecordProblem("INVALID_CONTENT", f"history[{i}] must be a [user, assistant] pair of non-empty strings")
            turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
        msgs = out["messages"]
        at = 1 if msgs[0]["role"] == "system" else 0
        out["messages"] = msgs[:at] + turns + msgs[at:]
    return out


def _question_answer(record: dict) -> dict[str, Any]:
    user_key = next((k for k in QA_USER_KEYS if k in record), None)
    answer_key = next((k for k in QA_ASSISTANT_KEYS if k in record), None)
    if user_key is None or answer_key is None:
        raise RecordProblem("MISSING_FIELD", f"needs one of {', '.join(QA_USER_KEYS)} and one of {', '.join(QA_ASSISTANT_KEYS)}")
    user = _field(record, user_key)
    context = _field(record, "context", required=False)  # Dolly: instruction + context
    if context.strip():
        user = f"{user}\n\n{context}"
    return _pair(user, _field(record, answer_key), _field(record, "system", required=False))


def _prompt_completion(record: dict) -> dict[str, Any]:
    return _pair(_field(record, "prompt"), _field(record, "completion"))


def _vertex(record: dict) -> dict[str, Any]:
    return _pair(_field(record, "input_text"), _field(record, "output_text"))


def _instruction_output(record: dict) -> dict[str, Any]:
    return _pair(_field(record, "instruction"), _field(record, "output_text"))


def _text_label(record: dict) -> dict[str, Any]:
    return _pair(_field(record, "text"), _field(record, "label"))


def _text(record: dict) -> dict[str, Any]:
    return {"text": _field(record, "text")}


_NORMALISERS: dict[str, Callable[[dict], dict[str, Any]]] = {
    "messages": _messages,
    "sharegpt": _sharegpt,
    "alpaca": _alpaca,
    "prompt_completion": _prompt_completion,
    "vertex": _vertex,
    "instruction_output": _instruction_output,
    "question_answer": _question_answer,
    "text_label": _text_label,
    "text": _text,
}


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """A normalised chat record in the ShareGPT ``from``/``value`` shape."""
    names = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}
    return {
        "conversations": [
            {"from": names.get(m["role"], m["role"]), "value": m["content"]}
            for m in record["messages"]
        ]
    }


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)
