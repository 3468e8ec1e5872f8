"""Scaling on a real Ray cluster: the same training job on 1 and on 2 Ray Train workers.

    python bench/scaling_ray.py [--records 64] [--epochs 2]

Starts a local Ray cluster (tuneforge.testing.ray_cluster: a head with no CPUs and two worker
nodes of one CPU each), then trains the tiny Qwen2 through a real server with
``training_executor = ray`` — once with ``ray_num_workers = 1`` (per-device batch 4), once with
2 (batch 2 each: the same global batch and steps). Prints one JSON row per worker count: tokens/s
of the training loop (the worker's global token count over its train runtime), the job's wall
time from creation to end (submission, Ray Train's worker group, model loading included), steps.
On 2 shared CPU cores the 2-worker row mostly shows DDP's overhead (gloo all-reduce, a second
model load), not a speed-up: say so when quoting it. Rows for the other launchers belong in
bench/scaling.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "clients" / "python")]

from tuneforge.client import Client, job_result  # noqa: E402
from tuneforge.testing.ray_cluster import RayCluster  # noqa: E402
from tuneforge.testing.server import ServerThread  # noqa: E402
from tuneforge.testing.tiny_lm import cached_tiny_lm  # noqa: E402

from tests.trainer.trainer_helpers import FAST_TYPED, make_dataset  # noqa: E402


def run(cluster: RayCluster, tmp: Path, workers: int, records: int, epochs: int) -> dict:
    srv = ServerThread(tmp / f"var{workers}", training_executor="ray", ray_address=cluster.address,
                       ray_num_workers=workers, ray_resources_per_worker="CPU=1").start()  # fmt: skip
    try:
        with Client(srv.target, timeout=60) as c:
            make_dataset(c, tmp, f"d{workers}", records)
            t0 = time.time()
            job = c.trainer.create_training_job(
                dataset=f"d{workers}", base_model=str(cached_tiny_lm()), preset="quick", adapter_name=f"w{workers}",
                config={**FAST_TYPED, "batch_size": 4 // workers, "lora_dropout": 0.0, "epochs": epochs})  # fmt: skip
            done = c.wait_job(job.id)
            wall = time.time() - t0
            result = job_result(done)
            return {"launcher": "ray", "workers": workers, "state": done.State.Name(done.state),
                    "steps": int(result.global_step), "num_tokens": result.num_tokens,
                    "train_runtime_s": round(result.train_runtime, 2),
                    "tokens_per_second": round(result.num_tokens / result.train_runtime, 1) if result.train_runtime else None,
                    "job_wall_s": round(wall, 1)}  # fmt: skip
    finally:
        srv.stop(stop_workers=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="tf-scaling-") as tmp, RayCluster() as cluster:
        for workers in (1, 2):
            print(json.dumps(run(cluster, Path(tmp), workers, args.records, args.epochs)), flush=True)


if __name__ == "__main__":
    main()
