"""AWQ 4-bit weight-only quantization (W4A16) of a merged model with llm-compressor.

    <awq venv>/bin/python -m tuneforge.services.trainer.awq_worker --spec SPEC.json

Runs in llm-compressor's own virtualenv (it needs transformers 5.x; the training stack pins
4.57 for qwen-tts), started by the export worker with ``PYTHONPATH`` at this repository, so
it may import only the standard library and ``tuneforge.runtime.worker_events``/``errors``.

Spec: ``model_dir`` (a merged HF model), ``output_dir`` (written here; the export worker owns
renaming), ``calibration_file`` (JSONL chats, ``{"messages": [...]}``, or ``{"text": ...}``
rows: a sample of the adapter's own training data), ``num_samples``, ``max_seq_length``,
``scheme`` (``W4A16_ASYM`` default, or ``W4A16``). The result is saved compressed
(compressed-tensors ``pack-quantized``), the format vLLM loads. Events: progress phases
``loading_model``, ``calibrating``, ``saving``; result ``{"scheme", "num_calibration_samples",
"ignored"}``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import failed_precondition, invalid_argument

SCHEMES = ("W4A16_ASYM", "W4A16")


def calibration_texts(path: Path, tokenizer, num_samples: int, seed: int = 0) -> list[str]:
    """Up to ``num_samples`` rows of ``path`` rendered as the model will see them."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    random.Random(seed).shuffle(rows)
    texts = []
    for row in rows:
        messages = row.get("messages") or row.get("conversations") if isinstance(row, dict) else None
        if messages and getattr(tokenizer, "chat_template", None):
            texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
        elif isinstance(row, dict) and isinstance(row.get("text"), str):
            texts.append(row["text"])
        if len(texts) >= num_samples:
            break
    if not texts:
        raise invalid_argument("calibration_file", f"{path} has no usable chat or text rows",
                               reason="CALIBRATION_DATA_EMPTY")
    return texts


def _cpu_only_pin_memory_fix() -> None:
    """AWQ pins its activation cache unconditionally; without an accelerator that raises
    "Cannot access accelerator device when none is available". Pinning is only a transfer
    speed-up, so on a CPU-only machine it becomes a no-op."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if not torch.accelerator.is_available():
        IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None


def main(spec: dict) -> None:
    model_dir, out = Path(spec["model_dir"]), Path(spec["output_dir"])
    scheme = (spec.get("scheme") or "W4A16_ASYM").upper()
    if scheme not in SCHEMES:
        raise invalid_argument("quant", f"AWQ scheme must be one of {', '.join(SCHEMES)}")
    num_samples = int(spec.get("num_samples") or 64)
    max_len = int(spec.get("max_seq_length") or 512)
    ev.progress(phase="loading_model", message=f"loading {model_dir}")
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.awq import AWQModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _cpu_only_pin_memory_fix()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = calibration_texts(Path(spec["calibration_file"]), tokenizer, num_samples)
    enc = tokenizer(texts, truncation=True, max_length=max_len, add_special_tokens=False)
    dataset = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    if ev.stop_requested():
        ev.log("stop requested; nothing written")
        return
    ev.progress(phase="calibrating", message=f"AWQ {scheme} on {len(texts)} samples of the training data")
    ignored = ["lm_head"]
    recipe = [AWQModifier(ignore=ignored, scheme=scheme, targets=["Linear"])]
    try:
        oneshot(model=model, dataset=dataset, recipe=recipe, num_calibration_samples=len(texts),
                max_seq_length=max_len)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise failed_precondition("AWQ_QUANTIZATION_FAILED", f"llm-compressor could not quantize the model: {exc}") from None
    if ev.stop_requested():
        ev.log("stop requested; nothing written")
        return
    ev.progress(phase="saving", message=f"saving compressed-tensors to {out}")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, save_compressed=True)
    tokenizer.save_pretrained(out)
    ev.result({"scheme": scheme, "num_calibration_samples": len(texts), "ignored": ignored})


if __name__ == "__main__":
    ev.offline_hub()
    ev.run_main(main)
