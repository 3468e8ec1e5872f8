"""A tiny Qwen2-architecture causal LM with random weights, built offline for tests.

Real code paths (SFTTrainer, LoRA, checkpoints, merge) run on it in seconds on a CPU:
hidden 64, 2 layers, 4 heads / 2 KV heads, intermediate 128, tied embeddings, and a
byte-level BPE tokenizer (~1.5k ids) trained locally on generated English + Cyrillic text.
The ChatML chat template wraps every assistant turn's content **and its** ``<|im_end|>``
in ``{% generation %}…{% endgeneration %}`` so TRL's ``assistant_only_loss`` works, with
packing too. Building is deterministic (fixed seeds).

``cached_tiny_lm()`` builds once into ``$TUNEFORGE_TINY_CACHE`` (default
``<repo>/.tiny-cache/tiny-qwen2``) under a file lock, writing to a temporary directory and
renaming it into place, so parallel pytest processes never see half a model.

    python -m tuneforge.testing.tiny_lm OUT_DIR
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from tuneforge.testing.cache import build_once

VOCAB_SIZE = 1536
SEED = 1234

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_WORDS_EN = (
    "the a model adapter train loss data token chat user assistant system hello world "
    "question answer yes no please thanks number one two three four five six seven eight "
    "nine ten red green blue cat dog house tree water fire code python function return "
    "value list dict error file path name time day night good bad small large fast slow"
).split()
_WORDS_RU = (
    "привет мир модель данные ответ вопрос да нет спасибо пожалуйста один два три четыре "
    "пять кот собака дом дерево вода огонь код функция время день ночь хорошо плохо"
).split()


def _corpus(rng: random.Random, lines: int = 3000) -> list[str]:
    out = []
    for _ in range(lines):
        words = _WORDS_EN if rng.random() < 0.7 else _WORDS_RU
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        if rng.random() < 0.3:
            sentence += f" {rng.randint(0, 99999)}"
        out.append(sentence.capitalize() + rng.choice([".", "?", "!", ""]))
    return out


def build_tiny_lm(out_dir: Path, *, hidden: int = 64, heads: int = 4, kv_heads: int = 2) -> Path:
    """Build the tiny model + tokenizer into ``out_dir`` (created); returns ``out_dir``.
    ``hidden / heads`` is the head size: 16 by default; vLLM's CPU attention kernel needs 64
    (see :func:`cached_tiny_lm_vllm`)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(rng), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=2048,
        padding_side="right",
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    torch.manual_seed(SEED)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def default_cache_root() -> Path:
    env = os.environ.get("TUNEFORGE_TINY_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".tiny-cache"


def cached_tiny_lm(cache_root: Path | None = None) -> Path:
    """Return the directory of the tiny model, building it once per cache root."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    return build_once(root, "tiny-qwen2", "config.json", build_tiny_lm)


def cached_tiny_lm_vllm(cache_root: Path | None = None) -> Path:
    """The tiny model shaped for the real vLLM (CPU build): hidden 128, 2 heads, so head_dim
    64 — head_dim 16 dies at the first request ("Unsupported CPU attention configuration")."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    return build_once(root, "tiny-qwen2-hd64", "config.json",
                      lambda out: build_tiny_lm(out, hidden=128, heads=2, kv_heads=2))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tuneforge.testing.tiny_lm OUT_DIR")
    print(build_tiny_lm(Path(sys.argv[1])))
