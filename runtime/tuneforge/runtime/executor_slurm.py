"""The Slurm executor: a training worker as one ``sbatch`` job over ``train_num_nodes`` nodes.

The batch script (:meth:`SlurmExecutor.script`, kept as ``jobs/<id>/slurm.sh``) first checks
that every node sees the job's directory (a token file the service wrote just before: the data
root must be on storage all nodes mount at the same path), then runs the worker command with
``srun`` — one task per node, each ``dist_launch --rdzv slurm`` starting torchrun with
``train_num_processes`` ranks (c10d rendezvous on the first node's address). Rank 0 writes the
job's ``worker.out``/``worker.err`` directly, so the service tails it as it tails a local worker.
The script ends by writing ``slurm.exit`` (its job id, restart count and srun's exit code).

State comes from ``squeue`` (``--states=all``, which keeps finished jobs for ``MinJobAge``),
then ``sacct`` and ``scontrol show job`` for a finished job's exit code; every call has a
deadline, transient failures make the next poll wait longer, and only a job Slurm no longer
knows on two looks in a row (and that left no ``slurm.exit``) counts as lost — as the
Kubernetes executor does. Stop: ``scancel --signal=TERM`` (the steps' processes; each node's
launcher passes it to its ranks, which agree on a step, checkpoint and exit 0); a pending job
is cancelled outright; SIGKILL is a plain ``scancel``. Preemption with requeue (``--requeue``)
runs the script again: the worker sees ``SLURM_RESTART_COUNT`` and resumes from the latest
checkpoint, and says so in the job's events.

A job that ends with the storage check failing (exit 97), or that Slurm says COMPLETED while
nothing it wrote reached the service's data root, fails ``SHARED_STORAGE_NOT_VISIBLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.runtime.dist_launch import MODULE as DIST_LAUNCH
from tuneforge.runtime.errors import TuneforgeError, unavailable
from tuneforge.runtime.executors import Started
from tuneforge.runtime.logging import get_logger

if TYPE_CHECKING:
    from tuneforge.runtime.config import Config

log = get_logger("tuneforge.executors")
STORAGE_EXIT = 97  # the batch script's exit when a node cannot see the job's directory
SHARED_STORAGE_NOT_VISIBLE = "SHARED_STORAGE_NOT_VISIBLE"
EXIT_FILE = "slurm.exit"
_RUNNING = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
            "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD"}  # fmt: skip
MAX_BACKOFF_SECONDS = 30.0

Answer = tuple[int, str, str]


async def run_command(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Answer:
    """One Slurm client call with a deadline: (exit code, stdout, stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        raise unavailable("SLURM_UNAVAILABLE", f"cannot run {cmd[0]!r}: {exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return 124, "", f"{Path(cmd[0]).name} did not answer within {timeout:g} s and was killed"
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace").strip()


class SlurmExecutor:
    name = "slurm"

    def __init__(self, *, data_root: Path, sbatch: str = "sbatch", squeue: str = "squeue", sacct: str = "sacct",
                 scancel: str = "scancel", scontrol: str = "scontrol", partition: str = "", gpus_per_node: int = 0,
                 time_limit: str = "", sbatch_lines: str = "", python: str = "", timeout: float = 30.0,
                 start_budget: float = 120.0, backoff: float = 0.5) -> None:  # fmt: skip
        self.data_root = data_root
        self.sbatch, self.squeue, self.sacct = shlex.split(sbatch), shlex.split(squeue), shlex.split(sacct)
        self.scancel, self.scontrol = shlex.split(scancel), shlex.split(scontrol)
        self.partition = partition
        self.gpus_per_node = gpus_per_node
        self.time_limit = time_limit
        self.extra = [line.strip() for line in sbatch_lines.split(";") if line.strip()]
        self.python = python
        self.timeout = timeout
        self.start_budget = start_budget
        self.backoff = backoff
        self._missing: dict[str, int] = {}
        self._poll_backoff: dict[str, float] = {}
        self._job_dirs: dict[str, Path] = {}

    # ---- the batch script (pure) --------------------------------------------------------------
    @staticmethod
    def job_name(job_id: str) -> str:
        return f"tuneforge-{job_id}"

    @staticmethod
    def nodes_of(argv: list[str]) -> int:
        """How many nodes a worker command asks for: dist_launch's --nnodes, else 1."""
        if DIST_LAUNCH in argv and "--nnodes" in argv:
            return int(argv[argv.index("--nnodes") + 1])
        return 1

    def script(self, job_id: str, argv: list[str], job_dir: Path, out: Path, err: Path, token: Path) -> str:
        nodes = self.nodes_of(argv)
        if self.python and argv:
            argv = [self.python, *argv[1:]]
        q = shlex.quote
        sbatch = [f"--job-name={self.job_name(job_id)}", f"--nodes={nodes}", "--ntasks-per-node=1",
                  f"--output={job_dir}/slurm-%j.out", "--open-mode=append", "--requeue", f"--chdir={job_dir}"]
        if self.partition:
            sbatch.append(f"--partition={self.partition}")
        if self.gpus_per_node:
            sbatch.append(f"--gpus-per-node={self.gpus_per_node}")
        if self.time_limit:
            sbatch.append(f"--time={self.time_limit}")
        sbatch += self.extra
        distributed = DIST_LAUNCH in argv
        run = " ".join(q(a) for a in argv)
        lines = ["#!/bin/bash", *(f"#SBATCH {opt}" for opt in sbatch),
                 f"# tuneforge job {job_id}: {'dist_launch (torchrun) on each node' if distributed else 'one task'}",
                 "set -u",
                 "# the data root must be on storage every node mounts at the same path",
                 f"if ! srun --ntasks-per-node=1 test -f {q(str(token))}; then",
                 f"  echo \"tuneforge: {job_dir} is not visible on every node of $SLURM_JOB_NODELIST\" >&2",
                 f"  exit {STORAGE_EXIT}", "fi",
                 "export TUNEFORGE_SLURM_REQUEUE_RESUMES=1  # a requeued run resumes from the latest checkpoint"]
        if distributed:
            lines += ['first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                      "MASTER_ADDR=$(scontrol show node \"$first\" -o | tr ' ' '\\n' | sed -n 's/^NodeAddr=//p')",
                      'export MASTER_ADDR="${MASTER_ADDR:-$first}"',
                      f"export TUNEFORGE_DIST_OUT={q(str(out))} TUNEFORGE_DIST_ERR={q(str(err))}",
                      f"srun --kill-on-bad-exit=1 --ntasks-per-node=1 {run}"]
        else:
            lines.append(f"srun --nodes=1 --ntasks=1 {run} >>{q(str(out))} 2>>{q(str(err))}")
        lines += ["rc=$?", f'echo "$SLURM_JOB_ID ${{SLURM_RESTART_COUNT:-0}} $rc" > {q(str(job_dir / EXIT_FILE))}',
                  "exit $rc", ""]
        return "\n".join(lines)

    # ---- calls --------------------------------------------------------------------------------
    async def _call(self, cmd: list[str], env: dict[str, str] | None = None) -> Answer:
        return await run_command(cmd, self.timeout, env)

    async def _retrying(self, cmd: list[str], what: str, env: dict[str, str] | None = None) -> Answer:
        started, delay, tries = time.monotonic(), self.backoff, 0
        while True:
            rc, out, err = await self._call(cmd, env)
            tries += 1
            if rc == 0:
                return rc, out, err
            elapsed = time.monotonic() - started
            if elapsed + delay > self.start_budget or _permanent(err):
                raise unavailable("SLURM_ERROR", f"{what} failed {tries} time(s) over {elapsed:.0f} s: {_last(err)}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _find(self, job_id: str) -> str:
        """The Slurm job id of this tuneforge job, if one was submitted (a retried sbatch)."""
        rc, out, _err = await self._call([*self.squeue, "-h", "--states=all", "-n", self.job_name(job_id), "-o", "%i"])
        ids = out.split() if rc == 0 else []
        return ids[-1] if ids else ""

    # ---- the protocol -------------------------------------------------------------------------
    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path,
                    err: Path) -> Started:  # fmt: skip
        out.touch()
        err.touch()
        token = cwd / f".storage-{secrets.token_hex(8)}"
        token.write_text(job_id)
        path = cwd / "slurm.sh"
        path.write_text(self.script(job_id, argv, cwd, out, err, token))
        (cwd / EXIT_FILE).unlink(missing_ok=True)
        self._job_dirs[job_id] = cwd
        started, delay = time.monotonic(), self.backoff
        while True:
            rc, stdout, stderr = await self._call([*self.sbatch, "--parsable", str(path)], env)
            if rc == 0 and stdout.strip():
                ref = stdout.strip().split(";")[0]
                log.info("slurm_job_submitted", job_id=job_id, slurm_job=ref)
                return Started(ref, None)
            if _permanent(stderr) or time.monotonic() - started + delay > self.start_budget:
                raise unavailable("SLURM_ERROR", f"sbatch failed: {_last(stderr)}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            if found := await self._find(job_id):  # the try that timed out went through
                return Started(found, None)

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]:
        await asyncio.sleep(max(interval, 1.0) + self._poll_backoff.get(ref, 0.0))
        done, code = await self._status(ref)
        if done:
            code = self._explain(job_id, code)
            self._forget(ref)
        return done, code

    async def _status(self, ref: str) -> tuple[bool, int | None]:
        rc, out, err = await self._call([*self.squeue, "-h", "--states=all", "-j", ref, "-o", "%T"])
        state = out.strip().split()[-1] if rc == 0 and out.strip() else ""
        if rc != 0 and "Invalid job id" not in err:  # Slurm did not answer: look again later, slower
            self._poll_backoff[ref] = min(max(self._poll_backoff.get(ref, 0.0) * 2, 1.0), MAX_BACKOFF_SECONDS)
            return False, None
        self._poll_backoff.pop(ref, None)
        if not state:  # unknown to squeue: gone (after MinJobAge) or not yet listed
            self._missing[ref] = self._missing.get(ref, 0) + 1
            if self._missing[ref] < 2:
                return False, None
            return True, await self._exit_code(ref, "")
        self._missing.pop(ref, None)
        if state.rstrip("+") in _RUNNING:
            return False, None
        return True, await self._exit_code(ref, state)

    async def _exit_code(self, ref: str, state: str) -> int | None:
        """The batch script's exit code: sacct, else scontrol; a cancelled job ends by SIGTERM."""
        rc, out, _err = await self._call([*self.sacct, "-n", "-P", "-X", "-j", ref, "-o", "State,ExitCode"])
        text = out.strip().splitlines()[0] if rc == 0 and out.strip() else ""
        if not text:
            rc, out, _err = await self._call([*self.scontrol, "show", "job", "-o", ref])
            fields = dict(f.split("=", 1) for f in out.split() if "=" in f) if rc == 0 else {}
            text = f"{fields.get('JobState', state)}|{fields.get('ExitCode', '')}" if fields else ""
        if not text:
            return None
        slurm_state, _, exit_code = text.partition("|")
        code_text, _, sig_text = exit_code.partition(":")
        if sig_text.isdigit() and int(sig_text):
            return -int(sig_text)
        if code_text.isdigit():
            return int(code_text)
        return -signal.SIGTERM if slurm_state.startswith("CANCELLED") else None

    def _explain(self, job_id: str, code: int | None) -> int | None:
        """What the service can tell about storage: the script's own storage check failed, or
        the job completed but its ``slurm.exit`` (and so its output) never reached us."""
        job_dir = self._job_dirs.pop(job_id, None) or self.data_root / "jobs" / job_id
        exit_file = job_dir / EXIT_FILE
        written = exit_file.exists()
        if written:
            with contextlib.suppress(ValueError, IndexError, OSError):
                code = int(exit_file.read_text().split()[2])
        if code == STORAGE_EXIT or (code == 0 and not written):
            message = (f"the Slurm job ran, but the compute nodes cannot see {job_dir} as the service does: "
                       f"the data root {self.data_root} must be on storage every node mounts at the same path "
                       "(NFS, Lustre, ...); see docs/distributed.md")
            with open(job_dir / "worker.out", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"event": "error", "reason": SHARED_STORAGE_NOT_VISIBLE, "message": message}) + "\n")
            return STORAGE_EXIT
        return code

    async def alive(self, ref: str, marker: str | None) -> bool:
        if ref in ("", "0"):
            return False
        for _ in range(2):
            done, _code = await self._status(ref)
            if done:
                return False
            if ref not in self._missing:
                return True
            await asyncio.sleep(self.backoff)
        return True

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        """SIGTERM: the running steps get it (a checkpoint, then exit); a pending job is
        cancelled. SIGKILL: scancel. Retried within the budget."""
        if ref in ("", "0"):
            return
        cmd = [*self.scancel, ref]
        if sig != signal.SIGKILL:
            rc, out, _err = await self._call([*self.squeue, "-h", "-j", ref, "-o", "%T"])
            if not (rc == 0 and out.strip().startswith("PENDING")):
                cmd = [*self.scancel, f"--signal={signal.Signals(sig).name.removeprefix('SIG')}", ref]
        with contextlib.suppress(TuneforgeError):
            await self._retrying(cmd, " ".join(cmd[-2:]))

    def forget(self, job_id: str) -> None:
        self._job_dirs.pop(job_id, None)

    def _forget(self, ref: str) -> None:
        self._missing.pop(ref, None)
        self._poll_backoff.pop(ref, None)


def _permanent(stderr: str) -> bool:
    return any(text in stderr for text in ("Invalid partition", "invalid option", "Unable to open file",
                                           "Invalid generic resource", "Invalid account", "unrecognized option"))


def _last(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1][-300:] if lines else "no error output"


def from_config(config: Config, root: Path) -> SlurmExecutor:
    return SlurmExecutor(
        data_root=root, sbatch=config.slurm_sbatch, squeue=config.slurm_squeue, sacct=config.slurm_sacct,
        scancel=config.slurm_scancel, partition=config.slurm_partition, gpus_per_node=config.slurm_gpus_per_node,
        time_limit=config.slurm_time_limit, sbatch_lines=config.slurm_sbatch_lines,
        python=config.slurm_python, timeout=config.slurm_timeout_seconds,
        start_budget=config.slurm_start_budget_seconds,
    )
