"""Reply to a conversation with an adapter (or the base model), token by token — the chat worker.

    python -m tuneforge.services.trainer.chat_worker --spec SPEC.json

A short-lived job of kind ``chat``: it runs under the GPU lock like training (so it queues
behind a training job instead of fighting it for memory), loads the model, answers, exits.

Spec:
    base_model          what the adapter was trained on (or the model to talk to)
    adapter_dir         optional: the adapter (absent = the base model alone)
    messages            the conversation, ending with a user turn
    sides               ["adapter"], ["base"], or ["base", "adapter"] (compare)
    max_new_tokens      default 256
    temperature, top_p  0 = greedy (default); seeded by ``seed`` either way
    deadline            optional epoch seconds: generation stops there (finish_reason deadline)

Streaming: each decoded piece is a ``progress`` event ``{"phase": "generating", "side":
"adapter", "piece": "Hel", "step": pieces so far, "total": max_new_tokens}`` — ordinary job
events, stored and replayed like any other, which the chat RPC relays to its caller as they
come. ``result``: ``{"replies": [{"side", "text", "tokens", "stopped", "finish_reason"}]}``.
A stop request (the caller went away) ends the reply where it is, and so does the deadline, in
every phase: loading the model and preparing the prompt run inside ``generation.halting``, so
neither holds the GPU lock past them (finish_reason ``cancelled`` / ``deadline``, empty text when
no token came yet). A prompt longer than the model's context is CHAT_TOO_LONG on ``messages``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.trainer import chat_data, generation

SIDES = ("base", "adapter")
CHAT_TOO_LONG = "CHAT_TOO_LONG"


def check_messages(messages: Any, max_messages: int = 0, max_chars: int = 0) -> list[dict[str, str]]:
    """A conversation the model can answer: roles system/user/assistant, ending with user; at
    most ``max_messages`` messages and ``max_chars`` characters of content (0 = no limit)."""
    if not isinstance(messages, list) or not messages:
        raise invalid_argument("messages", "give at least one message")
    if max_messages and len(messages) > max_messages:
        raise invalid_argument("messages", f"at most {max_messages} messages (chat_max_messages); got {len(messages)}",
                               reason=CHAT_TOO_LONG)
    out, chars = [], 0
    for i, msg in enumerate(messages):
        role, content = (msg.get("role"), msg.get("content")) if isinstance(msg, dict) else (None, None)
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise invalid_argument(f"messages[{i}]", "role must be system, user or assistant, "
                                   "with text content")
        chars += len(content)
        if max_chars and chars > max_chars:
            raise invalid_argument("messages", f"at most {max_chars} characters in all (chat_max_chars); "
                                   f"message {i} goes past it", reason=CHAT_TOO_LONG)
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise invalid_argument("messages", "the last message must be the user's")
    return out


def main(spec: dict[str, Any]) -> None:
    ev.offline_hub()
    messages = check_messages(spec.get("messages"))
    sides = list(spec.get("sides") or (["adapter"] if spec.get("adapter_dir") else ["base"]))
    if any(s not in SIDES for s in sides) or ("adapter" in sides and not spec.get("adapter_dir")):
        raise invalid_argument("sides", "base and/or adapter (adapter needs adapter_dir)")
    replies: list[dict[str, Any]] = []
    try:
        with generation.halting(spec.get("deadline"), ev.stop_requested, ev.request_stop):
            _answer(spec, messages, sides, replies)
    except generation.Halted as halt:  # loading or preparing: the side at hand has no reply
        if len(replies) < len(sides):
            replies.append({"side": sides[len(replies)], "text": "", "tokens": 0, "stopped": False,
                            "finish_reason": halt.why})
    ev.result({"replies": replies})


def _answer(spec: dict[str, Any], messages: list[dict[str, str]], sides: list[str],
            replies: list[dict[str, Any]]) -> None:
    """Load the model, then one reply per side into ``replies`` (inside ``halting``)."""
    max_new = int(spec.get("max_new_tokens") or 256)
    ev.progress(phase="loading_model", message=f"loading {spec['base_model']}")
    model, tokenizer = generation.load(spec["base_model"], spec.get("adapter_dir"))
    max_new = _fit_context(model, tokenizer, messages, max_new)
    for side in sides:
        count = 0

        def on_piece(piece: str, side: str = side) -> None:
            nonlocal count
            count += 1
            ev.progress(phase="generating", side=side, piece=piece, step=count, total=max_new)

        out = generation.generate(
            model, tokenizer, messages, max_new_tokens=max_new, seed=int(spec.get("seed") or 0),
            temperature=float(spec.get("temperature") or 0.0), top_p=float(spec.get("top_p") or 1.0),
            use_adapter=side == "adapter", on_piece=on_piece, deadline=spec.get("deadline"),
            should_stop=ev.stop_requested)
        replies.append({"side": side, "text": out.text, "tokens": out.tokens,
                        "stopped": out.stopped, "finish_reason": out.finish_reason})
        if out.finish_reason in ("deadline", "cancelled"):
            break


def _fit_context(model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new: int) -> int:
    """``max_new`` cut so that prompt + reply stay within what the model reads; CHAT_TOO_LONG
    on ``messages`` when the prompt alone does not fit (past it a reply is noise, and the
    first pass over it is the worker's largest allocation)."""
    ev.progress(phase="preparing_prompt", message=f"{len(messages)} messages")
    limit = generation.context_length(model)
    if not limit:
        return max_new
    tokens = len(chat_data.render_prompt(tokenizer, messages))
    if tokens >= limit:
        raise invalid_argument("messages", f"the conversation is {tokens} tokens; the model reads at most {limit}",
                               reason=CHAT_TOO_LONG)
    return min(max_new, limit - tokens)


if __name__ == "__main__":
    ev.run_main(main)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the result is out: skip the interpreter's teardown of torch (seconds) under the GPU lock
