"""Packing (padding-free, TRL "bfd") vs padded batches on chat data of mixed lengths.

    python bench/trainer_packing.py [--records 300] [--rounds 2] [--threads 1]

The real training worker trains the tiny Qwen2 model twice on the same chats (1-2 turns, message
lengths log-uniform between 2 and 200 words — most chats short, a few long, like real chat
exports; ~10 to ~900 tokens, truncated at 512), batch 8, max length 512, fp32 on CPU: once with padded batches (each batch padded to its
longest chat), once with ``packing=true`` (chats packed best-fit into 512-token rows, no pad
tokens; attention kept inside each chat through position_ids). Throughput counts only real
tokens: TRL's ``num_tokens`` (attention-mask sum when padded, the packed length when
padding-free) over the Trainer's ``train_runtime``. Target: packed ≥ 1.5x padded tokens/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_common import chat_records, run_worker, write_jsonl  # noqa: E402

SETTINGS = dict(lora_rank=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj"],
                batch_size=8, gradient_accumulation_steps=1, learning_rate=2e-4, epochs=1,
                max_seq_length=512, gradient_checkpointing=False, save_steps=100000, seed=42)


def padding_share(model: Path, records: list[dict]) -> float:
    """Fraction of pad tokens in batches of 8 in file order (what the padded run sees, modulo
    shuffling)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    lengths = [min(len(tok.apply_chat_template(r["messages"], tokenize=True)),
                   SETTINGS["max_seq_length"]) for r in records]
    bs = SETTINGS["batch_size"]
    padded = sum(max(lengths[i:i + bs]) * len(lengths[i:i + bs]) for i in range(0, len(lengths), bs))
    return 1 - sum(lengths) / padded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    model = cached_tiny_lm()
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        records = chat_records(args.records, 4, 400, long_tailed=True)
        data = write_jsonl(work / "data.jsonl", records)
        print(f"padding share of padded batches: {padding_share(model, records):.0%}")
        for r in range(args.rounds):
            for packing in (False, True):
                res = run_worker({"base_model": str(model), "train_file": str(data),
                                  "output_dir": str(work / f"adapters/{packing}{r}"),
                                  "config": {**SETTINGS, "packing": packing},
                                  "logging_steps": 5}, work, f"p{packing}{r}", args.threads)
                rate = res["num_tokens"] / res["train_runtime"]
                rates[packing].append(rate)
                print(f"round {r} packing={packing}: {rate:.0f} real tok/s, "
                      f"{res['num_tokens']:.0f} tokens in {res['global_step']} steps, "
                      f"{res['train_runtime']:.1f} s", flush=True)
    padded, packed = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"median real tokens/s: padded {padded:.0f}, packed {packed:.0f}, "
          f"speed-up {packed / padded:.2f}x (target >= 1.5x)")


if __name__ == "__main__":
    main()
