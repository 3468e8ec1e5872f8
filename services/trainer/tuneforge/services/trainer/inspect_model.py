"""Describe a base model without loading its weights: ``python -m ... --model M``.

Prints one JSON object: ``model_type``, ``linear_modules`` (leaf names such as ``q_proj``,
the names LoRA ``target_modules`` use), ``linear_module_paths`` (every full name),
``max_position_embeddings``, ``vocab_size``, ``architectures`` and ``chat_template`` (bool).
The model is built on the meta device (``accelerate.init_empty_weights``), so this takes a
second or two for any size and needs only ``config.json``. Offline: a local directory or a hub
id already in the local Hugging Face cache. On failure it prints ``{"error": {"reason",
"message"}}`` and exits 2. The service runs it as a subprocess (it never imports torch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def inspect_model(model: str) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model, local_files_only=True)
    with init_empty_weights():
        net = AutoModelForCausalLM.from_config(config)
    output = net.get_output_embeddings()
    paths = sorted(
        name for name, module in net.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output
    )
    leaves = sorted({p.rsplit(".", 1)[-1] for p in paths})
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    has_template = False
    local = Path(model)
    if local.is_dir():
        has_template = (local / "chat_template.jinja").exists() or "chat_template" in (
            (local / "tokenizer_config.json").read_text(encoding="utf-8")
            if (local / "tokenizer_config.json").exists() else "")
    return {
        "model": model,
        "model_type": getattr(config, "model_type", None),
        "architectures": list(getattr(config, "architectures", None) or []),
        "linear_modules": leaves,
        "linear_module_paths": paths,
        "max_position_embeddings": getattr(text_config, "max_position_embeddings", None),
        "vocab_size": getattr(text_config, "vocab_size", None),
        "hidden_size": getattr(text_config, "hidden_size", None),
        "chat_template": has_template,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local path or hub id in the HF cache")
    args = parser.parse_args(argv)
    try:
        info = inspect_model(args.model)
    except (OSError, ValueError, KeyError) as exc:
        print(json.dumps({"error": {
            "reason": "BASE_MODEL_NOT_AVAILABLE",
            "message": f"cannot read base model {args.model!r} offline "
                       f"(local path or hub id in the local cache): {exc}".splitlines()[0],
        }}))
        return 2
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
