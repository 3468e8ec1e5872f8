"""A real two-node Slurm cluster on 127.0.0.1, for the slurm executor's tests and bench/.

Debian's ``slurm-wlm`` + ``munge`` (scripts/setup_slurm.sh installs them as root): ``munged``
with a private socket, ``slurmctld`` and two ``slurmd -N n1|n2`` on ports of their own, all
configured in a temporary directory (``SLURM_CONF`` points the client commands at it), with
accounting off and step credentials that expire after 10 s (``cred_expire``: also how long a
requeued job waits before it may start again; Slurm's default is 120 s). Everything is started once and stopped by pid (never by name). Slurm does not
work in a loopback-only network namespace, but all its traffic stays on 127.0.0.1.

    with SlurmCluster(tmp) as cluster:
        subprocess.run(["sbatch", ...], env=cluster.env())

:func:`unavailable` says why a cluster cannot be started here (not root, not installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NODES = ("n1", "n2")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol")


def unavailable() -> str:
    """Why no cluster can start here ('' when one can)."""
    if os.geteuid() != 0:
        return "Slurm daemons need root here (slurmd runs jobs as their users)"
    missing = [b for b in BINARIES if not shutil.which(b) and not Path("/usr/sbin", b).exists()]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/setup_slurm.sh: apt-get install slurm-wlm munge)"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    """Start with :meth:`start` (or ``with``); :meth:`env` is the environment for sbatch & co."""

    def __init__(self, root: Path, cpus_per_node: int = 2) -> None:
        self.root = Path(root)
        self.cpus = cpus_per_node
        self.conf = self.root / "slurm.conf"
        # munged runs as the munge user, who may not traverse a private temp tree: its own dir in /tmp
        self.munge_dir = Path(tempfile.mkdtemp(prefix="tuneforge-munge-"))
        self.socket = self.munge_dir / "munge.socket"
        self._pids: list[tuple[str, Path]] = []

    # ---- configuration ----------------------------------------------------------------------
    def _write_config(self) -> None:
        r = self.root
        for sub in ("state", "log", *(f"spool-{n}" for n in NODES)):
            (r / sub).mkdir(parents=True, exist_ok=True)
        ctld = _free_port()
        nodes = "\n".join(f"NodeName={n} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} "
                          f"Port={_free_port()} CPUs={self.cpus} State=UNKNOWN" for n in NODES)
        self.conf.write_text(f"""\
ClusterName=tuneforge
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket},cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool-%n
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd-%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd-%n.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=30
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MailProg=/bin/true
{nodes}
PartitionName=debug Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        (r / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\nIgnoreSystemd=yes\n")

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    # ---- daemons ----------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> SlurmCluster:
        why = unavailable()
        if why:
            raise RuntimeError(why)
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_config()
        munge = self.munge_dir
        shutil.chown(munge, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", _binary("munged"), "--force",
                        f"--socket={self.socket}", f"--pid-file={munge}/munged.pid",
                        f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"],
                       check=True, timeout=30)
        self._pids.append(("munged", munge / "munged.pid"))
        env = self.env()
        subprocess.run([_binary("slurmctld"), "-i", "-f", str(self.conf)], env=env, check=True, timeout=30)
        self._pids.append(("slurmctld", self.root / "slurmctld.pid"))
        for node in NODES:
            subprocess.run([_binary("slurmd"), "-N", node, "-f", str(self.conf)], env=env, check=True, timeout=30)
            self._pids.append((f"slurmd {node}", self.root / f"slurmd-{node}.pid"))
        self._wait_idle(timeout)
        return self

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env(), capture_output=True,
                                  text=True, timeout=30)
            out = proc.stdout
            states = dict(line.split() for line in out.splitlines() if line.strip())
            if all(states.get(n) in ("idle", "mix", "alloc") for n in NODES):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the Slurm nodes did not come up: {out!r}; logs in {self.root / 'log'}")

    def stop(self) -> None:
        """SIGTERM each daemon by the pid in its pid file, SIGKILL after 10 s."""
        for name, pid_file in reversed(self._pids):
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._pids.clear()
        shutil.rmtree(self.munge_dir, ignore_errors=True)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
