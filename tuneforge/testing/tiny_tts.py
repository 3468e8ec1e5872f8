"""A tiny random-weight Qwen3-TTS 12 Hz *base* model, built offline from configs.

Same architecture and on-disk layout as ``Qwen/Qwen3-TTS-12Hz-1.7B-Base`` (talker + code
predictor + speaker encoder, text tokenizer + processor, ``speech_tokenizer/`` with a Mimi
encoder and the 12 Hz decoder, ``generation_config.json``), but a few hundred thousand
parameters, so tests run the real ``qwen_tts`` code paths — encode audio to codes, train,
load a checkpoint with ``Qwen3TTSModel.from_pretrained`` and synthesize — in seconds.

Facts it relies on (../shared/OFFLINE.md): talker vocab 3072 > 3000 (speaker row), codec
ids in the real layout, 16 code groups, ``text_hidden_size == hidden_size``, mrope sections
summing to ``head_dim / 2``; speech tokenizer frame rate 12.5 with 16 quantizers and
codebook 2048 = talker vocab − 1024; the codebooks start at zero and are filled with random
values here (or every code would be 0); ``model_type`` dropped from the speaker-encoder
config (or reloading fails). Cached and built atomically like the tiny Whisper.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneforge.testing.cache import build_once

from tuneforge.testing.tiny_whisper import default_cache_root

BUILD_VERSION = "tiny-qwen3-tts-v1"

CODEC = {
    "codec_pad_id": 2148,
    "codec_bos_id": 2149,
    "codec_eos_token_id": 2150,
    "codec_think_id": 2154,
    "codec_nothink_id": 2155,
    "codec_think_bos_id": 2156,
    "codec_think_eos_id": 2157,
}
LANGUAGES = {"chinese": 2055, "english": 2050, "russian": 2069, "german": 2053}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>",
            "<tts_text_eod>"]  # fmt: skip
_CORPUS = [
    "hello world, this is a tiny voice model for tests.",
    "привет, это маленькая модель для тестов.",
    "the quick brown fox jumps over the lazy dog 0123456789.",
    "assistant user system speak slowly please!",
]


def cached_tiny_tts(cache_root: Path | str | None = None) -> Path:
    """Return the directory of the tiny base model, building it on first use."""
    root = Path(cache_root) if cache_root else default_cache_root()
    return build_once(root, BUILD_VERSION, "model.safetensors", build_tiny_tts)


def _text_tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 5, trainer=trainer)
    fast = Qwen2TokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=SPECIALS[1:],
    )
    fast.save_pretrained(str(out))
    return fast


def build_tiny_tts(out: Path) -> Path:
    import torch

    from tuneforge.services.tts.qwen_env import import_qwen_tts

    import_qwen_tts()
    from transformers import EncodecFeatureExtractor
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from qwen_tts.core.models import (
        Qwen3TTSConfig,
        Qwen3TTSForConditionalGeneration,
        Qwen3TTSProcessor,
    )

    torch.manual_seed(0)
    out.mkdir(parents=True)
    tokenizer = _text_tokenizer(out)
    Qwen3TTSProcessor(tokenizer=tokenizer).save_pretrained(str(out))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}

    hidden, head_dim = 64, 16
    talker = {
        "vocab_size": 3072,
        "hidden_size": hidden,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": head_dim,
        "num_code_groups": 16,
        "text_hidden_size": hidden,
        "text_vocab_size": 512,
        "max_position_embeddings": 4096,
        "rope_scaling": {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True},
        "spk_id": {},
        "spk_is_dialect": {},
        "codec_language_id": dict(LANGUAGES),
        "code_predictor_config": {
            "vocab_size": 2048,
            "hidden_size": hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": head_dim,
            "num_code_groups": 16,
            "max_position_embeddings": 64,
        },
        **CODEC,
    }
    config = Qwen3TTSConfig(
        talker_config=talker,
        speaker_encoder_config={
            "mel_dim": 128,
            "enc_dim": hidden,
            "enc_channels": [32, 32, 32, 32, 96],
            "enc_attention_channels": 16,
            "enc_res2net_scale": 4,
            "enc_se_channels": 16,
            "sample_rate": 24000,
        },
        tokenizer_type="qwen3_tts_tokenizer_12hz",
        tts_model_size="tiny",
        tts_model_type="base",
        im_start_token_id=ids["<|im_start|>"],
        im_end_token_id=ids["<|im_end|>"],
        tts_pad_token_id=ids["<tts_pad>"],
        tts_bos_token_id=ids["<tts_text_bos>"],
        tts_eos_token_id=ids["<tts_text_eod>"],
    )
    model = Qwen3TTSForConditionalGeneration(config)
    model.save_pretrained(str(out))
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg.get("speaker_encoder_config", {}).pop("model_type", None)
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    (out / "generation_config.json").write_text(
        json.dumps(
            {"do_sample": True, "top_k": 50, "top_p": 1.0, "temperature": 0.9,
             "repetition_penalty": 1.05, "subtalker_dosample": True, "subtalker_top_k": 50,
             "subtalker_top_p": 1.0, "subtalker_temperature": 0.9, "max_new_tokens": 64},
            indent=2,
        ),
        encoding="utf-8",
    )  # fmt: skip

    st_config = Qwen3TTSTokenizerV2Config(
        encoder_config={
            "sampling_rate": 24000,
            "frame_rate": 12.5,
            "audio_channels": 1,
            "hidden_size": 32,
            "num_filters": 4,
            "num_residual_layers": 1,
            "upsampling_ratios": [8, 6, 5, 4],
            "codebook_size": 2048,
            "codebook_dim": 16,
            "vector_quantization_hidden_dimension": 16,
            "num_quantizers": 16,
            "num_semantic_quantizers": 1,
            "upsample_groups": 32,
            "num_hidden_layers": 1,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "sliding_window": 250,
            "use_cache": False,
        },
        decoder_config={
            "codebook_size": 2048,
            "codebook_dim": 16,
            "hidden_size": 32,
            "latent_dim": 32,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_quantizers": 16,
            "upsample_rates": [8, 5, 4, 3],
            "upsampling_ratios": [2, 2],
            "decoder_dim": 32,
            "sliding_window": 72,
        },
        encoder_valid_num_quantizers=16,
    )
    speech = Qwen3TTSTokenizerV2Model(st_config)
    with torch.no_grad():
        for name, tensor in list(speech.named_parameters()) + list(speech.named_buffers()):
            if name.endswith(("embed_sum", "embedding_sum")):
                tensor.copy_(torch.randn_like(tensor))
            elif name.endswith("initialized"):
                tensor.fill_(True)
    st_dir = out / "speech_tokenizer"
    speech.save_pretrained(str(st_dir))
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000).save_pretrained(str(st_dir))
    (out / "tuneforge-tiny.json").write_text(
        json.dumps({"build": BUILD_VERSION, "random_weights": True}) + "\n", encoding="utf-8"
    )
    return out
