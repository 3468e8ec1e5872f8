"""Throughput in the progress stream (issue 27 item 5): tokens/s of real tokens in the metrics
events of the real worker, and the MFU formula per method."""

from __future__ import annotations

import re

import pytest
from trainer_helpers import FAST_CONFIG, of, run_worker, write_jsonl, write_spec

from tuneforge.services.trainer import throughput

TRAIN = "tuneforge.services.trainer.train_worker"


def test_flops_per_token_is_4n_for_lora_on_a_frozen_base():
    assert throughput.flops_factor("lora", gradient_checkpointing=False) == 4
    assert throughput.flops_per_token(1_000_000, "dpo", False) == 4_000_000


def test_flops_per_token_is_6n_for_full_fine_tuning():
    assert throughput.flops_factor("full", gradient_checkpointing=False) == 6
    assert throughput.flops_factor("full", gradient_checkpointing=True) == 6


def test_flops_per_token_is_6n_for_lora_with_activation_checkpointing():
    assert throughput.flops_per_token(1_000_000, "lora", True) == 6_000_000


def test_mfu_is_achieved_model_flops_over_the_gpus_peak():
    peak = throughput.peak_flops("NVIDIA H100 80GB HBM3", "bf16")
    assert peak == 989e12 and throughput.peak_flops("NVIDIA H100 PCIe", "bf16") == 756e12
    # 8B parameters, LoRA: 4 x 8e9 FLOPs per token; 10k tokens/s → 3.2e14 FLOP/s
    assert throughput.mfu(10_000, throughput.flops_per_token(8_000_000_000, "lora", False), peak) \
        == pytest.approx(3.2e14 / 989e12)
    assert throughput.mfu(10_000, 1e9, None) is None  # a CPU, or a GPU of unknown peak
    assert throughput.peak_flops("Some Future Accelerator", "bf16") is None


def test_metrics_events_carry_tokens_per_second_of_non_padding_tokens(tmp_path, tiny_model):
    # replies of very different lengths: every batch of 4 is padded
    records = [{"messages": [{"role": "user", "content": f"count to {n}"},
                             {"role": "assistant", "content": " ".join(["tick"] * n)}]}
               for n in (1, 9, 2, 30, 3, 17, 4, 25)]
    train = write_jsonl(tmp_path / "data.jsonl", records)
    spec = write_spec(tmp_path, "tps", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"),
                      config={**FAST_CONFIG, "epochs": 2, "validation_split": 0})
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    logged = [e["message"] for e in of(events, "log") if e["message"].startswith("train: ")][0]
    tokens = int(re.search(r"(\d+) tokens", logged).group(1))  # chat_data's count of the records
    series = [e for e in of(events, "metrics") if "loss" in e]
    assert series and all(e["tokens_per_second"] > 0 for e in series)
    assert series[-1]["num_tokens"] == 2 * tokens  # no padding counted: two epochs of the records
    result = of(events, "result")[-1]["data"]
    assert result["tokens_per_second"] == pytest.approx(2 * tokens / result["train_runtime"])
    assert result["flops_per_token"] > 0 and "mfu" not in result  # a CPU: tokens/s only
    assert "mfu" not in series[-1] and "peak_gpu_memory_bytes" not in result


def test_gpu_bench_table_prints_mfu_counted_as_the_worker_counts_it():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import gpu_bench

    run = {"impl": "ours", "fast": False, "quantization": "none", "use_liger_kernel": False,
           "packing": False, "tokens_per_second": 20_000.0, "peak_bytes": 2**31}
    text = gpu_bench.table([run], 494_000_000, gpu_bench.QWEN_05B, 512,
                           gpu_bench.peak_flops("NVIDIA H100 80GB HBM3", None))
    per_token = 6 * 494_000_000 + 12 * 24 * 896 * 512  # LoRA with checkpointing: 6N + attention
    assert "MFU (6N)" in text and f"{100 * 20_000 * per_token / 989e12:.1f}%" in text
