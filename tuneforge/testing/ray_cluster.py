"""A real local Ray cluster for the tests: a head with 0 CPUs and N worker nodes of 1 CPU each.

Each node is ``ray start --block`` in a process group of its own with its own ``--temp-dir`` and
a small object store, so a test can kill one worker node (its raylet's whole process group) and
start it again. Ray binds the machine's external interface whatever ``--node-ip-address`` says;
as root the cluster lives in a loopback-only network namespace (``unshare -n`` holder, nodes
entered with ``nsenter``), and the Jobs API alone is brought out to this host's loopback by a small
TCP forwarder (a process listening here that connects inside the namespace). Without root it
runs on this host's network and says so. Every daemon is stopped by its process group: SIGTERM,
then SIGKILL after a grace (raylet and GCS ignore SIGTERM for a while).

    with RayCluster(tmp) as cluster:       # ~35 s on 2 shared cores, ~2.5 GB
        cluster.address                    # http://127.0.0.1:PORT (the Jobs API)
        cluster.kill_worker(1); cluster.start_worker(1)

    python -m tuneforge.testing.ray_cluster forward NETNS_PID PORT   # (the forwarder itself)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

DASHBOARD_PORT = 8265
GCS_PORT = 6379
OBJECT_STORE_BYTES = 100 * 1024**2
STOP_GRACE_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayCluster:
    def __init__(self, root: Path | None = None, workers: int = 2, worker_cpus: int = 1,
                 isolate: bool | None = None) -> None:  # fmt: skip
        self.root = Path(root or tempfile.mkdtemp(prefix="tfray-", dir="/tmp"))
        self.workers = workers
        self.worker_cpus = worker_cpus
        self.isolate = (os.geteuid() == 0) if isolate is None else isolate
        self._holder: subprocess.Popen | None = None
        self._forwarder: subprocess.Popen | None = None
        self._head: subprocess.Popen | None = None
        self._nodes: dict[int, subprocess.Popen] = {}
        self._logs: list = []
        self.gcs_port = GCS_PORT if self.isolate else _free_port()
        self.dashboard_port = DASHBOARD_PORT if self.isolate else _free_port()
        self.address = ""

    # ---- processes -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   TOKENIZERS_PARALLELISM="false", RAY_TRAIN_ENABLE_PRINT_PATCH="0",
                   RAY_DEDUP_LOGS="0",
                   # a killed node is declared dead in ~3 s instead of ~15 s (GCS health checks)
                   RAY_health_check_initial_delay_ms="1000", RAY_health_check_period_ms="1000",
                   RAY_health_check_timeout_ms="1000", RAY_health_check_failure_threshold="3")  # fmt: skip
        if self.isolate:
            env["GLOO_SOCKET_IFNAME"] = "lo"  # the only interface in the namespace
        return env

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        prefix = ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", "--"] if self._holder else []
        log = open(self.root / log_name, "ab")
        self._logs.append(log)
        return subprocess.Popen([*prefix, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=self._env(), start_new_session=True)  # fmt: skip

    def _ray(self) -> str:
        return str(Path(sys.executable).with_name("ray"))

    def _node_args(self, name: str) -> list[str]:
        temp = self.root / name
        temp.mkdir(parents=True, exist_ok=True)
        return ["--block", "--temp-dir", str(temp), "--object-store-memory", str(OBJECT_STORE_BYTES),
                "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]  # fmt: skip

    def start(self, timeout: float = 180.0) -> RayCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.isolate:
            self._holder = subprocess.Popen(
                ["unshare", "-n", "--", "sh", "-c", "ip link set lo up && exec sleep infinity"],
                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            deadline = time.time() + 10
            while time.time() < deadline and _netns(os.getpid()) == _netns(self._holder.pid):
                time.sleep(0.05)
            time.sleep(0.2)  # `ip link set lo up` ran before sleep
        self._head = self._spawn([self._ray(), "start", "--head", "--num-cpus", "0", "--port", str(self.gcs_port),
                                  "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
                                  "--dashboard-port", str(self.dashboard_port), *self._node_args("head")], "head.log")  # fmt: skip
        if self.isolate:
            self._forwarder = subprocess.Popen(
                [sys.executable, "-m", "tuneforge.testing.ray_cluster", "forward", str(self._holder.pid),
                 str(self.dashboard_port)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=open(self.root / "forwarder.log", "ab"), start_new_session=True)  # fmt: skip
            port = int(self._forwarder.stdout.readline().decode().strip() or 0)
            if not port:
                raise RuntimeError(f"the Jobs API forwarder did not start; see {self.root / 'forwarder.log'}")
            self.address = f"http://127.0.0.1:{port}"
        else:
            self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self._wait(lambda: self.alive_workers() is not None, timeout, "the head's Jobs API")
        for i in range(self.workers):
            self.start_worker(i)
        self._wait(lambda: self.alive_workers() == self.workers, timeout, f"{self.workers} worker nodes")
        return self

    def start_worker(self, i: int) -> None:
        self._nodes[i] = self._spawn([self._ray(), "start", "--address", f"127.0.0.1:{self.gcs_port}",
                                      "--num-cpus", str(self.worker_cpus), *self._node_args(f"w{i}")], f"w{i}.log")  # fmt: skip

    def wait_workers(self, count: int, timeout: float = 120.0) -> None:
        self._wait(lambda: self.alive_workers() == count, timeout, f"{count} live worker nodes")

    def kill_worker(self, i: int) -> None:
        """The worker node lost: SIGKILL to its whole process group (ray start, raylet, the Ray
        workers and what they started)."""
        proc = self._nodes.pop(i)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def alive_workers(self) -> int | None:
        """Live nodes with CPUs (the head has none), from the dashboard's state API; None when
        it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.address}/api/v0/nodes?limit=100", timeout=5) as resp:
                data = json.load(resp)
        except (OSError, ValueError):
            return None
        nodes = data.get("data", {}).get("result", {}).get("result", [])
        return sum(1 for n in nodes if n.get("state") == "ALIVE" and not n.get("is_head_node"))

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            if self._head is not None and self._head.poll() is not None:
                break
            time.sleep(1.0)
        raise RuntimeError(f"Ray cluster: {what} not ready within {timeout:g} s; logs in {self.root}:\n"
                           + _tail(self.root / "head.log"))  # fmt: skip

    def stop(self) -> None:
        procs = [*self._nodes.values(), *([self._head] if self._head else [])]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + STOP_GRACE_SECONDS
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.time()))
        for proc in [*procs, self._forwarder, self._holder]:
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._nodes.clear()
        self._head = self._forwarder = self._holder = None
        for log in self._logs:
            log.close()

    def __enter__(self) -> RayCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _netns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---- the Jobs API forwarder ------------------------------------------------------------------
def forward(netns_pid: int, port: int) -> None:
    """Listen on this host's loopback (printing the port), then enter the namespace of
    ``netns_pid``: each accepted connection is piped to 127.0.0.1:``port`` there."""
    import ctypes

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    fd = os.open(f"/proc/{netns_pid}/ns/net", os.O_RDONLY)
    if ctypes.CDLL("libc.so.6", use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_pipe_pair, args=(conn, port), daemon=True).start()


def _pipe_pair(conn: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        conn.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pipe, args=(upstream, conn), daemon=True).start()
    _pipe(conn, upstream)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            src.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["forward"]:
        forward(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
