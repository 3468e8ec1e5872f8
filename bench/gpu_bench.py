"""GPU training speed: the tuneforge worker vs plain TRL, same settings, one table.

    python bench/gpu_bench.py                 # GPU: Qwen2.5-0.5B shapes, bf16, < 8 minutes
    python bench/gpu_bench.py --tiny          # CPU check of the whole script on the tiny model
    python bench/gpu_bench.py --dry-run       # print the plan, run nothing
    python bench/gpu_bench.py --only methods  # only the per-method table (below)

Model: a randomly initialised Qwen2 with Qwen2.5-0.5B's shapes (hidden 896, 24 layers, 14/2
heads, intermediate 4864, vocabulary 151,936, tied embeddings) saved in bf16, with the tiny
test tokenizer (only the first 1.5k ids occur; the LM head still has the full vocabulary, which
is what Liger's fused linear cross-entropy saves memory on). Data: synthetic chats with
long-tailed lengths (most short, a few long), so padding and packing matter as in real exports.

For LoRA (r 16, all linear layers) and QLoRA (the same on an nf4 base), four runs each, every
run a fresh subprocess:

| run                 | what                                                           |
|---------------------|----------------------------------------------------------------|
| plain TRL           | SFTTrainer + peft as a user writes it: the baseline            |
| tuneforge           | our worker, same settings (target ≥ 0.97× the baseline)         |
| plain TRL +liger+pack | TRL with use_liger_kernel and packing                        |
| tuneforge +liger+pack | our worker with both (target ≥ 1.5× the baseline)            |

Throughput = real (non-pad) tokens trained over the Trainer's own ``train_runtime`` (process
start, model load and tokenisation excluded); peak memory = ``torch.cuda.max_memory_allocated``
(RSS on a CPU); MFU = tokens/s × model FLOPs per token / the GPU's dense bf16 peak, with model
FLOPs per token counted as the training worker does (tuneforge.services.trainer.throughput):
4·N for adapters on a frozen base (forward 2N + input gradients 2N; no weight gradients), 6·N
with activation checkpointing (the recomputed forward, +2N; these settings use it) or for full
fine-tuning, + 12·layers·hidden·seq for attention. The table's MFU column names the factor.
Liger needs ``pip install liger-kernel`` (Triton, GPU only); without it those runs are skipped.

Then one run of our worker per training method (``--methods``, LoRA, the same settings and
chats; the LoRA row reuses the LoRA run above), a second table: tokens/s of real tokens as the
worker counts them for every method (throughput.TokenCounter) and MFU with the worker's factor
for the method, attention excluded — the figures a job's result reports:

| method | a counted token                          | FLOPs per token (checkpointing on) |
|--------|------------------------------------------|------------------------------------|
| lora   | a chat token                             | 6N (4N without checkpointing)      |
| dpo    | prompt + chosen, and prompt + rejected   | 8N: + the reference forward, 2N    |
| orpo   | prompt + chosen, and prompt + rejected   | 6N: no reference model             |
| kto    | prompt + answer                          | 12N: + reference 2N, + KL pairs 4N |
| grpo   | prompt + sampled completion              | 8N: + sampling, 2N                 |

The preference data are the chats' last replies as chosen (KTO: labelled true) against a curt
reply (labelled false); GRPO samples ``num_generations`` completions of up to
``max_completion_length`` tokens per prompt (METHOD_SETTINGS) scored by the format and length
rewards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_common import REPO, chat_records, env, write_jsonl  # noqa: E402

QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                num_key_value_heads=2, intermediate_size=4864, vocab_size=151936,
                tie_word_embeddings=True, max_position_embeddings=32768, rope_theta=1e6)
SETTINGS = dict(lora_rank=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                batch_size=8, gradient_accumulation_steps=1, learning_rate=2e-4, epochs=1,
                max_seq_length=1024, warmup_ratio=0.0, weight_decay=0.0,
                gradient_checkpointing=True, save_steps=100000, seed=42)

BUILD = r'''
import json, sys, torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
tok_dir, out, shape = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.manual_seed(0)
model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16)
model.save_pretrained(out)
AutoTokenizer.from_pretrained(tok_dir).save_pretrained(out)
print("PARAMS", sum(p.numel() for p in model.parameters()))
'''

PEAK = r'''
import atexit, json, resource, sys
def _peak():
    import torch
    peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available()
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print("PEAK " + json.dumps(peak), flush=True)
atexit.register(_peak)
'''

OURS = PEAK + r'''
import runpy
sys.argv = ["train_worker", "--spec", sys.argv[1]]
runpy.run_module("tuneforge.services.trainer.train_worker", run_name="__main__")
'''

PLAIN = PEAK + r'''
import torch
from datasets import load_dataset
from peft import LoraConfig, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer
model_dir, data, out, s = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
cuda = torch.cuda.is_available()
dtype = torch.bfloat16 if cuda else torch.float32
kw = {"dtype": dtype, "attn_implementation": s["attn_implementation"]}
if s["quantization"] == "nf4":
    kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    if cuda:
        kw["device_map"] = {"": 0}
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
model.config.use_cache = False
if s["quantization"] == "nf4":
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False})
args = SFTConfig(output_dir=out, per_device_train_batch_size=s["batch_size"],
    gradient_accumulation_steps=1, learning_rate=s["learning_rate"], max_steps=s["max_steps"],
    warmup_ratio=0.0, weight_decay=0.0, gradient_checkpointing=s["gradient_checkpointing"],
    gradient_checkpointing_kwargs={"use_reentrant": False}, use_cpu=not cuda, bf16=cuda,
    save_strategy="no", logging_steps=1, seed=42, max_length=s["max_seq_length"],
    packing=s["packing"], use_liger_kernel=s["use_liger_kernel"], assistant_only_loss=True,
    report_to=[], disable_tqdm=True)
peft = LoraConfig(r=s["lora_rank"], lora_alpha=s["lora_alpha"], lora_dropout=0.0,
    target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=load_dataset("json", data_files=data,
    split="train"), processing_class=tok, peft_config=peft)
m = trainer.train().metrics
tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
print("RESULT " + json.dumps({"num_tokens": tokens, "train_runtime": m["train_runtime"]}))
'''


METHODS = ("lora", "dpo", "orpo", "kto", "grpo")
METHOD_SETTINGS: dict[str, dict] = {
    "lora": {}, "dpo": {"method": "dpo"}, "orpo": {"method": "orpo"}, "kto": {"method": "kto"},
    "grpo": {"method": "grpo", "num_generations": 4, "max_completion_length": 128,
             "rewards": [{"kind": "format"}, {"kind": "length", "min_chars": 20, "max_chars": 400}]},
}
CURT = [{"role": "assistant", "content": "no idea"}]


def method_records(method: str, chats: list[dict]) -> list[dict]:
    """The chats as ``method``'s data: pairs (the real reply chosen, a curt one rejected) for
    dpo/orpo, alternately labelled answers for kto, the chats themselves for lora and grpo."""
    if method in ("lora", "grpo"):
        return chats
    out = []
    for i, chat in enumerate(chats):
        prompt, reply = chat["messages"][:-1], chat["messages"][-1:]
        if method == "kto":
            out.append({"prompt": prompt, "completion": reply if i % 2 == 0 else CURT,
                        "label": i % 2 == 0})
        else:
            out.append({"prompt": prompt, "chosen": reply, "rejected": CURT})
    return out


def method_runs(methods: list[str]) -> list[dict]:
    return [{"impl": "ours", "quantization": "none", "use_liger_kernel": False, "packing": False,
             "fast": False, "method": m} for m in methods]


def runs(quantizations: list[str], liger: bool) -> list[dict]:
    out = []
    for quant in quantizations:
        for fast in (False, True):
            for impl in ("plain", "ours"):
                out.append({"impl": impl, "quantization": quant, "use_liger_kernel": fast and liger,
                            "packing": fast, "fast": fast})
    return out


def _lines(proc: subprocess.CompletedProcess, prefix: str) -> list[str]:
    return [line[len(prefix):] for line in proc.stdout.splitlines() if line.startswith(prefix)]


def run_one(run: dict, model: Path, data: Path, work: Path, steps: int, attn: str) -> dict:
    settings = {**SETTINGS, "quantization": run["quantization"], "packing": run["packing"],
                "use_liger_kernel": run["use_liger_kernel"], "attn_implementation": attn,
                **METHOD_SETTINGS.get(run.get("method", "lora"), {})}
    name = (f"{run['impl']}-{run['quantization']}-{'fast' if run['fast'] else 'base'}"
            f"-{run.get('method', 'lora')}")
    if run["impl"] == "ours":
        spec = work / f"{name}.json"
        spec.write_text(json.dumps({"base_model": str(model), "train_file": str(data),
                                    "output_dir": str(work / name), "config": settings,
                                    "max_steps": steps, "logging_steps": 1}))
        argv = [sys.executable, "-c", OURS, str(spec)]
    else:
        argv = [sys.executable, "-c", PLAIN, str(model), str(data), str(work / name),
                json.dumps({**settings, "max_steps": steps})]
    proc = subprocess.run(argv, cwd=REPO, env=env(os.cpu_count() or 1), capture_output=True,
                          text=True, check=False)
    peak = _lines(proc, "PEAK ")
    if run["impl"] == "ours":
        events = [json.loads(line) for line in proc.stdout.splitlines()
                  if line.startswith('{"event": "result"')]
        result = events[-1]["data"] if events else None
    else:
        found = _lines(proc, "RESULT ")
        result = json.loads(found[-1]) if found else None
    if proc.returncode != 0 or result is None:
        tail = (proc.stdout[-1500:] + proc.stderr[-1500:]).strip()
        return {**run, "error": tail.splitlines()[-1] if tail else f"exit {proc.returncode}"}
    return {**run, "tokens_per_second": result["num_tokens"] / result["train_runtime"],
            "peak_bytes": json.loads(peak[-1]) if peak else None}


def peak_flops(name: str, override: float | None) -> float | None:
    from tuneforge.services.trainer.throughput import peak_flops as known_peak

    if override:
        return override * 1e12
    return known_peak(name, "bf16")


def per_token_flops(params: int, shape: dict, seq: int) -> tuple[float, int]:
    """(model FLOPs per token, the factor of N) for these settings: LoRA, checkpointing as set."""
    from tuneforge.services.trainer.throughput import flops_factor, flops_per_token

    attention = 12 * shape["num_hidden_layers"] * shape["hidden_size"] * seq
    checkpointing = bool(SETTINGS["gradient_checkpointing"])
    return (flops_per_token(params, "lora", checkpointing) + attention,
            flops_factor("lora", checkpointing))


def table(results: list[dict], params: int, shape: dict, seq: int, flops: float | None) -> str:
    per_token, factor = per_token_flops(params, shape, seq)
    rows = [f"| adapter | run | liger | packing | tokens/s | × plain TRL | peak memory | MFU ({factor}N) |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        base = next((b for b in results if b["impl"] == "plain" and not b["fast"]
                     and b["quantization"] == r["quantization"] and "error" not in b), None)
        label = "QLoRA" if r["quantization"] == "nf4" else "LoRA"
        impl = "tuneforge" if r["impl"] == "ours" else "plain TRL"
        if "error" in r:
            rows.append(f"| {label} | {impl} | {r['use_liger_kernel']} | {r['packing']} | "
                        f"failed: {r['error'][:80]} | | | |")
            continue
        tps = r["tokens_per_second"]
        ratio = f"{tps / base['tokens_per_second']:.2f}" if base else "-"
        mfu = f"{100 * tps * per_token / flops:.1f}%" if flops else "-"
        peak = f"{r['peak_bytes'] / 2**30:.2f} GiB" if r.get("peak_bytes") else "-"
        rows.append(f"| {label} | {impl} | {r['use_liger_kernel']} | {r['packing']} | "
                    f"{tps:,.0f} | {ratio} | {peak} | {mfu} |")
    return "\n".join(rows)


def methods_table(results: list[dict], params: int, flops: float | None) -> str:
    """tokens/s and MFU per method, FLOPs per token as the worker counts them (attention out)."""
    from tuneforge.services.trainer.throughput import flops_factor

    checkpointing = bool(SETTINGS["gradient_checkpointing"])
    rows = ["| method | tokens/s | FLOPs per token | MFU | peak memory |", "|---|---|---|---|---|"]
    for r in results:
        factor = flops_factor(r["method"], checkpointing)
        if "error" in r:
            rows.append(f"| {r['method']} | failed: {r['error'][:80]} | {factor}N | | |")
            continue
        tps = r["tokens_per_second"]
        mfu = f"{100 * tps * factor * params / flops:.1f}%" if flops else "-"
        peak = f"{r['peak_bytes'] / 2**30:.2f} GiB" if r.get("peak_bytes") else "-"
        rows.append(f"| {r['method']} | {tps:,.0f} | {factor}N | {mfu} | {peak} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="the tiny test model on CPU (a check)")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run")
    p.add_argument("--records", type=int, default=2000)
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU")
    p.add_argument("--only", choices=("lora", "qlora", "methods"), default=None,
                   help="one adapter kind of the first table, or only the per-method table")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated, for the per-method table (of {', '.join(METHODS)}); "
                        "'none' skips it")
    args = p.parse_args()
    methods = [] if args.methods == "none" else [m.strip() for m in args.methods.split(",") if m.strip()]
    if any(m not in METHODS for m in methods):
        p.error(f"--methods: each of {', '.join(METHODS)}, or none")
    if args.only == "methods" and not methods:
        p.error("--only methods needs --methods")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be >= 1")
    if args.records < 8:
        p.error("--records must be >= 8")
    import importlib.util

    cuda = _cuda_name()
    if not args.tiny and not cuda and not args.dry_run:
        p.error("no CUDA GPU here: run with --tiny for a CPU check, or on a GPU machine")
    liger = bool(cuda) and importlib.util.find_spec("liger_kernel") is not None
    attn = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else "sdpa"
    quants = {"lora": ["none"], "qlora": ["nf4"], "methods": []}.get(args.only or "", ["none", "nf4"])
    plan = runs(quants, liger)
    by_method = method_runs(methods)
    steps = args.steps or (2 if args.tiny else 20)
    print(f"device: {cuda or 'cpu'} | attention: {attn} | liger: "
          f"{'yes' if liger else 'not installed / no GPU: liger runs use packing only'} | "
          f"{len(plan)} runs + {len(by_method)} methods x {steps} steps", flush=True)
    if args.dry_run:
        for r in plan:
            print(f"  {r['impl']:5} quantization={r['quantization']:4} "
                  f"liger={r['use_liger_kernel']} packing={r['packing']}")
        for r in by_method:
            print(f"  ours  method={r['method']} (LoRA, the same settings)")
        return
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, params, shape = build_model(work, args.tiny)
        records = chat_records(args.records, 8, 600 if not args.tiny else 60, long_tailed=True)
        data = write_jsonl(work / "data.jsonl", records)
        results: list[dict] = []
        for r in plan:
            results.append(run_one(r, model, data, work, steps, attn))
            done = results[-1]
            print(f"  {done['impl']:5} {done['quantization']:4} liger={done['use_liger_kernel']} "
                  f"packing={done['packing']}: "
                  f"{done.get('error') or format(done['tokens_per_second'], ',.0f') + ' tok/s'}"
                  f" ({time.time() - started:.0f} s)", flush=True)
        per_method = []
        for r in by_method:
            same = next((d for d in results if d["impl"] == "ours" and not d["fast"]
                         and d["quantization"] == "none" and r["method"] == "lora"), None)
            if same is None:
                path = write_jsonl(work / f"data-{r['method']}.jsonl", method_records(r["method"], records))
                same = run_one(r, model, path, work, steps, attn)
            per_method.append({**same, "method": r["method"]})
            print(f"  ours  method={r['method']}: "
                  f"{per_method[-1].get('error') or format(per_method[-1]['tokens_per_second'], ',.0f') + ' tok/s'}"
                  f" ({time.time() - started:.0f} s)", flush=True)
    peak = peak_flops(cuda or "", args.peak_tflops)
    if results:
        seq = SETTINGS["max_seq_length"] // 2
        print(table(results, params, shape, seq, peak))
    if per_method:
        print()
        print(methods_table(per_method, params, peak))


def _cuda_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def build_model(work: Path, tiny: bool) -> tuple[Path, int, dict]:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    tiny_dir = cached_tiny_lm()
    if tiny:
        cfg = json.loads((tiny_dir / "config.json").read_text())
        return tiny_dir, sum_params(tiny_dir), cfg
    out = work / "qwen2.5-0.5b-shapes"
    proc = subprocess.run([sys.executable, "-c", BUILD, str(tiny_dir), str(out),
                           json.dumps(QWEN_05B)], cwd=REPO, env=env(os.cpu_count() or 1),
                          capture_output=True, text=True, check=True)
    return out, int(_lines(proc, "PARAMS ")[-1]), QWEN_05B


def sum_params(model_dir: Path) -> int:
    import struct

    with open(model_dir / "model.safetensors", "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    total = 0
    for key, info in header.items():
        if key != "__metadata__":
            count = 1
            for dim in info["shape"]:
                count *= dim
            total += count
    return total


if __name__ == "__main__":
    main()
