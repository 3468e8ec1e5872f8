"""The Ray side of the ``ray`` executor: a Ray Jobs entrypoint that runs a worker command on
Ray Train workers (a ``TorchTrainer``), as torchrun runs it on one host.

    python -m tuneforge.runtime.ray_driver --job-dir D --out D/worker.out --err D/worker.err \\
        --num-workers 2 [--resources '{"CPU": 1}'] [--max-failures 2] \\
        -- python -m tuneforge.services.trainer.train_worker --spec D/spec.json

Each Ray Train worker starts the worker command as its child with torchrun's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``: the worker's own process group, beside Ray's), so the worker is the same script
with the same typed spec as everywhere else. The child dies with its Ray worker (PDEATHSIG).
Only rank 0 speaks: its stdout (the worker's events) is appended to ``--out`` and its stderr to
``--err``; other ranks' stderr goes to ``worker.rank<N>.err`` beside them, and a rank that fails
reaches the job as an ``error`` event (``WORKER_RANK_FAILED``) with its rank and last lines.

Every :data:`TICK_SECONDS` the ranks compare notes on Ray's own (gloo) process group — one
``all_gather_object``: whether each child ended and how, whether a stop was asked
(``<job dir>/ray.stop``, written by the executor: every child gets SIGTERM in the same tick, rank 0
saves a checkpoint and reports ``stopped``), and the latest checkpoint rank 0's child reported,
which goes to Ray Train (``ray.train.report``) as a small marker naming it on the data root.
When a node is lost, Ray Train (``FailureConfig(max_failures)``) restarts the worker group once
resources are back; ``ray.train.get_checkpoint()`` then names the latest checkpoint, the spec
gets ``resume_from_checkpoint`` set to it, and rank 0 says so in the job's events.

The data root (the spec, the dataset, the checkpoints, the adapter, these files) must be on a
filesystem every Ray node mounts at the same path.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

TICK_SECONDS = 2.0
STOP_FILE = "ray.stop"  # the executor's stop request (executor_ray.STOP_FILE)
EXIT_FILE = "ray.exit"  # rank 0's verdict: the driver's exit status
ATTEMPTS_FILE = "ray.attempts"  # how many times the worker group started
MARKER = "tuneforge_checkpoint.json"


# ---- events into the job's stdout file ------------------------------------------------------
def emit(out: Path, event: str, **fields: Any) -> None:
    """One worker-protocol event appended to ``out`` (on a line of its own, even after a
    line that a killed worker left unended)."""
    line = json.dumps({"event": event, "time": time.time(), **fields}, ensure_ascii=False) + "\n"
    with open(out, "ab+") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write(line.encode())


def _log(out: Path, message: str, level: str = "info") -> None:
    emit(out, "log", level=level, message=f"ray: {message}")


# ---- one rank ----------------------------------------------------------------------------------
class _Tee(threading.Thread):
    """Rank 0: the child's stdout into the job's out file, noting each checkpoint event."""

    def __init__(self, stream: Any, out: Path) -> None:
        super().__init__(daemon=True)
        self.stream, self.out = stream, out
        self.checkpoint: dict[str, Any] | None = None

    def run(self) -> None:
        with open(self.out, "ab", buffering=0) as fh:
            for raw in iter(self.stream.readline, b""):
                fh.write(raw)
                if b'"checkpoint"' in raw:
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(data, dict) and data.get("event") == "checkpoint" and data.get("path"):
                        self.checkpoint = {"step": int(data.get("step") or 0), "path": str(data["path"])}


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _with_resume(argv: list[str], job_dir: Path, rank: int, checkpoint: str) -> list[str]:
    """argv with ``--spec`` pointing to a copy of the spec that resumes from ``checkpoint``."""
    argv = list(argv)
    if "--spec" not in argv[:-1]:
        return argv
    i = argv.index("--spec") + 1
    spec = json.loads(Path(argv[i]).read_text(encoding="utf-8"))
    spec["resume_from_checkpoint"] = checkpoint
    copy = job_dir / f"spec.ray-resume-rank{rank}.json"
    copy.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    argv[i] = str(copy)
    return argv


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _resume_point(checkpoint: Any) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))


def _report(rank: int, ckpt: dict[str, Any]) -> None:
    import ray.train

    if rank != 0:
        ray.train.report({"step": ckpt["step"]})
        return
    with tempfile.TemporaryDirectory(prefix="tuneforge-ray-ckpt-") as folder:
        (Path(folder) / MARKER).write_text(json.dumps(ckpt), encoding="utf-8")
        ray.train.report({"step": ckpt["step"]}, checkpoint=ray.train.Checkpoint.from_directory(folder))


def train_fn(config: dict[str, Any]) -> None:
    """One Ray Train worker: start the worker command as rank N, tick with the others until
    every rank's child has ended, then (rank 0) write the verdict."""
    import ray.train
    import torch.distributed as dist
    from ray.util import get_node_ip_address

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    job_dir, out, err = Path(config["job_dir"]), Path(config["out"]), Path(config["err"])
    resume = _resume_point(ray.train.get_checkpoint())
    # a verdict already written: an earlier attempt ended the work, and Ray Train restarted the
    # group only because a node went away while it shut down — nothing is run again
    rendezvous: list[Any] = [(get_node_ip_address(), _free_port(), _read(job_dir / EXIT_FILE))] if rank == 0 else [None]
    dist.broadcast_object_list(rendezvous, src=0)
    master_addr, master_port, verdict = rendezvous[0]
    if verdict:
        if rank == 0:
            _log(out, f"the worker group restarted after the work had ended (status {verdict}): nothing to run again")
        return

    argv = list(config["argv"])
    if rank == 0:
        attempts = int(_read(job_dir / ATTEMPTS_FILE) or 0) + 1
        (job_dir / ATTEMPTS_FILE).write_text(str(attempts), encoding="utf-8")
        if attempts > 1:
            where = (f"resuming from the latest checkpoint {resume['path']} (step {resume['step']})"
                     if resume else "no checkpoint was reported yet: starting over")
            _log(out, f"the worker group restarted after a failure (a lost worker node?), attempt "
                      f"{attempts} of {config['max_failures'] + 1}: {where}", level="warning")  # fmt: skip
        _log(out, f"rank 0 of {world} on node {get_node_ip_address()} (master {master_addr}:{master_port})")
    if resume:
        argv = _with_resume(argv, job_dir, rank, resume["path"])

    env = dict(os.environ)
    env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(ctx.get_local_rank()),
               LOCAL_WORLD_SIZE=str(ctx.get_local_world_size()), GROUP_RANK=str(ctx.get_node_rank()),
               NODE_RANK=str(ctx.get_node_rank()), MASTER_ADDR=str(master_addr), MASTER_PORT=str(master_port))  # fmt: skip
    rank_err = err if rank == 0 else job_dir / f"worker.rank{rank}.err"
    with open(rank_err, "ab") as err_fh:
        proc = subprocess.Popen(argv, cwd=str(job_dir), env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                                stderr=err_fh, preexec_fn=_die_with_parent)  # fmt: skip
    tee = None
    if rank == 0:
        tee = _Tee(proc.stdout, out)
        tee.start()
    reported = resume
    stopping = killed = False
    while True:
        code = proc.poll()
        mine = {"code": code, "stop": (job_dir / STOP_FILE).exists(),
                "checkpoint": tee.checkpoint if tee else None,
                "tail": _tail(rank_err) if code not in (None, 0) else ""}  # fmt: skip
        states: list[Any] = [None] * world
        dist.all_gather_object(states, mine)
        ckpt = states[0]["checkpoint"]
        if ckpt and ckpt != reported:
            _report(rank, ckpt)
            reported = ckpt
        if any(s["stop"] for s in states) and not stopping and proc.poll() is None:
            stopping = True
            proc.send_signal(signal.SIGTERM)
        if any(s["code"] not in (None, 0) for s in states) and proc.poll() is None:
            killed = True  # a peer failed: this child waits on it in a collective forever
            proc.kill()
        if all(s["code"] is not None for s in states):
            break
        time.sleep(TICK_SECONDS)
    proc.wait()
    if tee is not None:
        tee.join(timeout=30)
        _verdict(job_dir, out, states, killed)


