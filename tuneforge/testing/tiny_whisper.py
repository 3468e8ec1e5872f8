"""A tiny random-weight Whisper in CTranslate2 format, built offline for faster-whisper.

The real code path (faster-whisper → CTranslate2 → Whisper decoder) runs on it; the text
it produces is garbage, which is all a test needs. What makes faster-whisper accept it
(see ../shared/OFFLINE.md):

- ``tokenizer.json`` next to ``model.bin`` (without it faster-whisper fetches one from the
  hub), keeping Whisper's id layout: 50257 ``<|endoftext|>``, ``<|startoftranscript|>``,
  99 language tokens, task tokens, ``<|notimestamps|>`` at 50363, then 1,501 timestamp
  tokens (51,865 ids in all);
- the empty-string token in the vocabulary (CTranslate2 ≥ 4.8 treats a model as
  multilingual only then), and ``lang_to_id`` in the generation config.

The build takes a few seconds and is cached under ``cache_root`` (default
``$TUNEFORGE_TEST_CACHE`` or ``~/.cache/tuneforge-tests``), written to a temporary directory
and renamed into place, so parallel test runs never see half a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuneforge.testing.cache import build_once

BUILD_VERSION = "tiny-whisper-v1"
N_TEXT = 50257  # ids 0..50256 are the text vocabulary
_TASK_TOKENS = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                "<|nocaptions|>", "<|notimestamps|>"]  # fmt: skip


def default_cache_root() -> Path:
    env = os.environ.get("TUNEFORGE_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tuneforge-tests"


def cached_tiny_whisper(cache_root: Path | str | None = None) -> Path:
    """Return the directory of the tiny CTranslate2 Whisper, building it on first use."""
    root = Path(cache_root) if cache_root else default_cache_root()
    return build_once(root, BUILD_VERSION, "model.bin", lambda out: _build(out.parent / "hf", out))


def _language_codes() -> list[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    codes = [c for c in _LANGUAGE_CODES if c != "yue"]  # 99 languages before large-v3
    assert len(codes) == 99
    return codes


def _special_tokens() -> list[str]:
    langs = [f"<|{c}|>" for c in _language_codes()]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return ["<|endoftext|>", "<|startoftranscript|>", *langs, *_TASK_TOKENS, *stamps]


def _tokenizer(hf_dir: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = list(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for ch in sorted(byte_chars):
        vocab[ch] = len(vocab)
    vocab[""] = len(vocab)  # the empty-string token CTranslate2 looks for
    i = 0
    while len(vocab) < N_TEXT:  # fillers keep Whisper's ids; BPE never produces them
        vocab[f"\u0120w{i}"] = len(vocab)  # decodes to " w<i>"
        i += 1
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = _special_tokens()
    tok.add_special_tokens(specials)
    assert tok.token_to_id("<|endoftext|>") == 50257
    assert tok.token_to_id("<|notimestamps|>") == 50363
    assert tok.get_vocab_size() == 51865
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
    )
    fast.save_pretrained(str(hf_dir))


def _build(hf_dir: Path, out: Path) -> None:
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    torch.manual_seed(0)
    hf_dir.mkdir(parents=True)
    _tokenizer(hf_dir)
    langs = _language_codes()
    config = WhisperConfig(
        vocab_size=51865,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=50257,
        bos_token_id=50257,
        eos_token_id=50257,
        decoder_start_token_id=50258,
    )
    model = WhisperForConditionalGeneration(config)
    model.save_pretrained(str(hf_dir))
    gen = GenerationConfig(
        decoder_start_token_id=50258,
        eos_token_id=50257,
        pad_token_id=50257,
        bos_token_id=50257,
        no_timestamps_token_id=50363,
        is_multilingual=True,
        lang_to_id={f"<|{c}|>": 50259 + i for i, c in enumerate(langs)},
        task_to_id={"translate": 50358, "transcribe": 50359},
        suppress_tokens=[],
        begin_suppress_tokens=[220, 50257],
        max_length=448,
    )
    gen._from_model_config = False
    gen.save_pretrained(str(hf_dir))
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(hf_dir))
    TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
    ).convert(str(out), quantization="int8")
    (out / "tuneforge-tiny.json").write_text(
        json.dumps({"build": BUILD_VERSION, "random_weights": True}) + "\n", encoding="utf-8"
    )
