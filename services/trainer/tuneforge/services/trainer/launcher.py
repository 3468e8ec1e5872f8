"""The command line that starts a training or merge worker (pure; no torch, no grpc).

One process: ``python -m tuneforge.services.trainer.train_worker --spec S``.

Several processes (``train_num_processes``) on this host, or several Slurm nodes: the same
module under torchrun through :mod:`tuneforge.runtime.dist_launch` (rank 0 speaks; other
ranks' failures are named), ``python -m tuneforge.runtime.dist_launch --nnodes N
--nproc-per-node P --rdzv local|slurm -- -m tuneforge.services.trainer.train_worker --spec S``.
Ray and Kubernetes executors get the plain worker and distribute it themselves.

With an ``accelerate_config`` (FSDP, DeepSpeed): the same module under ``accelerate launch`` —
``python -m accelerate.commands.launch --num_processes N [--multi_gpu]
[--config_file F] -m tuneforge.services.trainer.train_worker --spec S``. Everything beyond the
process count (DDP vs FSDP vs DeepSpeed, mixed precision, machine rank) belongs in the accelerate
config file written by ``accelerate config``; the worker itself is an ordinary Trainer script,
so it runs unchanged under any of them. Which GPUs it sees is ``CUDA_VISIBLE_DEVICES``, set by the
job engine, not here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from tuneforge.runtime import dist_launch
from tuneforge.runtime.errors import invalid_argument

TRAIN_MODULE = "tuneforge.services.trainer.train_worker"
MERGE_MODULE = "tuneforge.services.trainer.merge_worker"
EXPORT_MODULE = "tuneforge.services.trainer.export_worker"


@dataclass(frozen=True)
class LaunchSettings:
    """How training workers start (service configuration, not per-job)."""

    python: str = field(default_factory=lambda: sys.executable)
    num_processes: int = 1
    accelerate_config: str | None = None  # path of an `accelerate config` YAML
    extra_accelerate_args: tuple[str, ...] = ()
    num_nodes: int = 1  # slurm: nodes per job
    executor: str = "local"  # training_executor
    stop_timeout: float = 300.0  # how long torchrun lets ranks save on a stop


def train_command(spec_path: Path | str, settings: LaunchSettings | None = None) -> list[str]:
    """argv of the training worker for ``spec_path``; accelerate launch when configured."""
    s = settings or LaunchSettings()
    if s.num_processes < 1:
        raise invalid_argument("num_processes", f"must be >= 1, got {s.num_processes}")
    tail = ["-m", TRAIN_MODULE, "--spec", str(spec_path)]
    if not s.accelerate_config and not s.extra_accelerate_args:
        if s.executor == "slurm":
            return dist_launch.command([s.python, *tail], nodes=s.num_nodes, processes=s.num_processes,
                                       rdzv="slurm", shutdown_timeout=s.stop_timeout)
        if s.executor != "local":  # ray, kubernetes: the executor places the processes
            return [s.python, *tail]
        return dist_launch.command([s.python, *tail], processes=s.num_processes,
                                   shutdown_timeout=s.stop_timeout)
    cmd = [s.python, "-m", "accelerate.commands.launch", "--num_processes", str(s.num_processes)]
    if s.num_processes > 1 and not s.accelerate_config:
        cmd.append("--multi_gpu")
    if s.accelerate_config:
        cmd += ["--config_file", str(s.accelerate_config)]
    cmd += list(s.extra_accelerate_args)
    return cmd + tail


def merge_command(spec_path: Path | str, python: str | None = None) -> list[str]:
    """argv of the merge worker (always one process, CPU)."""
    return [python or sys.executable, "-m", MERGE_MODULE, "--spec", str(spec_path)]


def export_command(spec_path: Path | str, python: str | None = None) -> list[str]:
    """argv of the export worker (one process; AWQ starts llm-compressor's interpreter itself)."""
    return [python or sys.executable, "-m", EXPORT_MODULE, "--spec", str(spec_path)]


def worker_command(module: str, spec_path: Path | str, python: str | None = None) -> list[str]:
    """A single-process worker (evaluation, chat): ``python -m MODULE --spec SPEC``."""
    return [python or sys.executable, "-m", module, "--spec", str(spec_path)]
