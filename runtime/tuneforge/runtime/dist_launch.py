"""Several processes, one job: torchrun around the ordinary worker, with rank 0 speaking.

    python -m tuneforge.runtime.dist_launch --nnodes N --nproc-per-node P [--rdzv local|slurm]
        [--log-dir DIR] [--shutdown-timeout S] -- -m tuneforge.services.trainer.train_worker --spec S

runs torchrun (``torch.distributed.run``, in this process: its agent is this process) with
every rank executing the same worker module under :func:`rank_main`. The worker is unchanged:
it reads ``RANK``/``WORLD_SIZE`` (set by torchrun) and only rank 0 reports events, metrics,
checkpoints and the result (train_worker, callbacks). What this module adds:

- **One voice.** Rank 0's stdout/stderr are this process's (the job's ``worker.out``/``.err``);
  every other rank's go to ``<log dir>/rank-<R>.log``, so nothing but rank 0 reaches the job.
  Under Slurm, rank 0 appends to the files ``TUNEFORGE_DIST_OUT``/``_ERR`` name (the job's,
  on the shared data root) and each node's launcher writes ``<log dir>/node-<N>.log``.
- **Stop.** SIGTERM to this process is passed to each rank (again every 2 s, for a rank that
  was still starting); torchrun itself does not act on it (``--signals-to-handle`` leaves it
  out), so the ranks agree on a step (callbacks: an all-reduce of the stop flag), save a
  checkpoint, exit 0 — and torchrun exits 0 with them.
- **A rank's failure is the job's failure, named.** A rank that fails writes
  ``rank-<R>.exit`` (time, exit code); a rank killed by a signal writes nothing. The first to
  fail (killed ones first, then the earliest record) is the root cause: when it is not rank 0
  this process reports an ``error`` event ``RANK_FAILED`` naming the rank, its error and its
  last lines, after whatever rank 0 said about the broken collective.
- **No orphans.** Each rank asks the kernel to kill it when this launcher dies
  (``PR_SET_PDEATHSIG``): torchrun starts ranks in sessions of their own, which a stop of the
  launcher's process group (LocalExecutor's SIGKILL) would not reach.

:func:`command` is the pure rule for the argv an executor runs: the plain worker for one
process on one node, this launcher otherwise.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

MODULE = "tuneforge.runtime.dist_launch"
RANK_LOG_DIR_ENV = "TUNEFORGE_RANK_LOG_DIR"
LAST_LINES = 20
_RESEND_SECONDS = 2.0


# ---- the argv (pure) --------------------------------------------------------------------------
def command(worker: list[str], *, nodes: int = 1, processes: int = 1, rdzv: str = "local",
            log_dir: Path | str | None = None, shutdown_timeout: float | None = None) -> list[str]:
    """The argv running ``worker`` (``[python, -m, module, ...]``) on ``nodes`` x ``processes``:
    unchanged for one process on one node (and ``rdzv`` local), else under this launcher."""
    if nodes < 1 or processes < 1:
        from tuneforge.runtime.errors import invalid_argument

        raise invalid_argument("train_num_nodes" if nodes < 1 else "train_num_processes", "must be at least 1")
    if nodes == 1 and processes == 1 and rdzv == "local":
        return list(worker)
    python, rest = worker[0], worker[1:]
    argv = [python, "-m", MODULE, "--nnodes", str(nodes), "--nproc-per-node", str(processes), "--rdzv", rdzv]
    if log_dir:
        argv += ["--log-dir", str(log_dir)]
    if shutdown_timeout:
        argv += ["--shutdown-timeout", str(int(shutdown_timeout))]
    return [*argv, "--", *rest]


# ---- a rank ---------------------------------------------------------------------------------
def _die_with_parent() -> None:
    with_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    if with_libc is not None:
        pr_set_pdeathsig = 1
        with_libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def rank_main(argv: list[str]) -> None:
    """``--as-rank MODULE ARGS...``: one rank. Output to its log unless rank 0; run MODULE as
    ``__main__``; a failure leaves ``rank-<R>.exit``."""
    import runpy

    from tuneforge.runtime import worker_events

    worker_events.install_stop_handler()  # a stop while starting is kept, not fatal
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the launcher died before the kernel could watch it
        os._exit(1)
    rank = int(os.environ.get("RANK", "0"))
    log_dir = os.environ.get(RANK_LOG_DIR_ENV)
    if rank != 0 and log_dir:
        _redirect(Path(log_dir) / f"rank-{rank}.log")
    elif rank == 0 and os.environ.get("TUNEFORGE_DIST_OUT"):  # Slurm: the job's files on the data root
        _redirect(Path(os.environ["TUNEFORGE_DIST_OUT"]), Path(os.environ.get("TUNEFORGE_DIST_ERR") or
                                                                os.environ["TUNEFORGE_DIST_OUT"]))
    module, args = argv[0], argv[1:]
    sys.argv = [module, *args]
    code: Any = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        raise
    except BaseException:
        code = 1
        raise
    finally:
        # done: a stop re-sent now must not kill the interpreter's teardown (which restores
        # SIGTERM's default action unless it is ignored) and turn a clean exit into a failure
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if code not in (0, None) and log_dir:
            with open(Path(log_dir) / f"rank-{rank}.exit", "w", encoding="utf-8") as fh:
                json.dump({"rank": rank, "code": code if isinstance(code, int) else 1, "time": time.time(),
                           "host": os.uname().nodename}, fh)


def _redirect(path: Path, err: Path | None = None) -> None:
    """stdout (and stderr, to ``err`` when given) appended to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    for target, fds in ((path, (1,) if err else (1, 2)), (err, (2,))):
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for n in fds:
            os.dup2(fd, n)
        os.close(fd)


