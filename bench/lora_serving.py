"""What serving LoRA costs on the real vLLM (CPU build 0.32.0), and what the conformance check
adds to an activation.

    python bench/lora_serving.py [--requests 32] [--concurrency 4] [--max-tokens 64] [--repeats 3] [--rounds 5]

1. Throughput, in one run and one vLLM per model: ``--requests`` greedy completions of
   ``--max-tokens`` tokens each (``ignore_eos``), ``--concurrency`` in flight, through the
   base model alone, one adapter, four adapters (round robin over four served names) and the
   merged model (adapter 0 merged into the base with PEFT's ``merge_and_unload``, served by a
   second vLLM). Generated tokens per second (median of ``--repeats`` runs, the settings
   interleaved) and the ratios to the base.
2. Activation latency in hot mode through the registry's gRPC API (``ActivateAdapter``),
   alternating two adapters, ``--rounds`` times, with ``activation_requires_conformance``
   off and on (thresholds at 0, so every check runs in full and passes: staging, the chat
   replies, the parity tokens, the PEFT reference — computed at a version's first check,
   reused after). Median and every sample.

Prints one JSON object, the last line of stdout. Needs the vLLM virtualenv
(scripts/setup_vllm_env.sh). Tiny random models on shared CPUs: the ratios say more than the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "clients" / "python")]

from tuneforge.client import Client  # noqa: E402
from tuneforge.testing import real_vllm  # noqa: E402
from tuneforge.testing.server import ServerThread  # noqa: E402
from tuneforge.testing.tiny_lm import cached_tiny_lm_vllm  # noqa: E402
from tuneforge.testing.tiny_lora import train_tiny_lora  # noqa: E402

PROMPT = "Hello world, the model answers"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def merge(base: Path, adapter: Path, out: Path) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter)
    model.merge_and_unload().save_pretrained(out, safe_serialization=True)
    for f in base.iterdir():  # tokenizer and generation config
        if f.is_file() and not f.name.endswith(".safetensors") and f.name != "config.json":
            shutil.copy(f, out / f.name)
    return out


def throughput(url: str, models: list[str], requests: int, concurrency: int, max_tokens: int) -> float:
    """Generated tokens per second over ``requests`` completions (round robin over ``models``)."""
    def one(i: int) -> int:
        status, body = real_vllm.request_json("POST", url + "/v1/completions", {
            "model": models[i % len(models)], "prompt": f"{PROMPT} {i}", "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True}, timeout=600)
        assert status == 200, body
        return int(body["usage"]["completion_tokens"])

    one(0)  # warm the path (and each adapter) once
    for m in range(1, len(models)):
        one(m)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(one, range(requests)))
    return tokens / (time.perf_counter() - start)


def bench_throughput(work: Path, base: Path, adapters: list[Path], args) -> dict[str, float]:
    vllm = real_vllm.RealVllm(log_dir=_mkdir(work / "vllm-base"))
    out = {}
    try:
        url = vllm.start(base, ["--max-loras", "4"])
        for i, a in enumerate(adapters):
            status, body = real_vllm.request_json("POST", url + "/v1/load_lora_adapter",
                                                  {"lora_name": f"a{i}", "lora_path": str(a)})
            assert status == 200, body
        runs: dict[str, list[float]] = {}
        for _ in range(args.repeats):  # interleaved, so a burst of load hits every setting alike
            for label, models in (("base", [str(base)]), ("one_adapter", ["a0"]),
                                  ("four_adapters", ["a0", "a1", "a2", "a3"])):
                runs.setdefault(label, []).append(
                    throughput(url, models, args.requests, args.concurrency, args.max_tokens))
                print(f"  {label}: {runs[label][-1]:.1f} tokens/s", file=sys.stderr, flush=True)
        out = {label: statistics.median(v) for label, v in runs.items()}
    finally:
        vllm.stop()
    merged = merge(base, adapters[0], work / "merged")
    vllm = real_vllm.RealVllm(log_dir=_mkdir(work / "vllm-merged"))
    try:
        url = vllm.start(merged, ["--max-loras", "1"])
        merged_runs = []
        for _ in range(args.repeats):
            merged_runs.append(throughput(url, [str(merged)], args.requests, args.concurrency, args.max_tokens))
            print(f"  merged: {merged_runs[-1]:.1f} tokens/s", file=sys.stderr, flush=True)
        out["merged"] = statistics.median(merged_runs)
    finally:
        vllm.stop()
    return out


def bench_activation(work: Path, base: Path, adapters: list[Path], rounds: int) -> dict[str, list[float]]:
    vllm = real_vllm.RealVllm(log_dir=_mkdir(work / "vllm-activation"))
    samples: dict[str, list[float]] = {}
    try:
        url = vllm.start(base, ["--max-loras", "3"])
        for check in (False, True):
            label = "with_check" if check else "without_check"
            with ServerThread(work / label, vllm_mode="hot", vllm_url=url, vllm_timeout_seconds=120, allowed_paths=str(work),
                              activation_requires_conformance=check, conformance_min_stop_rate=0.0,
                              conformance_min_parity=0.0, conformance_max_leak_rate=1.0) as srv:
                with Client(srv.target, timeout=900) as client:
                    for i, a in enumerate(adapters[:2]):
                        client.registry.register_adapter(name=f"bot{i}", path=str(a))
                    client.registry.activate_adapter(name="bot1")
                    times = []
                    for r in range(rounds):
                        t = time.perf_counter()
                        act = client.registry.activate_adapter(name=f"bot{r % 2}")
                        times.append(time.perf_counter() - t)
                        assert act.vllm_state == act.VLLM_STATE_APPLIED, act
                        print(f"  {label} {act.served_name}: {times[-1]:.3f} s", file=sys.stderr, flush=True)
                    client.registry.deactivate_adapter()
            samples[label] = times
    finally:
        vllm.stop()
    return samples


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="throughput runs per setting (median)")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-activation", action="store_true")
    args = p.parse_args()
    if real_vllm.venv_python() is None:
        raise SystemExit(real_vllm.skip_reason())
    base = cached_tiny_lm_vllm()
    work = Path(tempfile.mkdtemp(prefix="tuneforge-lora-serving-"))
    try:
        adapters = [train_tiny_lora(base, work / f"a{i}" / "final", seed=i + 1) for i in range(4)]
        result: dict = {"command": " ".join(["python", "bench/lora_serving.py", *sys.argv[1:]]),
                        "requests": args.requests, "concurrency": args.concurrency, "max_tokens": args.max_tokens}
        if not args.skip_throughput:
            tps = bench_throughput(work, base, adapters, args)
            result["tokens_per_second"] = {k: round(v, 1) for k, v in tps.items()}
            result["ratio_to_base"] = {k: round(v / tps["base"], 3) for k, v in tps.items()}
        if not args.skip_activation:
            lat = bench_activation(work, base, adapters, args.rounds)
            result["activation_seconds"] = {k: {"median": round(statistics.median(v), 3),
                                                "samples": [round(x, 3) for x in v]} for k, v in lat.items()}
        print(json.dumps(result))  # the last line of stdout (the servers log before it)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
