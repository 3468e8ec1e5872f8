"""Shared bits of the trainer benchmarks: synthetic chat data and running the real worker."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ("the model adapter train loss data token chat user assistant question answer "
         "привет мир модель данные ответ вопрос red green blue cat dog house").split()


def chat_records(n: int, min_words: int, max_words: int, seed: int = 0,
                 long_tailed: bool = False) -> list[dict]:
    """Synthetic chats; ``long_tailed``: message lengths log-uniform (most short, a few long),
    the shape of real chat exports."""
    import math

    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        lo = max(lo, 1)
        count = (int(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if long_tailed
                 else rng.randint(lo, hi))
        return " ".join(rng.choice(WORDS) for _ in range(count))

    out = []
    for _ in range(n):
        msgs = [{"role": "system", "content": "You are helpful."}]
        for _turn in range(rng.randint(1, 2)):
            msgs.append({"role": "user", "content": text(min_words // 2, max_words // 2)})
            msgs.append({"role": "assistant", "content": text(min_words // 2, max_words // 2)})
        out.append({"messages": msgs})
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def env(threads: int) -> dict[str, str]:
    from tuneforge.testing.paths import source_path

    e = dict(os.environ)
    e.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
             OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
             TOKENIZERS_PARALLELISM="false", PYTHONPATH=source_path())
    return e


def run_worker(spec: dict, workdir: Path, name: str, threads: int) -> dict:
    """Run the real training worker as the service would; returns its ``result`` data."""
    path = workdir / f"{name}.spec.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "tuneforge.services.trainer.train_worker",
                           "--spec", str(path)], cwd=REPO, env=env(threads),
                          capture_output=True, text=True, check=False)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith('{"event": "result"'):
            result = json.loads(line)["data"]
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"worker failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                         f"\n{proc.stderr[-3000:]}")
    return result