# ---- the launcher ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=MODULE)
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--nproc-per-node", type=int, default=1)
    p.add_argument("--rdzv", choices=("local", "slurm"), default="local",
                   help="local: one node, a free port; slurm: node rank and the first node from Slurm")
    p.add_argument("--log-dir", default="", help="where other ranks' output goes (default: beside the spec)")
    p.add_argument("--shutdown-timeout", type=int, default=300)
    p.add_argument("worker", nargs=argparse.REMAINDER, help="-- -m MODULE ARGS...")
    return p


def _worker_module(worker: list[str]) -> list[str]:
    if worker[:1] == ["--"]:
        worker = worker[1:]
    if len(worker) < 2 or worker[0] != "-m":
        raise SystemExit(f"{MODULE}: the worker must be given as -- -m MODULE ARGS..., got {worker!r}")
    return worker[1:]


def _spec_dir(args: list[str]) -> Path | None:
    if "--spec" in args and args.index("--spec") + 1 < len(args):
        return Path(args[args.index("--spec") + 1]).resolve().parent
    return None


def rendezvous(rdzv: str, nnodes: int, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """torchrun's rendezvous options: a free local port, or from the Slurm job's environment
    (``SLURM_NODEID``, ``SLURM_JOB_ID``, and ``MASTER_ADDR`` — the first node's address —
    exported by the batch script; the port follows from the job id unless ``MASTER_PORT``)."""
    if rdzv == "local":
        return ["--standalone"] if nnodes == 1 else ["--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:29400"]
    # static: node N's ranks are N*P .. N*P+P-1, so global rank 0 runs on the first node
    job = environ.get("SLURM_JOB_ID", "0")
    port = int(environ.get("MASTER_PORT") or 20000 + int(job) % 20000)
    return ["--node-rank", environ.get("SLURM_NODEID", "0"), "--rdzv-backend", "static",
            "--master-addr", environ.get("MASTER_ADDR", "127.0.0.1"), "--master-port", str(port)]


def _node_output(rdzv: str, log_dir: Path) -> None:
    """Under Slurm every node's launcher (torchrun's own log) writes to a node log beside the
    rank logs; rank 0 itself writes the job's worker.out/err (:func:`rank_main`)."""
    if rdzv == "slurm":
        _redirect(log_dir / f"node-{os.environ.get('SLURM_NODEID', '0')}.log")


def _report(reason: str, message: str) -> None:
    """An ``error`` event for the job: on stdout, and under Slurm into the job's worker.out."""
    from tuneforge.runtime import worker_events as ev

    ev.error(reason, message)
    if os.environ.get("TUNEFORGE_DIST_OUT") and os.environ.get("SLURM_NODEID", "0") == "0":
        line = json.dumps({"event": "error", "time": time.time(), "reason": reason, "message": message})
        with open(os.environ["TUNEFORGE_DIST_OUT"], "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class _StopForwarder:
    """SIGTERM → every rank (this process's children), again every 2 s until they are gone."""

    def __init__(self) -> None:
        self.stopping = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if not self.stopping.is_set():
            self.stopping.set()
            threading.Thread(target=self._resend, daemon=True).start()
        self.forward()

    def _resend(self) -> None:
        while True:
            time.sleep(_RESEND_SECONDS)
            self.forward()

    @staticmethod
    def forward() -> None:
        for pid in children(os.getpid()):
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def root_cause(failures: dict[int, int], log_dir: Path) -> tuple[int, int | None] | None:
    """(rank, exit code) of the rank that failed first: one killed by a signal (it left no
    exit record) before the earliest record. ``failures``: this node's failed ranks → code."""
    records: list[tuple[float, int, int]] = []
    for path in log_dir.glob("rank-*.exit"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records.append((float(data["time"]), int(data["rank"]), int(data["code"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    recorded = {rank for _t, rank, _c in records}
    killed = sorted((rank, code) for rank, code in failures.items() if rank not in recorded and code != 0)
    if killed:
        return killed[0]
    if records:
        _t, rank, code = min(records)
        return rank, code
    if failures:
        rank = min(failures)
        return rank, failures[rank]
    return None


def last_lines(path: Path, count: int = LAST_LINES) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-count:]


def _rank_error(lines: list[str]) -> str:
    """The rank's own ``error`` event among its lines, as 'REASON: message'."""
    for line in reversed(lines):
        if line.startswith("{") and '"error"' in line:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if data.get("event") == "error":
                return f"{data.get('reason', 'WORKER_ERROR')}: {data.get('message', '')}"
    return ""


def failure_message(rank: int, code: int | None, world: int, log_dir: Path) -> str:
    lines = last_lines(log_dir / f"rank-{rank}.log")
    why = _rank_error(lines)
    ended = (f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0
             and -code in signal.Signals._value2member_map_ else f"exited with code {code}")
    text = f"rank {rank} of {world} {ended}" + (f" ({why})" if why else "")
    shown = [line for line in lines if not line.startswith("{")][-8:] or lines[-8:]
    if shown:
        text += "; its last lines: " + " | ".join(shown)
    return text


def launch(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    worker = _worker_module(args.worker)
    log_dir = Path(args.log_dir) if args.log_dir else (_spec_dir(worker) or Path.cwd()) / "ranks"
    log_dir.mkdir(parents=True, exist_ok=True)
    _node_output(args.rdzv, log_dir)
    os.environ[RANK_LOG_DIR_ENV] = str(log_dir)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.rdzv == "local":
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    forwarder = _StopForwarder()
    forwarder.install()
    torchrun = ["--nnodes", str(args.nnodes), "--nproc-per-node", str(args.nproc_per_node),
                *rendezvous(args.rdzv, args.nnodes, os.environ), "--max-restarts", "0",
                "--signals-to-handle", "SIGINT,SIGHUP,SIGQUIT", "--shutdown-timeout", str(args.shutdown_timeout),
                "--module", MODULE, "--as-rank", *worker]  # fmt: skip
    world = args.nnodes * args.nproc_per_node
    try:
        run(parse_args(torchrun))
    except ChildFailedError as exc:
        failures = {rank: int(f.exitcode) for rank, f in exc.failures.items()}
        cause = root_cause(failures, log_dir)
        if cause is not None and cause[0] != 0:
            _report("RANK_FAILED", failure_message(cause[0], cause[1], world, log_dir))
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as-rank"]:
        rank_main(argv[1:])
        return
    sys.exit(launch(argv))


if __name__ == "__main__":
    main()
