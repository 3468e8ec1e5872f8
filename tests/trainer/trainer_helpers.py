"""Helpers for the trainer tests: synthetic chat data and the real workers as subprocesses."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORDS = ["red", "green", "blue", "cat", "dog", "house", "tree", "water", "fire", "code"]

# Small and fast on 2 shared cores; the lr is high because the model starts from random weights.
FAST_CONFIG: dict[str, Any] = {
    "lora_rank": 8, "lora_alpha": 16, "target_modules": "all-linear", "batch_size": 4,
    "gradient_accumulation_steps": 1, "learning_rate": 1e-2, "epochs": 1, "max_seq_length": 64,
    "gradient_checkpointing": False, "save_steps": 1000, "warmup_ratio": 0.0,
}


def learnable_records(n: int, seed: int = 0) -> list[dict]:
    """The reply is a fixed function of the prompt: a random-weight model can learn it."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w, k = rng.choice(WORDS), rng.randint(1, 9)
        out.append({"messages": [
            {"role": "system", "content": "Repeat twice."},
            {"role": "user", "content": f"{w} {k}"},
            {"role": "assistant", "content": f"{w} {k} {w} {k} done"},
        ]})
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records)
    return path


def worker_env() -> dict[str, str]:
    from tuneforge.testing.paths import source_path

    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               CUDA_VISIBLE_DEVICES="", PYTHONPATH=source_path())
    return env


def write_spec(tmp: Path, name: str, **spec: Any) -> Path:
    path = tmp / f"{name}.spec.json"
    path.write_text(json.dumps(spec))
    return path


def start_worker(module: str, spec_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, "--spec", str(spec_path)],
                            cwd=REPO, env=worker_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def parse_events(lines: list[str]) -> list[dict]:
    events = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "event" in obj:
                events.append(obj)
    return events


def run_worker(module: str, spec_path: Path, timeout: float = 120) -> tuple[int, list[dict], str]:
    proc = start_worker(module, spec_path)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, parse_events(out.splitlines()), out


def read_until(proc: subprocess.Popen, predicate, timeout: float = 120) -> list[dict]:
    """Read events until ``predicate(event)`` holds; returns the events read so far."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        events += parse_events([line])
        if events and predicate(events[-1]):
            return events
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"condition not met; last events: {events[-5:]}")


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


FAST_TYPED = {**FAST_CONFIG, "target_modules": ["all-linear"]}  # as a TrainingConfig message takes it
FAST_STRINGS = {k: (",".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in FAST_CONFIG.items()}  # the same, as gRPC config values


def make_dataset(client, tmp: Path, name: str, n: int, validation: int = 0) -> None:
    """Import ``n`` learnable chats (+ ``validation`` held-out ones) through the dataset service."""
    path = write_jsonl(tmp / f"{name}.jsonl", learnable_records(n + validation))
    up = client.upload_file("dataset", path)
    client.dataset.import_dataset(upload_id=up.id, dataset_name=name,
                                  validation_split=validation / (n + validation))


def owner_records(n: int, seed: int = 0) -> list[dict]:
    """A synthetic owner: always the same register and the same sign-off (learnable fast)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = rng.choice(WORDS)
        out.append({"messages": [{"role": "user", "content": f"what about {w}?"},
                                 {"role": "assistant", "content": f"{w} is grand, mate! Cheers, Bob"}]})
    return out
