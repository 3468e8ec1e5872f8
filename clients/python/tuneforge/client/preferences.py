"""Preference pairs (DPO data) or labelled answers (KTO data) from an evaluation report: the
correction loop after SFT.

Pure and small, so it lives with the client (``tuneforge dataset prefer`` runs it where the
report is, with no server code installed). The pairs it builds are in the ``preference``
import format, the labelled answers in the ``kto`` one (TRL's ``{"prompt", "completion",
"label"}``); the dataset service's import checks each record as it checks any, so the rules
here only leave out samples that cannot make a record at all.
"""

from __future__ import annotations

from typing import Any


def _prompt(messages: Any) -> list[dict[str, Any]]:
    return [{"role": m.get("role"), "content": m.get("content")}
            for m in messages or [] if isinstance(m, dict)]


def pairs_from_evaluation(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference pairs from an evaluation report's samples.

    Each sample holds the conversation so far (``messages``), the owner's real reply
    (``reference``) and the adapter's (``adapter``); where they differ, the owner's is
    ``chosen`` and the adapter's ``rejected`` — DPO then pulls the adapter's tone towards the
    owner's. Samples whose replies match (after trimming), where a reply is missing, or whose
    prompt does not end on a user turn are left out.
    """
    pairs = []
    for sample in samples:
        if not isinstance(sample, dict):
            continue
        prompt = _prompt(sample.get("messages"))
        owner = str(sample.get("reference") or "").strip()
        adapter = str(sample.get("adapter") or "").strip()
        if not owner or not adapter or owner == adapter:
            continue
        if not prompt or prompt[-1]["role"] != "user":
            continue
        pairs.append({"prompt": prompt,
                      "chosen": [{"role": "assistant", "content": owner}],
                      "rejected": [{"role": "assistant", "content": adapter}]})
    return pairs


def labelled_from_evaluation(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """KTO records (answers labelled true/false) from an evaluation report's samples.

    Where the adapter's reply (``adapter``) or the base model's (``base``) differs from the
    owner's real one (``reference``), the owner's is a desirable answer (``label: true``) and
    each differing reply an undesirable one (``label: false``; the base's only when it is not
    the adapter's too). Samples without the owner's reply, whose replies all match it, or
    whose prompt does not end on a user turn are left out. A sample's records stay together
    (true, then false), so every batch of KTO training sees both labels.
    """
    records = []
    for sample in samples:
        if not isinstance(sample, dict):
            continue
        prompt = _prompt(sample.get("messages"))
        owner = str(sample.get("reference") or "").strip()
        if not owner or not prompt or prompt[-1]["role"] != "user":
            continue
        wrong: list[str] = []
        for key in ("adapter", "base"):
            reply = str(sample.get(key) or "").strip()
            if reply and reply != owner and reply not in wrong:
                wrong.append(reply)
        if not wrong:
            continue
        for text, label in [(owner, True), *((w, False) for w in wrong)]:
            records.append({"prompt": prompt,
                            "completion": [{"role": "assistant", "content": text}],
                            "label": label})
    return records
