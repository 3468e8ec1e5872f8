"""How close `train plan --warmup`'s wall-time estimate comes to the job it estimates.

    python bench/plan_walltime.py [--records 160] [--epochs 1] [--hidden 512] [--batch 4]
                                  [--accumulation 1] [--threads 2]

Against a real server (all four services, a temporary data root): a random-weight Qwen2 of
``--hidden`` width (512: 25M parameters) with the test tokenizer, and synthetic long-tailed chats
imported through the dataset service. ``PlanTraining`` with a warm-up (16 batches, the first
untimed) gives the estimate; then the same job is trained and its wall time (the job's start to
end, as `jobs show` reports it) and the trainer's own ``train_runtime`` are compared with the
estimate and its training part (batches x seconds per batch + steps x seconds per update). The warm-up leaves out
evaluation and checkpoint saves, so the job here evaluates nothing and saves only at the end.
Prints one table; ratios near 1.0 are good. On a GPU the same run needs no flags (the
warm-up runs by default there; the script asks for it either way).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_common import REPO, chat_records, env, write_jsonl  # noqa: E402

BUILD = (
    "import sys, torch\n"
    "from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM\n"
    "tok = AutoTokenizer.from_pretrained(sys.argv[1]); h = int(sys.argv[3])\n"
    "cfg = Qwen2Config(hidden_size=h, num_hidden_layers=8, num_attention_heads=8,\n"
    "    num_key_value_heads=2, intermediate_size=3 * h, vocab_size=len(tok),\n"
    "    tie_word_embeddings=True, max_position_embeddings=2048)\n"
    "torch.manual_seed(0)\n"
    "Qwen2ForCausalLM(cfg).save_pretrained(sys.argv[2]); tok.save_pretrained(sys.argv[2])\n")


def build_model(out: Path, hidden: int, threads: int) -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    subprocess.run([sys.executable, "-c", BUILD, str(cached_tiny_lm()), str(out), str(hidden)],
                   check=True, env=env(threads), cwd=REPO)
    return out


def seconds(job) -> float:
    return job.end_time.ToDatetime().timestamp() - job.start_time.ToDatetime().timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=160)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--accumulation", type=int, default=1)
    args = ap.parse_args()
    os.environ.update({k: v for k, v in env(args.threads).items() if k != "PYTHONPATH"})

    from tuneforge.client import Client, job_result
    from tuneforge.testing.server import ServerThread

    tmp = Path(tempfile.mkdtemp(prefix="tf-plan-bench-"))
    model = build_model(tmp / "model", args.hidden, args.threads)
    data = write_jsonl(tmp / "chats.jsonl", chat_records(args.records, 8, 120, long_tailed=True))
    config = {"lora_rank": 16, "lora_alpha": 32, "target_modules": ["all-linear"], "batch_size": args.batch,
              "gradient_accumulation_steps": args.accumulation, "epochs": args.epochs, "max_seq_length": 512,
              "validation_split": 0.0, "save_steps": 100000, "gradient_checkpointing": False}
    srv = ServerThread(tmp / "root", allowed_paths=str(tmp)).start()
    try:
        with Client(srv.target, timeout=1800) as client:
            up = client.upload_file("dataset", data)
            client.dataset.import_dataset(upload_id=up.id, dataset_name="chats")
            t0 = time.monotonic()
            plan = client.trainer.plan_training(dataset="chats", base_model=str(model), config=config,
                                                warmup="WARMUP_RUN")
            plan_call = time.monotonic() - t0
            est = plan.time
            if not est.measured:
                raise SystemExit(f"no estimate: {est.note}")
            job = client.trainer.create_training_job(dataset="chats", base_model=str(model),
                                                     adapter_name="timed", register=False, config=config)
            done = client.wait_job(job.id)
            result = job_result(done)
    finally:
        srv.stop(stop_workers=True)
    actual, train = seconds(done), result.train_runtime
    est_train = est.total_batches * est.seconds_per_batch + est.total_steps * est.optimizer_seconds
    print(f"model: {plan.parameters:,} parameters, {args.records} chats, batch {args.batch} x "
          f"{args.accumulation}: {est.total_batches} batches in {est.total_steps} steps (the job ran "
          f"{result.max_steps}); {est.timed_batches} batches timed on {est.device}; plan call {plan_call:.1f} s")
    print("| | estimate | measured | estimate / measured |")
    print("|---|---|---|---|")
    print(f"| job wall time (start-up + steps) | {est.estimated_seconds:.1f} s | {actual:.1f} s | "
          f"{est.estimated_seconds / actual:.3f} |")
    print(f"| training steps only | {est_train:.1f} s | {train:.1f} s (train_runtime) | "
          f"{est_train / train:.3f} |")
    print(f"| start-up before the first step | {est.load_seconds:.1f} s | {actual - train:.1f} s "
          f"(wall - train_runtime, includes the final save) | {est.load_seconds / max(actual - train, 1e-9):.3f} |")


if __name__ == "__main__":
    main()
