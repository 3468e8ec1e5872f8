"""The pre-flight memory estimate: its arithmetic, its advice, and against measured CPU peaks.

The measured peak is the real training worker's maximum RSS (``wait4``'s rusage of that one
child) training a randomly initialised 25M-parameter Qwen2 for two steps; the estimate must be
within 25% of it. The GPU comparison lives in bench/gpu_bench.py.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_helpers import FAST_CONFIG, REPO, worker_env, write_jsonl, write_spec

from tuneforge.services.trainer.memory_estimate import (
    ModelShape,
    PlanSettings,
    advice,
    estimate,
)

TRAIN = "tuneforge.services.trainer.train_worker"


def _safetensors_parameters(path: Path) -> int:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    total = 0
    for name, info in header.items():
        if name != "__metadata__":
            count = 1
            for dim in info["shape"]:
                count *= dim
            total += count
    return total


def _shape(model_dir: Path) -> ModelShape:
    return ModelShape.from_config(json.loads((model_dir / "config.json").read_text()))


def test_parameter_count_from_config_matches_the_weights_file(tiny_model):
    assert _shape(tiny_model).parameters() == \
        _safetensors_parameters(tiny_model / "model.safetensors")


def test_config_without_layer_sizes_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelShape.from_config({"model_type": "whisper"})


QWEN_05B = ModelShape(hidden=896, layers=24, heads=14, kv_heads=2, head_dim=64,
                      intermediate=4864, vocab=151936, tied_embeddings=True)


def test_nf4_needs_less_than_half_precision_weights():
    bf16 = estimate(QWEN_05B, PlanSettings(precision="bf16", device="cuda"))
    nf4 = estimate(QWEN_05B, PlanSettings(precision="bf16", device="cuda", quantization="nf4"))
    assert nf4.weights < bf16.weights


def test_gradient_checkpointing_shrinks_activations():
    off = estimate(QWEN_05B, PlanSettings(gradient_checkpointing=False, device="cuda"))
    on = estimate(QWEN_05B, PlanSettings(gradient_checkpointing=True, device="cuda"))
    assert on.activations < off.activations / 4


def test_preference_methods_score_twice_the_rows():
    sft = estimate(QWEN_05B, PlanSettings(device="cuda"))
    dpo = estimate(QWEN_05B, PlanSettings(method="dpo", device="cuda"))
    assert dpo.logits == 2 * sft.logits


def test_advice_for_a_model_that_does_not_fit_names_the_settings_to_change():
    s = PlanSettings(precision="bf16", device="cuda", batch_size=8, seq_len=4096,
                     gradient_checkpointing=False)
    tips = " ".join(advice(QWEN_05B, s, available=4 * 1024**3))
    for tip in ("--set quantization=nf4", "--set gradient_checkpointing=true",
                "--set batch_size=1", "--set max_seq_length="):
        assert tip in tips


def test_advice_for_full_fine_tuning_suggests_an_adapter_first():
    tips = advice(QWEN_05B, PlanSettings(method="full", device="cuda"), available=1024**3)
    assert tips[0].endswith("--set method=lora")


# ---- against the measured peak RSS of the real worker ---------------------------------------
@pytest.fixture(scope="module")
def mid_model(tmp_path_factory, tiny_model) -> Path:
    """A 25M-parameter Qwen2 (random weights) with the tiny model's tokenizer: big enough that
    weights, optimizer state and activations, not the imported libraries, decide the peak."""
    code = (
        "import sys, torch\n"
        "from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "cfg = Qwen2Config(hidden_size=512, num_hidden_layers=8, num_attention_heads=8,\n"
        "    num_key_value_heads=2, intermediate_size=1536, vocab_size=len(tok),\n"
        "    tie_word_embeddings=True, max_position_embeddings=1024)\n"
        "torch.manual_seed(0)\n"
        "Qwen2ForCausalLM(cfg).save_pretrained(sys.argv[2]); tok.save_pretrained(sys.argv[2])\n")
    out = tmp_path_factory.mktemp("mid") / "model"
    subprocess.run([sys.executable, "-c", code, str(tiny_model), str(out)], check=True,
                   env=worker_env(), cwd=REPO, capture_output=True)
    return out


def _long_chats(n: int, words: int) -> list[dict]:
    rng = random.Random(1)
    return [{"messages": [
        {"role": "user", "content": "say"},
        {"role": "assistant", "content": " ".join(rng.choice(["red", "cat", "dog", "tree"])
                                                  for _ in range(words))}]} for _ in range(n)]


def _peak_rss(spec: Path) -> int:
    proc = subprocess.Popen([sys.executable, "-m", TRAIN, "--spec", str(spec)], cwd=REPO,
                            env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, output[-3000:]
    return usage.ru_maxrss * 1024


def _longest_tokens(model: Path, records: list[dict]) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    # content + ChatML markup (<|im_start|>role\n ... <|im_end|>\n: 5 tokens a message)
    return max(sum(len(tok.encode(m["content"]).ids) + 5 for m in r["messages"])
               for r in records)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_estimate_is_within_25_percent_of_the_measured_cpu_peak(tmp_path, mid_model, method):
    records = _long_chats(16, 200)
    config = {**FAST_CONFIG, "method": method, "max_seq_length": 256, "batch_size": 4,
              "lora_dropout": 0.05}
    spec = write_spec(tmp_path, method, base_model=str(mid_model), max_steps=2,
                      train_file=str(write_jsonl(tmp_path / "d.jsonl", records)),
                      output_dir=str(tmp_path / "out"), config=config)
    measured = _peak_rss(spec)
    settings = PlanSettings(method=method, lora_rank=config["lora_rank"],
                            target_modules=config["target_modules"], batch_size=4,
                            seq_len=min(256, _longest_tokens(mid_model, records)),
                            gradient_checkpointing=False, lora_dropout=0.05)
    predicted = estimate(_shape(mid_model), settings).total
    print(f"{method}: estimate {predicted / 2**20:.0f} MiB, measured peak RSS "
          f"{measured / 2**20:.0f} MiB, ratio {predicted / measured:.3f}")
    assert abs(predicted / measured - 1) <= 0.25, (predicted, measured)
