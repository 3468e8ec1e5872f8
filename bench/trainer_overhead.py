"""Overhead of the tuneforge training worker vs a plain TRL script, same settings, same run.

    python bench/trainer_overhead.py [--records 300] [--rounds 2] [--threads 1]

Both train the tiny Qwen2 model (tuneforge.testing.tiny_lm) with LoRA r8 on q/k/v, batch 4,
max length 256, one epoch, fp32 on CPU, assistant-only loss, in a fresh subprocess each. The
plain script is what a user would write: SFTTrainer on the ``messages`` dataset with
``assistant_only_loss=True``. Throughput = real (non-pad) tokens trained (TRL's ``num_tokens``)
divided by the Trainer's own ``train_runtime`` — process start, imports, model loading and
tokenization are excluded on both sides. Runs alternate (worker, plain, worker, plain, ...) to
spread the noise of a shared machine; the median of each side is compared. Target ratio ≥ 0.97.

Note: TRL's ``SFTConfig`` defaults to ``bf16=True`` even on a CPU; the plain script sets
``bf16=False`` so both train in fp32 (what the worker's ``precision=auto`` picks on a CPU). Left
at TRL's default, the plain script ran ~2.5x slower here (bf16 autocast on a CPU without bf16
units).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_common import REPO, chat_records, env, run_worker, write_jsonl  # noqa: E402

SETTINGS = dict(lora_rank=8, lora_alpha=16, lora_dropout=0.05,
                target_modules=["q_proj", "k_proj", "v_proj"], batch_size=4,
                gradient_accumulation_steps=1, learning_rate=2e-4, epochs=1, max_seq_length=256,
                warmup_ratio=0.03, weight_decay=0.01, gradient_checkpointing=False,
                save_steps=100000, seed=42, packing=False)

PLAIN = r'''
import json, sys
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
model_dir, data, out, s = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
model.config.use_cache = False  # as the worker does (and most recipes)
ds = load_dataset("json", data_files=data, split="train")
args = SFTConfig(output_dir=out, per_device_train_batch_size=s["batch_size"],
    gradient_accumulation_steps=s["gradient_accumulation_steps"], learning_rate=s["learning_rate"],
    num_train_epochs=s["epochs"], warmup_ratio=s["warmup_ratio"], weight_decay=s["weight_decay"],
    gradient_checkpointing=False, use_cpu=True, bf16=False, save_strategy="no", logging_steps=1,
    seed=s["seed"], data_seed=s["seed"], max_length=s["max_seq_length"], packing=False,
    assistant_only_loss=True, report_to=[], disable_tqdm=True)
peft = LoraConfig(r=s["lora_rank"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
    target_modules=s["target_modules"], bias="none", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft)
m = trainer.train().metrics
tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
print("RESULT " + json.dumps({"num_tokens": tokens, "train_runtime": m["train_runtime"],
                               "global_step": trainer.state.global_step}))
'''


def run_plain(model: Path, data: Path, out: Path, threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", PLAIN, str(model), str(data), str(out),
                           json.dumps(SETTINGS)], cwd=REPO, env=env(threads),
                          capture_output=True, text=True, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"plain TRL failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    model = cached_tiny_lm()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_jsonl(work / "data.jsonl", chat_records(args.records, 20, 160))
        ours, plain = [], []
        for r in range(args.rounds):
            res = run_worker({"base_model": str(model), "train_file": str(data),
                              "output_dir": str(work / f"adapters/a{r}"),
                              "config": SETTINGS, "logging_steps": 1}, work, f"w{r}",
                              args.threads)
            ours.append(res["num_tokens"] / res["train_runtime"])
            p = run_plain(model, data, str(work / f"plain{r}"), args.threads)
            plain.append(p["num_tokens"] / p["train_runtime"])
            print(f"round {r}: worker {ours[-1]:.0f} tok/s ({res['num_tokens']:.0f} tokens, "
                  f"{res['global_step']} steps) | plain TRL {plain[-1]:.0f} tok/s "
                  f"({p['num_tokens']:.0f} tokens, {p['global_step']} steps)", flush=True)
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"median tokens/s: tuneforge worker {a:.0f}, plain TRL {b:.0f}, ratio {a / b:.3f} "
          f"(target >= 0.97)")


if __name__ == "__main__":
    main()
