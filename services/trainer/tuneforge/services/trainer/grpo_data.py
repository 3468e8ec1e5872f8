"""GRPO's data: prompts and the owner's real replies, from a chat dataset.

Each chat record gives one GRPO row: the messages before its last assistant turn are the
prompt (TRL renders it with the chat template and the generation prompt), and that turn's
text is the ``reference`` the chrF and HTTP rewards compare the sampled replies with. A record
whose last assistant turn has nothing before it has no prompt to answer and is skipped (said).
Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.trainer import chat_data


def prompt_row(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``{"prompt": [...], "reference": str}`` of one chat, or None without a usable prompt."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last <= 0:
        return None
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:last]]
    return {"prompt": prompt, "reference": messages[last]["content"]}


def rows(messages_list: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[int]]:
    """(rows, indices of the records skipped)."""
    out, skipped = [], []
    for i, messages in enumerate(messages_list):
        row = prompt_row(messages)
        if row is None:
            skipped.append(i)
        else:
            out.append(row)
    return out, skipped


def load(path: Path, source: str = "train") -> tuple[list[dict[str, Any]], list[int]]:
    found, skipped = rows(chat_data.load_records(Path(path), source))
    if not found:
        raise invalid_argument("dataset", f"no {source} record has a prompt before its last "
                               "assistant reply: GRPO needs prompts to sample replies to",
                               reason="EMPTY_DATASET")
    return found, skipped