def _verdict(job_dir: Path, out: Path, states: list[dict[str, Any]], rank0_killed: bool) -> None:
    """Rank 0: the driver's exit status, and the failing rank's error event when it is not 0."""
    codes = [s["code"] for s in states]
    failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
    status = 0
    if codes[0] not in (None, 0) and not rank0_killed:
        status = codes[0] if codes[0] > 0 else 128 - codes[0]  # rank 0 reported its own error
    elif failed:
        first = next(r for r in failed if r != 0 or not rank0_killed)
        emit(out, "error", reason="WORKER_RANK_FAILED",
             message=f"rank {first} of {len(codes)} exited with code {codes[first]}; its last lines:\n"
                     f"{states[first]['tail']}")  # fmt: skip
        status = 1
    (job_dir / EXIT_FILE).write_text(str(status), encoding="utf-8")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


# ---- the driver ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tuneforge.runtime.ray_driver")
    parser.add_argument("--job-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--err", required=True)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--resources", default='{"CPU": 1}')
    parser.add_argument("--max-failures", type=int, default=2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("the worker command is missing after --")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    job_dir, out = Path(args.job_dir), Path(args.out)
    for name in (ATTEMPTS_FILE, EXIT_FILE):
        (job_dir / name).unlink(missing_ok=True)
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    resources = {k: float(v) for k, v in json.loads(args.resources).items()}
    gpus = resources.pop("GPU", 0.0)
    _log(out, f"{args.num_workers} Ray Train worker(s), {json.dumps(resources)}"
              f"{f' and {gpus:g} GPU' if gpus else ''} each, up to {args.max_failures} restart(s)")  # fmt: skip
    trainer = TorchTrainer(
        train_fn,
        train_loop_config={"argv": args.command, "job_dir": str(job_dir), "out": args.out, "err": args.err,
                           "max_failures": args.max_failures},
        torch_config=TorchConfig(backend="gloo"),  # Ray's own group only carries the ticks
        scaling_config=ScalingConfig(num_workers=args.num_workers, use_gpu=gpus > 0,
                                     resources_per_worker={**resources, **({"GPU": gpus} if gpus else {})}),
        run_config=RunConfig(name="train", storage_path=str(job_dir / "ray"),
                             failure_config=FailureConfig(max_failures=args.max_failures)),
    )  # fmt: skip
    try:
        trainer.fit()
    except Exception as exc:  # noqa: BLE001 - Ray Train gave up: the job fails saying why
        with open(args.err, "a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        emit(out, "error", reason="RAY_TRAIN_FAILED",
             message=f"Ray Train ended the run after {args.max_failures} restart(s): {type(exc).__name__}: "
                     f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")  # fmt: skip
        return 1
    verdict = _read(job_dir / EXIT_FILE)
    if not verdict:
        emit(out, "error", reason="DATA_ROOT_NOT_SHARED",
             message=f"the Ray workers' verdict {job_dir / EXIT_FILE} is not visible from the driver: the data "
                     "root must be on a filesystem every Ray node mounts at the same path")  # fmt: skip
        return 1
    return int(verdict)


if __name__ == "__main__":
    sys.exit(main())
