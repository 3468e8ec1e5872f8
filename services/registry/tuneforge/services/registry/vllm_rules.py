"""vLLM's own rules for a LoRA adapter, checked before vLLM is touched.

Registration accepts any valid PEFT LoRA adapter (merge and export work on all of them);
activation asks "would vLLM serve this?" and refuses with FAILED_PRECONDITION naming the
field, instead of letting vLLM refuse (hot mode: an opaque 500) or fail to start (restart
mode: vLLM down). The rules are read from vLLM 0.32's source:

- ``vllm/lora/peft_helper.py`` ``PEFTHelper``: required fields ``r``, ``lora_alpha`` and
  ``target_modules`` (``from_dict``: "Missing required configuration fields");
  ``_validate_features``: ``modules_to_save`` only ``classifier``/``score``, no DoRA
  (``use_dora``), no ``lora_bias``, ``init_lora_weights`` a bool or one of gaussian, eva,
  orthogonal, mica, lora_ga (PiSSA, OLoRA, CorDA, LoftQ change the base weights), no aLoRA
  (``alora_invocation_tokens``), ``layer_replication``, BD-LoRA (``use_bdlora``) or QALoRA
  (``use_qalora``); ``validate_legal``: ``max(r, *rank_pattern.values()) <= max_lora_rank``
  and ``bias == "none"``.
- ``vllm/config/lora.py``: ``MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]``.
- ``vllm/lora/lora_model.py`` ``from_local_checkpoint``: every module in the safetensors
  keys (not ``target_modules``) must be one vLLM expects; ``vllm/lora/utils.py``
  ``get_supported_lora_modules``: the model's linear layers (by last name component), plus
  its ``embedding_modules``; ``worker_manager.py`` expands packed layers (``qkv_proj`` →
  q/k/v_proj) back to the checkpoint's names. So the supported set is the base checkpoint's
  2-D linear weights' module names, plus embeddings only for architectures that declare
  ``embedding_modules``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import FieldViolation
from tuneforge.services.registry.peft_files import SafetensorsError, read_safetensors_header

# vllm/config/lora.py MaxLoRARanks
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# peft_helper.py _init_is_supported: string inits that only set the initial weights.
SUPPORTED_STRING_INITS = ("gaussian", "eva", "orthogonal", "mica", "lora_ga")
# peft_helper.py _validate_features
ALLOWED_MODULES_TO_SAVE = ("classifier", "score")
# Decoder projections of Llama/Qwen/Mistral-style models: what vLLM serves when the base
# checkpoint is not on this machine to read (a hub id).
DEFAULT_LORA_MODULES = frozenset(
    {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
)
# Architectures whose vLLM class declares embedding_modules (grep "embedding_modules = {"
# in vllm/model_executor/models/): embedding LoRAs are served only for these.
EMBEDDING_MODULES = {
    "ApertusForCausalLM": ("embed_tokens", "lm_head"),
    "CohereForCausalLM": ("embed_tokens",),
    "ExaoneForCausalLM": ("wte", "lm_head"),
    "Exaone4ForCausalLM": ("embed_tokens", "lm_head"),
    "FalconH1ForCausalLM": ("embed_tokens", "lm_head"),
}
_EMBEDDING_NAMES = {"embed_tokens", "wte", "lm_head", "embed_in", "embed_out", "word_embeddings"}


def check_max_lora_rank(value: int, field_name: str = "vllm_max_lora_rank") -> list[FieldViolation]:
    if value not in VLLM_MAX_LORA_RANKS:
        return [FieldViolation(field_name, f"{value} is not a rank vLLM accepts"
                               f" ({', '.join(map(str, VLLM_MAX_LORA_RANKS))})")]
    return []


def config_violations(config: dict[str, Any], max_lora_rank: int) -> list[FieldViolation]:
    """What vLLM's PEFTHelper would refuse in ``adapter_config.json``."""
    found: list[FieldViolation] = []

    def bad(field: str, why: str) -> None:
        found.append(FieldViolation(f"adapter_config.json.{field}", why))

    if config.get("lora_alpha") is None:
        bad("lora_alpha", "is missing; vLLM requires it (PEFT would default it, vLLM does not)")
    if config.get("use_dora"):
        bad("use_dora", "DoRA adapters are not supported by vLLM; merge it into its base instead"
                        " (tuneforge train merge, or tuneforge train export --format merged) and serve that model")
    extra = [m for m in (config.get("modules_to_save") or []) if m not in ALLOWED_MODULES_TO_SAVE]
    if extra:
        bad("modules_to_save", f"vLLM serves only classifier/score as modules_to_save, not {extra}")
    if config.get("lora_bias"):
        bad("lora_bias", "LoRA bias is not supported by vLLM")
    bias = config.get("bias", "none")
    if bias not in (None, "none"):
        bad("bias", f"must be \"none\" for vLLM, got {bias!r}")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower() not in SUPPORTED_STRING_INITS:
        bad("init_lora_weights", f"{init!r} (PiSSA, OLoRA, LoftQ, CorDA…) changes the base weights;"
            " vLLM serves only plain inits — convert it with PEFT's"
            " path_initial_model_for_weight_conversion")
    for key, what in (("alora_invocation_tokens", "Activated LoRA (aLoRA)"),
                      ("layer_replication", "layer_replication"), ("use_bdlora", "BD-LoRA"),
                      ("use_qalora", "QALoRA")):
        if config.get(key):
            bad(key, f"{what} is not supported by vLLM")
    pattern = config.get("rank_pattern") or {}
    rank = max([int(config.get("r") or 0), *(int(v) for v in pattern.values())])
    if rank > max_lora_rank:
        where = "rank_pattern" if pattern and rank > int(config.get("r") or 0) else "r"
        bad(where, f"rank {rank} is above vLLM's max LoRA rank {max_lora_rank}"
            " (start vLLM with a larger --max-lora-rank and set vllm_max_lora_rank)")
    return found


