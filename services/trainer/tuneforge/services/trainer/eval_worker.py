"""Evaluate an adapter against its base model on held-out dialogs — the evaluation worker.

    python -m tuneforge.services.trainer.eval_worker --spec SPEC.json

Spec:
    base_model, adapter_dir         what to compare (adapter_dir holds adapter_config.json)
    adapter_name, adapter_version   recorded in the report
    validation_file                 held-out JSONL; or
    train_file + validation_split + seed   the training job's own held-out split
                                    (chat_data.split_validation, so the same records)
    dataset_name                    recorded in the report
    samples                         held-out dialogs to generate for (default 20)
    max_new_tokens                  reply limit (default 128)
    max_seq_length                  for the loss (default 2048)
    seed                            the training job's split seed
    generation_seed                 generation seed (default 0)

Story: load (base + adapter as one PeftModel) → loss on assistant tokens, base (adapter
disabled) and adapter, with the training job's masking (chat_data) → for N held-out dialogs,
the conversation up to an owner reply, the reply itself (reference), the base's and the
adapter's greedy seeded replies → style metrics of both sides against the owner
(style_metrics) → ``result`` ``{"report": ...}`` (:func:`build_report`).

Which dialogs: the last owner reply of each held-out record first, then earlier ones, until N.
Events: progress phases ``loading_model``, ``loss``, ``generating`` (step/total), ``scoring``.
Errors: ADAPTER_NOT_FOUND, BASE_MODEL_NOT_AVAILABLE, NO_HELD_OUT_DATA, the data errors of
chat_data (exit 1).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.services.trainer import chat_data, generation, style_metrics

DEFAULT_SAMPLES = 20
DEFAULT_MAX_NEW_TOKENS = 128


def held_out_records(spec: dict[str, Any]) -> list:
    """The validation file, or the training job's held-out split of its train file."""
    if spec.get("validation_file"):
        return chat_data.load_records(Path(spec["validation_file"]), "validation")
    if spec.get("train_file"):
        records = chat_data.load_records(Path(spec["train_file"]), "train")
        _, held = chat_data.split_validation(records, float(spec.get("validation_split") or 0),
                                             int(spec.get("seed") or 0))
        if held:
            return held
    raise failed_precondition("NO_HELD_OUT_DATA", "no held-out dialogs to evaluate on: the "
                              "dataset has no validation split (give --dataset with one)")


def pick_turns(records: list, n: int) -> list[tuple[list[dict], str]]:
    """Up to ``n`` (conversation so far, owner's reply): last replies first, then earlier."""
    per_record = [[i for i, m in enumerate(r) if m["role"] == "assistant" and m["content"].strip()
                   and i > 0][::-1] for r in records]
    picked: list[tuple[list[dict], str]] = []
    depth = 0
    while len(picked) < n and any(len(turns) > depth for turns in per_record):
        for record, turns in zip(records, per_record):
            if len(turns) > depth and len(picked) < n:
                i = turns[depth]
                picked.append((record[:i], record[i]["content"]))
        depth += 1
    return picked


def build_report(spec: dict[str, Any], losses: dict[str, float], samples: list[dict]) -> dict:
    """The report: per side its loss, style metrics and score; the samples; the verdict."""
    sides = {}
    for side in ("base", "adapter"):
        replies = [style_metrics.Reply(s[side], s["reference"], s[f"{side}_stopped"])
                   for s in samples]
        sides[side] = {"eval_loss": losses[side], **style_metrics.side_metrics(replies)}
    base, adapter = sides["base"], sides["adapter"]
    loss_ok = math.isfinite(adapter["eval_loss"]) and adapter["eval_loss"] < base["eval_loss"]
    return {
        "adapter_name": spec.get("adapter_name") or "",
        "adapter_version": int(spec.get("adapter_version") or 0),
        "base_model": spec["base_model"],
        "dataset": spec.get("dataset_name") or "",
        "create_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "base": base,
        "adapter": adapter,
        "reference": style_metrics.reference_metrics([s["reference"] for s in samples]),
        "closer_to_owner": adapter["style_score"] > base["style_score"],
        "lower_loss": loss_ok,
        "samples": samples,
        "settings": {"samples": len(samples), "max_new_tokens": _max_new(spec),
                     "seed": int(spec.get("generation_seed") or 0), "greedy": True},
    }


def _max_new(spec: dict) -> int:
    return int(spec.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)


def _generate_samples(model, tokenizer, turns: list, spec: dict) -> list[dict]:
    samples = []
    seed = int(spec.get("generation_seed") or 0)
    for step, (conversation, reference) in enumerate(turns, start=1):
        if ev.stop_requested():
            break
        row: dict[str, Any] = {"messages": conversation, "reference": reference}
        for side in ("base", "adapter"):
            out = generation.generate(model, tokenizer, conversation, max_new_tokens=_max_new(spec),
                                      seed=seed, use_adapter=side == "adapter")
            row[side], row[f"{side}_stopped"] = out.text, out.stopped
        samples.append(row)
        ev.progress(phase="generating", step=step, total=len(turns),
                    message=f"dialog {step} of {len(turns)}")
    return samples


def main(spec: dict[str, Any]) -> None:
    ev.offline_hub()
    ev.require(spec, "base_model", "adapter_dir")
    n = int(spec.get("samples") or DEFAULT_SAMPLES)
    if n < 1:
        raise invalid_argument("samples", "must be at least 1")
    records = held_out_records(spec)
    turns = pick_turns(records, n)
    if not turns:
        raise failed_precondition("NO_HELD_OUT_DATA", "the held-out records hold no owner reply")

    ev.progress(phase="loading_model", message=f"loading {spec['base_model']} + adapter")
    model, tokenizer = generation.load(spec["base_model"], spec["adapter_dir"])
    ev.progress(phase="loss", message=f"loss on the assistant tokens of {len(records)} records")
    max_len = int(spec.get("max_seq_length") or 2048)
    losses = {side: generation.assistant_loss(model, tokenizer, records, max_len,
                                              use_adapter=side == "adapter")
              for side in ("base", "adapter")}
    ev.metrics(eval_loss=losses["adapter"], base_eval_loss=losses["base"])
    samples = _generate_samples(model, tokenizer, turns, spec)
    if not samples:
        ev.log("stop requested before any dialog was generated; no report")
        return
    ev.progress(phase="scoring", message="style metrics")
    report = build_report(spec, losses, samples)
    ev.log(f"style score: base {report['base']['style_score']:.3f}, adapter "
           f"{report['adapter']['style_score']:.3f}; loss: base {losses['base']:.3f}, "
           f"adapter {losses['adapter']:.3f}")
    ev.result({"report": report})


if __name__ == "__main__":
    ev.run_main(main)
