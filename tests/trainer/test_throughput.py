"""Throughput in the progress stream (issue 27 item 5): tokens/s of real tokens in the progress
and metrics events of the real worker, counted alike for every method (throughput.TokenCounter),
and the MFU formula per method.

Every method's progress events and result are checked on the shared runs of
test_training_methods.py; the count is checked exactly against the data here (SFT, DPO, ORPO),
there (KTO, with held-out answers that must not count) and in test_grpo.py (GRPO, through gRPC).
"""

from __future__ import annotations

import re

import pytest
from trainer_helpers import FAST_CONFIG, of, run_worker, write_jsonl, write_spec

from tuneforge.services.trainer import throughput

TRAIN = "tuneforge.services.trainer.train_worker"


def test_flops_per_token_is_4n_for_lora_on_a_frozen_base():
    assert throughput.flops_factor("lora", gradient_checkpointing=False) == 4
    # (was "dpo" here: DPO now also counts its reference model's forward, below)
    assert throughput.flops_per_token(1_000_000, "orpo", False) == 4_000_000


def test_flops_per_token_is_6n_for_full_fine_tuning():
    assert throughput.flops_factor("full", gradient_checkpointing=False) == 6
    assert throughput.flops_factor("full", gradient_checkpointing=True) == 6


def test_flops_per_token_is_6n_for_lora_with_activation_checkpointing():
    assert throughput.flops_per_token(1_000_000, "lora", True) == 6_000_000


@pytest.mark.parametrize("method,plain,checkpointed", [
    ("lora", 4, 6), ("full", 6, 6),
    ("dpo", 6, 8),    # + the reference forward (the base, adapter disabled) over the same tokens
    ("orpo", 4, 6),   # no reference model
    ("kto", 10, 12),  # + the reference forward, + policy and reference forwards of the KL pairs
    ("grpo", 6, 8),   # + sampling: a forward per prompt and per generated token
])
def test_flops_factor_counts_every_pass_a_method_runs_per_trained_token(method, plain, checkpointed):
    assert throughput.flops_factor(method, gradient_checkpointing=False) == plain
    assert throughput.flops_factor(method, gradient_checkpointing=True) == checkpointed


def test_mfu_is_achieved_model_flops_over_the_gpus_peak():
    peak = throughput.peak_flops("NVIDIA H100 80GB HBM3", "bf16")
    assert peak == 989e12 and throughput.peak_flops("NVIDIA H100 PCIe", "bf16") == 756e12
    # 8B parameters, LoRA: 4 x 8e9 FLOPs per token; 10k tokens/s → 3.2e14 FLOP/s
    assert throughput.mfu(10_000, throughput.flops_per_token(8_000_000_000, "lora", False), peak) \
        == pytest.approx(3.2e14 / 989e12)
    assert throughput.mfu(10_000, 1e9, None) is None  # a CPU, or a GPU of unknown peak
    assert throughput.peak_flops("Some Future Accelerator", "bf16") is None


# ---- counting real tokens ------------------------------------------------------------------
def _mask(*lengths: int, width: int = 6, left: bool = False):
    import torch

    rows = [[0] * (width - n) + [1] * n if left else [1] * n + [0] * (width - n) for n in lengths]
    return torch.tensor(rows)


def test_a_padded_batch_counts_its_attention_masks_ones():
    # SFT; DPO's rows are chosen and rejected concatenated, KTO's prompt + completion
    import torch

    batch = {"input_ids": torch.zeros(2, 6, dtype=torch.long), "attention_mask": _mask(5, 2),
             "completion_mask": _mask(3, 1)}
    assert int(throughput.batch_tokens(batch)) == 7


def test_a_padding_free_packed_batch_counts_every_token_of_its_row():
    import torch

    batch = {"input_ids": torch.zeros(1, 11, dtype=torch.long),
             "position_ids": torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3]])}
    assert int(throughput.batch_tokens(batch)) == 11


def test_an_orpo_batch_counts_prompt_and_answer_of_both_chosen_and_rejected():
    batch = {"prompt_attention_mask": _mask(3, 3), "chosen_attention_mask": _mask(6, 5),
             "rejected_attention_mask": _mask(4, 5)}  # each row: prompt + answer
    assert int(throughput.batch_tokens(batch)) == 20


def test_a_grpo_batch_counts_the_prompt_and_the_sampled_completion():
    batch = {"prompt_mask": _mask(4, 2, left=True), "completion_mask": _mask(6, 1),
             "advantages": None}
    assert int(throughput.batch_tokens(batch)) == 13


class _Model:
    training = True


