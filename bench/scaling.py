"""Tokens/s of the same training job on 1 and 2 workers, per launcher, in one run.

    python bench/scaling.py                      # local (torchrun) and, as root with Slurm, slurm
    python bench/scaling.py --records 64 --launchers local

The real training worker on the tiny random-weight Qwen2 (CPU, fp32, gloo), the same global
batch everywhere (1 worker x batch B against 2 workers x batch B/2): `local` runs it plain and
under torchrun with 2 processes (runtime/dist_launch.py); `slurm` submits it through the
slurm executor to a real two-node Slurm cluster on 127.0.0.1 (tuneforge/testing/slurm_cluster.py)
on 1 and then 2 nodes. Throughput is the result's real (non-pad) tokens over the trainer's own
``train_runtime`` (model load and tokenisation excluded). On a 2-core CPU host this mostly
shows the overhead of gloo and of a second process sharing the cores, not a speed-up: the point
is the table's shape on a real multi-GPU or multi-node machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_common import chat_records, env, write_jsonl  # noqa: E402

TRAIN = "tuneforge.services.trainer.train_worker"


def _spec(work: Path, model: Path, data: Path, name: str, batch: int, records: int) -> Path:
    job = work / name
    job.mkdir(parents=True, exist_ok=True)
    cfg = {"lora_rank": 8, "lora_alpha": 16, "target_modules": "all-linear", "batch_size": batch,
           "gradient_accumulation_steps": 1, "learning_rate": 1e-3, "epochs": 1, "max_seq_length": 128,
           "gradient_checkpointing": False, "save_steps": 100000, "warmup_ratio": 0.0, "lora_dropout": 0.0}
    spec = {"base_model": str(model), "train_file": str(data), "output_dir": str(work / f"{name}-out"),
            "config": cfg, "logging_steps": 1, "job_dir": str(job)}
    (job / "spec.json").write_text(json.dumps(spec))
    return job / "spec.json"


def _result(text: str) -> dict:
    found = [json.loads(line)["data"] for line in text.splitlines() if line.startswith('{"event": "result"')]
    finals = [r for r in found if "train_runtime" in r]
    if not finals:
        raise SystemExit(f"no result:\n{text[-3000:]}")
    return finals[-1]


def _row(launcher: str, workers: int, result: dict, wall: float) -> dict:
    tokens, runtime = result.get("num_tokens") or 0, result.get("train_runtime") or 0
    return {"launcher": launcher, "workers": workers, "steps": result.get("global_step"),
            "tokens": tokens, "train_runtime": runtime, "tokens_per_second": tokens / runtime if runtime else 0.0,
            "wall_seconds": wall}


def run_local(work: Path, model: Path, data: Path, batch: int, records: int) -> list[dict]:
    import subprocess

    from tuneforge.runtime import dist_launch

    rows = []
    for workers in (1, 2):
        spec = _spec(work, model, data, f"local-{workers}", batch // workers, records)
        argv = dist_launch.command([sys.executable, "-m", TRAIN, "--spec", str(spec)], processes=workers)
        started = time.monotonic()
        proc = subprocess.run(argv, env=env(1), capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"local x{workers} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        rows.append(_row("local (1: plain, 2: torchrun)", workers, _result(proc.stdout), time.monotonic() - started))
    return rows


def run_slurm(work: Path, model: Path, data: Path, batch: int, records: int) -> list[dict]:
    import os

    from tuneforge.runtime import dist_launch
    from tuneforge.runtime.executor_slurm import SlurmExecutor
    from tuneforge.testing.slurm_cluster import SlurmCluster, unavailable

    if why := unavailable():
        print(f"slurm skipped: {why}", file=sys.stderr)
        return []
    rows = []
    with SlurmCluster(work / "slurm") as cluster:
        base = cluster.env(env(1))
        base["GLOO_SOCKET_IFNAME"] = "lo"
        os.environ["SLURM_CONF"] = str(cluster.conf)
        executor = SlurmExecutor(data_root=work)
        for nodes in (1, 2):
            spec = _spec(work, model, data, f"slurm-{nodes}", batch // nodes, records)
            argv = dist_launch.command([sys.executable, "-m", TRAIN, "--spec", str(spec)], nodes=nodes,
                                       rdzv="slurm")

            async def run(job_dir: Path = spec.parent, argv: list[str] = argv, nodes: int = nodes) -> None:
                job_id = f"bench-{nodes}"
                started = await executor.start(job_id, argv, base, job_dir, job_dir / "worker.out",
                                               job_dir / "worker.err")
                while True:
                    done, code = await executor.poll(job_id, started.ref, None, 0.5)
                    if done:
                        if code != 0:
                            raise SystemExit(f"slurm x{nodes} failed ({code}): {(job_dir / 'worker.err').read_text()[-3000:]}")
                        return

            began = time.monotonic()
            asyncio.run(run())
            rows.append(_row("slurm (srun + torchrun)", nodes, _result((spec.parent / "worker.out").read_text()),
                             time.monotonic() - began))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4, help="global batch (each of 2 workers gets half)")
    parser.add_argument("--launchers", default="local,slurm")
    args = parser.parse_args()
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    model = cached_tiny_lm()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tf-scaling-") as tmp:
        work = Path(tmp)
        data = write_jsonl(work / "train.jsonl", chat_records(args.records, 16, 48, seed=5))
        launchers = args.launchers.split(",")
        if "local" in launchers:
            rows += run_local(work, model, data, args.batch, args.records)
        if "slurm" in launchers:
            rows += run_slurm(work, model, data, args.batch, args.records)
    print("| launcher | workers | steps | tokens | train s | tokens/s | vs 1 worker | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    base: dict[str, float] = {}
    for r in rows:
        base.setdefault(r["launcher"], r["tokens_per_second"])
        ratio = r["tokens_per_second"] / base[r["launcher"]] if base[r["launcher"]] else 0.0
        print(f"| {r['launcher']} | {r['workers']} | {r['steps']} | {r['tokens']:.0f} | {r['train_runtime']:.1f} | "
              f"{r['tokens_per_second']:,.0f} | {ratio:.2f}x | {r['wall_seconds']:.0f} |")


if __name__ == "__main__":
    main()
