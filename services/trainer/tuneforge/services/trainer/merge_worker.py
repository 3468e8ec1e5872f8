"""Merge a LoRA adapter into its base model and save a standalone model directory.

    python -m tuneforge.services.trainer.merge_worker --spec SPEC.json

Spec: ``adapter_dir`` (a PEFT adapter directory, e.g. ``adapters/<name>/final``),
``output_dir`` (must not exist yet, or be an empty directory), optional ``base_model`` (default: the adapter's
``base_model_name_or_path``), optional ``dtype`` (``auto`` = the base's saved dtype, or
fp32/bf16/fp16).

The base loads on CPU with ``low_cpu_mem_usage`` (weights streamed, no second copy), the adapter
is applied and ``merge_and_unload`` folds it in; weights (safetensors), config, generation config
and the tokenizer (the adapter's if it has one, else the base's) go to a temporary sibling
directory that is renamed to ``output_dir`` only when complete. Events: progress phases
``loading_model``, ``merging``, ``saving``; ``result`` ``{"output_dir", "base_model",
"adapter_dir", "parameters", "size_bytes"}``. Errors: ADAPTER_NOT_FOUND,
BASE_MODEL_NOT_AVAILABLE, OUTPUT_EXISTS (exit 1). SIGTERM before the rename leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import failed_precondition, invalid_argument


def check_spec(spec: dict, between: Callable[[], Any] = lambda: None) -> tuple[Path, Any, Path, str]:
    """Check what a merge or an export spec names before any model loads: the adapter
    (ADAPTER_NOT_FOUND), the output directory (required; OUTPUT_EXISTS unless new or empty)
    and the base model (the spec's, else the adapter's ``base_model_name_or_path``).

    ``between`` runs after the adapter check and before the output check (the export worker
    checks its format there), so each worker reports its errors in the same order as ever.
    Returns ``(adapter, between's value, output_dir, base_model)``.
    """
    adapter = Path(spec.get("adapter_dir") or "")
    if not (adapter / "adapter_config.json").is_file():
        raise invalid_argument("adapter_dir", f"{adapter} holds no adapter_config.json",
                               reason="ADAPTER_NOT_FOUND")
    extra = between()
    if not spec.get("output_dir"):
        raise invalid_argument("output_dir", "required")
    out = Path(spec["output_dir"])
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise failed_precondition("OUTPUT_EXISTS", f"{out} already exists", output_dir=str(out))
    adapter_cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    base = spec.get("base_model") or adapter_cfg.get("base_model_name_or_path") or ""
    if not base:
        raise invalid_argument("base_model", "the adapter names no base model; give one",
                               reason="BASE_MODEL_NOT_AVAILABLE")
    return adapter, extra, out, base


def main(spec: dict) -> None:
    ev.offline_hub()
    adapter, _, out, base = check_spec(spec)

    ev.progress(phase="loading_model", message=f"loading {base} on CPU")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        parameters = merge_into(adapter, base, tmp, spec.get("dtype") or "auto")
        if parameters is None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    ev.result({"output_dir": str(out.resolve()), "base_model": base,
               "adapter_dir": str(adapter.resolve()),
               "parameters": parameters, "size_bytes": size})


def merge_into(adapter: Path, base: str, out: Path, dtype_name: str = "auto") -> int | None:
    """Fold ``adapter`` into ``base`` and save the model + tokenizer into the existing directory
    ``out``; the parameter count, or None when a stop was requested before saving.

    Shared with the export worker, which merges before converting.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16,
             "fp16": torch.float16}.get(dtype_name)
    if dtype is None:
        raise invalid_argument("dtype", "one of auto, fp32, bf16, fp16")
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, low_cpu_mem_usage=True,
                                                     device_map={"": "cpu"})
    except OSError as exc:
        raise invalid_argument("base_model", f"cannot load {base!r} offline: {exc}",
                               reason="BASE_MODEL_NOT_AVAILABLE") from None
    tok_source = adapter if (adapter / "tokenizer_config.json").is_file() else base
    tokenizer = AutoTokenizer.from_pretrained(tok_source)

    ev.progress(phase="merging", message=f"applying and merging {adapter}")
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if ev.stop_requested():
        ev.log("stop requested; nothing written")
        return None
    ev.progress(phase="saving", message=f"saving the merged model to {out}")
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "merge_info.json").write_text(json.dumps(
        {"base_model": base, "adapter_dir": str(adapter.resolve())}, indent=2))
    return sum(p.numel() for p in merged.parameters())


if __name__ == "__main__":
    ev.run_main(main)