class _Trainer:
    """What TokenCounter needs of a trainer: compute_loss(model, inputs, ...)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.seen.append(inputs)
        return 0.5


def test_the_counter_adds_every_trained_micro_batch_and_skips_evaluation_batches():
    trainer, model, counter = _Trainer(), _Model(), throughput.TokenCounter()
    counter.attach(trainer)
    batch = {"attention_mask": _mask(5, 2)}
    assert trainer.compute_loss(model, batch, num_items_in_batch=3) == 0.5  # still the trainer's
    trainer.compute_loss(model, batch)  # a second micro-batch of the same step
    assert counter.total() == 14
    model.training = False  # evaluation: the same call, not counted
    trainer.compute_loss(model, batch, return_outputs=True)
    assert counter.total() == 14 and len(trainer.seen) == 3


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
    steps = [e for e in of(events, "progress") if e["phase"] == "training" and e.get("step")]
    assert steps and all(e["tokens_per_second"] > 0 for e in steps)  # Progress.tokens_per_second
    result = of(events, "result")[-1]["data"]
    assert result["tokens_per_second"] == pytest.approx(2 * tokens / result["train_runtime"])
    assert result["flops_per_token"] > 0 and "mfu" not in result  # a CPU: tokens/s only
    assert "mfu" not in series[-1] and "peak_gpu_memory_bytes" not in result


def _template_tokens(tokenizer, messages: list[dict]) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True))


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_preference_methods_count_prompt_and_answer_of_both_chosen_and_rejected(
        tmp_path, tiny_model, method):
    from test_training_methods import preference_records
    from transformers import AutoTokenizer

    pairs = preference_records(4)  # one batch of 4, one step
    train = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    spec = write_spec(tmp_path, method, base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"),
                      config={**FAST_CONFIG, "method": method, "validation_split": 0})
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    expected = 0
    for pair in pairs:
        for answer in (pair["chosen"], pair["rejected"]):
            ids = _template_tokens(tok, pair["prompt"] + answer)
            # ORPO's tokenizer appends the end-of-sequence token to each answer and trains on it
            expected += len(ids) + (method == "orpo" and ids[-1] != tok.eos_token_id)
    series = [e for e in of(events, "metrics") if "loss" in e]
    assert [e["num_tokens"] for e in series] == [expected]
    steps = [e for e in of(events, "progress") if e["phase"] == "training" and e.get("step")]
    assert steps and all(e["tokens_per_second"] > 0 for e in steps)
    result = of(events, "result")[-1]["data"]
    assert result["num_tokens"] == expected and result["tokens_per_second"] > 0
    parameters = int(re.search(r"of ([\d,]+) parameters", output).group(1).replace(",", ""))
    assert result["flops_per_token"] == throughput.flops_factor(method, False) * parameters


def test_gpu_bench_table_prints_mfu_counted_as_the_worker_counts_it():
    gpu_bench = _gpu_bench()
    run = {"impl": "ours", "fast": False, "quantization": "none", "use_liger_kernel": False,
           "packing": False, "tokens_per_second": 20_000.0, "peak_bytes": 2**31}
    text = gpu_bench.table([run], 494_000_000, gpu_bench.QWEN_05B, 512,
                           gpu_bench.peak_flops("NVIDIA H100 80GB HBM3", None))
    per_token = 6 * 494_000_000 + 12 * 24 * 896 * 512  # LoRA with checkpointing: 6N + attention
    assert "MFU (6N)" in text and f"{100 * 20_000 * per_token / 989e12:.1f}%" in text


def _gpu_bench():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import gpu_bench

    return gpu_bench


def test_gpu_bench_prints_tokens_per_second_and_mfu_per_method_with_the_workers_factor():
    gpu_bench = _gpu_bench()
    runs = [{"method": m, "tokens_per_second": 10_000.0, "peak_bytes": 2**30}
            for m in ("lora", "dpo", "orpo", "kto")] + [{"method": "grpo", "error": "no GPU"}]
    text = gpu_bench.methods_table(runs, 494_000_000, 989e12)
    mfu = {k: f"{100 * 10_000 * k * 494_000_000 / 989e12:.1f}%" for k in (6, 8, 12)}
    # the bench's settings use activation checkpointing: +2N on each adapter method
    assert f"| lora | 10,000 | 6N | {mfu[6]} | 1.00 GiB |" in text
    assert f"| dpo | 10,000 | 8N | {mfu[8]} |" in text and f"| orpo | 10,000 | 6N | {mfu[6]} |" in text
    assert f"| kto | 10,000 | 12N | {mfu[12]} |" in text and "| grpo | failed: no GPU | 8N |" in text
    assert "| lora | 10,000 | 6N | - |" in gpu_bench.methods_table(runs[:1], 494_000_000, None)


def test_gpu_bench_data_of_every_method_is_what_the_worker_reads(tmp_path):
    from trainer_helpers import learnable_records

    from tuneforge.services.trainer import grpo_data, preference_data

    gpu_bench = _gpu_bench()
    chats = learnable_records(4)
    for method, load in (("dpo", preference_data.load_pairs), ("orpo", preference_data.load_pairs),
                         ("kto", preference_data.load_labelled)):
        path = write_jsonl(tmp_path / f"{method}.jsonl", gpu_bench.method_records(method, chats))
        assert len(load(path)) == 4, method
    rows, skipped = grpo_data.load(write_jsonl(tmp_path / "grpo.jsonl",
                                               gpu_bench.method_records("grpo", chats)))
    assert len(rows) == 4 and not skipped
