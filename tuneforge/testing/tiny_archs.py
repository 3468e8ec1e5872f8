"""Tiny random-weight models of every architecture we train, shaped for llama.cpp and vLLM.

The export tests convert a merged model to GGUF and AWQ and run it in llama.cpp / vLLM, whose
CPU kernels need a real head size: these models have hidden 128 and 2 heads (head_dim 64),
2 layers, intermediate 256, and share the locally trained tokenizer and ChatML template of
:mod:`tuneforge.testing.tiny_lm` (its default model, head_dim 16, stays as others rely on it).
Built once per cache root, deterministically (fixed seed).

    python -m tuneforge.testing.tiny_archs qwen2|qwen3|llama OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from tuneforge.testing.cache import build_once
from tuneforge.testing.tiny_lm import SEED, cached_tiny_lm, default_cache_root

ARCHS = ("qwen2", "qwen3", "llama")


def _config(arch: str, vocab_size: int, eos: int, pad: int):
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    common = dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                  tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
                  torch_dtype="float32")  # fmt: skip
    if arch == "qwen2":
        return Qwen2Config(**common)
    if arch == "qwen3":
        return Qwen3Config(head_dim=64, **common)
    if arch == "llama":
        return LlamaConfig(**common)
    raise ValueError(f"unknown tiny architecture {arch!r}; one of {', '.join(ARCHS)}")


def build_tiny_arch(arch: str, out_dir: Path, tokenizer_dir: Path) -> Path:
    """Build the tiny ``arch`` model with the tokenizer of ``tokenizer_dir`` into ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(_config(arch, len(tokenizer), eos, pad))
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def cached_tiny_arch(arch: str, cache_root: Path | None = None) -> Path:
    """The directory of the tiny ``arch`` model (head_dim 64), built once per cache root."""
    if arch not in ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}; one of {', '.join(ARCHS)}")
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    tokenizer_dir = cached_tiny_lm(root)
    return build_once(root, f"tiny-{arch}-export", "config.json",
                      lambda out: build_tiny_arch(arch, out, tokenizer_dir))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tuneforge.testing.tiny_archs qwen2|qwen3|llama OUT_DIR")
    print(build_tiny_arch(sys.argv[1], Path(sys.argv[2]), cached_tiny_lm()))
