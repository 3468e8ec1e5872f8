"""Checks on PEFT LoRA adapter files, without torch: ``adapter_config.json`` and the
``adapter_model.safetensors`` header.

A safetensors file is an 8-byte little-endian header length, a JSON header mapping tensor
names to ``{"dtype", "shape", "data_offsets"}`` (plus an optional ``__metadata__``), then
the tensor bytes. Parsing the header is enough to reject truncated or foreign files and to
learn which modules the adapter touches — the same names vLLM checks when it loads one.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tuneforge.runtime.errors import FieldViolation, invalid_fields

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
# What an adapter directory keeps when it is copied or imported (PEFT's own files, the
# tokenizer a LoRA with added tokens brings, the model card); anything else is dropped.
ADAPTER_FILES = frozenset({
    CONFIG_FILE, WEIGHTS_FILE, "README.md", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.model",
    "chat_template.jinja",
})  # fmt: skip
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the limit the safetensors library itself applies
MAX_CONFIG_BYTES = 1024 * 1024

_DTYPES = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "I16", "U16", "F16", "BF16",
    "I32", "U32", "F32", "F64", "I64", "U64", "C64",
}
# base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight -> q_proj; PEFT names
# embedding LoRA tensors without ".weight": base_model.model.model.embed_tokens.lora_embedding_A
_LORA_TENSOR_RE = re.compile(
    r"(?:^|\.)([^.]+)\.(?:lora_(?:A|B)(?:\.[^.]+)?\.weight|lora_embedding_(?:A|B)(?:\.[^.]+)?)$"
)


class SafetensorsError(ValueError):
    """The bytes are not a valid safetensors file; the message says why."""


@dataclass(frozen=True)
class AdapterFiles:
    """What a valid adapter directory holds, as read from its files."""

    base_model: str
    rank: int  # the largest rank, rank_pattern included (what vLLM's max_lora_rank must cover)
    lora_alpha: float
    target_modules: list[str]
    lora_modules: list[str]  # module names found in the weights (what vLLM checks)
    size_bytes: int
    config: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def variant(self) -> str:
        """``dora``, ``rslora`` or ``lora``, as the trainer names them (DoRA wins: it decides
        whether vLLM can serve the adapter)."""
        if self.config.get("use_dora"):
            return "dora"
        return "rslora" if self.config.get("use_rslora") else "lora"


def parse_safetensors_header(head: bytes, file_size: int) -> dict[str, Any]:
    """Validate a header given the first ``8 + n`` bytes of a file of ``file_size`` bytes."""
    if file_size < 8 or len(head) < 8:
        raise SafetensorsError("file is shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", head[:8])
    if n == 0 or n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"header length {n} is out of range")
    if 8 + n > file_size or len(head) < 8 + n:
        raise SafetensorsError(f"header length {n} runs past the end of the file")
    try:
        header = json.loads(head[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    data_len = file_size - 8 - n
    ends = []
    tensors = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise SafetensorsError("__metadata__ is not an object")
            continue
        if not isinstance(info, dict):
            raise SafetensorsError(f"tensor {name!r}: entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES:
            raise SafetensorsError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"tensor {name!r}: bad shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_len
        ):
            raise SafetensorsError(f"tensor {name!r}: data_offsets {offsets!r} out of bounds")
        ends.append(offsets[1])
        tensors += 1
    if tensors == 0:
        raise SafetensorsError("file holds no tensors")
    if max(ends) != data_len:
        raise SafetensorsError(
            f"tensor data covers {max(ends)} bytes but the file holds {data_len}"
        )
    return header


def read_safetensors_header(path: Path | str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return read_safetensors_stream(f, os.fstat(f.fileno()).st_size)


def read_safetensors_stream(f: BinaryIO, size: int) -> dict[str, Any]:
    """Read and validate the header from an open stream positioned at the file start."""
    first = f.read(8)
    if len(first) < 8:
        raise SafetensorsError("file is shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", first)
    if n == 0 or n > MAX_HEADER_BYTES or 8 + n > size:
        return parse_safetensors_header(first, size)  # raises with the precise reason
    return parse_safetensors_header(first + f.read(n), size)


def lora_modules(header: dict[str, Any]) -> list[str]:
    """Module names (``q_proj``, ``v_proj``…) of the LoRA tensors in a header."""
    found = set()
    for name in header:
        m = _LORA_TENSOR_RE.search(name)
        if m:
            found.add(m.group(1))
    return sorted(found)


def check_config(raw: bytes, base_model: str | None = None) -> tuple[dict[str, Any], list[FieldViolation]]:
    """Parse ``adapter_config.json`` bytes; return the config and every problem found."""
    problems: list[FieldViolation] = []
    try:
        config = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, [FieldViolation(CONFIG_FILE, f"is not valid JSON: {exc}")]
    if not isinstance(config, dict):
        return {}, [FieldViolation(CONFIG_FILE, "must be a JSON object")]
    peft_type = config.get("peft_type", "LORA")
    if str(peft_type).upper() != "LORA":
        problems.append(FieldViolation(f"{CONFIG_FILE}.peft_type", f"{peft_type!r} is not a LoRA adapter"))
    r = config.get("r")
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        problems.append(FieldViolation(f"{CONFIG_FILE}.r", f"must be a positive integer, got {r!r}"))
    alpha = config.get("lora_alpha", r)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        problems.append(FieldViolation(f"{CONFIG_FILE}.lora_alpha", f"must be a number, got {alpha!r}"))
    targets = config.get("target_modules")
    if not (isinstance(targets, str) and targets) and not (
        isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)
    ):
        problems.append(
            FieldViolation(f"{CONFIG_FILE}.target_modules", "must be a non-empty list of module names")
        )
    pattern = config.get("rank_pattern") or {}
    if not isinstance(pattern, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pattern.values()
    ):
        problems.append(FieldViolation(f"{CONFIG_FILE}.rank_pattern", "must map names to positive ranks"))
    if not (base_model or config.get("base_model_name_or_path")):
        problems.append(
            FieldViolation(f"{CONFIG_FILE}.base_model_name_or_path", "is missing; the base model is unknown")
        )
    return config, problems


def config_rank(config: dict[str, Any]) -> int:
    pattern = config.get("rank_pattern") or {}
    return max([int(config["r"]), *(int(v) for v in pattern.values())])


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def inspect_adapter_dir(path: Path | str, base_model: str | None = None) -> AdapterFiles:
    """Validate an adapter directory; raise INVALID_ARGUMENT listing every problem."""
    path = Path(path)
    if not path.is_dir():
        raise invalid_fields(
            [FieldViolation("path", f"{str(path)!r} is not a directory")], reason="ADAPTER_INVALID"
        )
    problems: list[FieldViolation] = []
    config: dict[str, Any] = {}
    cfg_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
    for p in (cfg_path, weights_path):
        if p.is_symlink():
            problems.append(FieldViolation(p.name, "must be a regular file, not a link"))
    if not cfg_path.is_file():
        problems.append(FieldViolation(CONFIG_FILE, "is missing"))
    elif cfg_path.stat().st_size > MAX_CONFIG_BYTES:
        problems.append(FieldViolation(CONFIG_FILE, "is larger than 1 MiB"))
    else:
        config, found = check_config(cfg_path.read_bytes(), base_model)
        problems += found
    header: dict[str, Any] = {}
    if not weights_path.is_file():
        problems.append(FieldViolation(WEIGHTS_FILE, "is missing"))
    else:
        try:
            header = read_safetensors_header(weights_path)
        except SafetensorsError as exc:
            problems.append(FieldViolation(WEIGHTS_FILE, f"is not a valid safetensors file: {exc}"))
    if problems:
        raise invalid_fields(problems, reason="ADAPTER_INVALID", message="not a valid LoRA adapter")
    targets = config["target_modules"]
    return AdapterFiles(
        base_model=base_model or str(config["base_model_name_or_path"]),
        rank=config_rank(config),
        lora_alpha=float(config.get("lora_alpha", config["r"])),
        target_modules=[targets] if isinstance(targets, str) else sorted(targets),
        lora_modules=lora_modules(header),
        size_bytes=dir_size(path),
        config=config,
    )