def supported_modules(model_dir: Path | str | None) -> frozenset[str] | None:
    """The module names vLLM applies LoRA to for the base model in ``model_dir``, derived
    from its checkpoint as vLLM derives them; None when the checkpoint is not readable here."""
    if not model_dir:
        return None
    root = Path(model_dir)
    if not (root / "config.json").is_file():
        return None
    try:
        arch = (json.loads((root / "config.json").read_text()).get("architectures") or [""])[0]
        names = _checkpoint_tensor_shapes(root)
    except (OSError, ValueError, SafetensorsError):
        return None
    if not names:
        return None
    found = set()
    for name, shape in names.items():
        parts = name.split(".")
        if len(parts) >= 2 and parts[-1] == "weight" and len(shape) == 2 and parts[-2] not in _EMBEDDING_NAMES:
            found.add(parts[-2])  # a linear layer's weight (norms are 1-D)
    found.update(EMBEDDING_MODULES.get(arch, ()))
    return frozenset(found)


def _checkpoint_tensor_shapes(root: Path) -> dict[str, list[int]]:
    files = [root / "model.safetensors"]
    index = root / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({root / f for f in json.loads(index.read_text())["weight_map"].values()})
    shapes: dict[str, list[int]] = {}
    for f in files:
        if f.is_file():
            for name, info in read_safetensors_header(f).items():
                if name != "__metadata__":
                    shapes[name] = info["shape"]
    return shapes


def module_violations(lora_modules: list[str], supported: frozenset[str], base: str) -> list[FieldViolation]:
    """vLLM checks the modules in the weights, not target_modules (lora_model.py)."""
    extra = sorted(set(lora_modules) - supported)
    if not extra:
        return []
    return [FieldViolation(
        "target_modules",
        f"vLLM does not apply LoRA to {', '.join(extra)} in {base}"
        f" (it serves {', '.join(sorted(supported))})",
    )]
