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
A stop request (the caller went away) ends the reply where it is.
"""

from __future__ import annotations

from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.trainer import generation

SIDES = ("base", "adapter")


def check_messages(messages: Any) -> list[dict[str, str]]:
    """A conversation the model can answer: roles system/user/assistant, ending with user."""
    if not isinstance(messages, list) or not messages:
        raise invalid_argument("messages", "give at least one message")
    out = []
    for i, msg in enumerate(messages):
        role, content = (msg.get("role"), msg.get("content")) if isinstance(msg, dict) else (None, None)
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise invalid_argument(f"messages[{i}]", "role must be system, user or assistant, "
                                   "with text content")
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
    max_new = int(spec.get("max_new_tokens") or 256)
    ev.progress(phase="loading_model", message=f"loading {spec['base_model']}")
    model, tokenizer = generation.load(spec["base_model"], spec.get("adapter_dir"))
    replies = []
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
    ev.result({"replies": replies})


if __name__ == "__main__":
    ev.run_main(main)
