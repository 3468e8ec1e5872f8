"""Helpers shared by the registry tests: real adapter files without torch."""

from __future__ import annotations

import json
import struct
from pathlib import Path

BASE = "tiny-base"
DROP = object()  # an extra_config value that removes the key


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], str]]) -> None:
    """A real safetensors file: F32 zeros of the given shapes."""
    header, offset = {}, 0
    for name, (shape, dtype) in tensors.items():
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def make_adapter(
    path: Path, *, r: int = 8, base: str = BASE, modules: tuple[str, ...] = ("q_proj", "v_proj"),
    hidden: int = 16, extra_config: dict | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base,
        "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0, "target_modules": list(modules),
        "bias": "none", "modules_to_save": None,
    }
    config.update(extra_config or {})
    config = {k: v for k, v in config.items() if v is not DROP}
    (path / "adapter_config.json").write_text(json.dumps(config))
    tensors = {}
    for layer in range(2):
        for m in modules:
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{m}"
            tensors[f"{prefix}.lora_A.weight"] = ([r, hidden], "F32")
            tensors[f"{prefix}.lora_B.weight"] = ([hidden, r], "F32")
    write_safetensors(path / "adapter_model.safetensors", tensors)
    (path / "README.md").write_text("# adapter\n")
    return path


def adapters_listing(data_root: Path) -> list[str]:
    """Everything under adapters/ (to prove a refused import wrote nothing)."""
    base = data_root / "adapters"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []
