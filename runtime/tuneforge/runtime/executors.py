"""Where a worker runs: a local child process (default) or a Kubernetes Job.

Both write the worker's stdout/stderr to ``jobs/<id>/worker.out|err`` under the data root,
which the engine tails — for Kubernetes the data root is a shared volume (PVC) mounted at the
same path in the service and in the Job's pod, so the engine works the same either way.

The Kubernetes executor drives ``kubectl`` (configurable path, in-cluster service account or
kubeconfig): ``apply`` a ``batch/v1`` Job, poll its status and pod exit code, and stop it by
deleting the Job with a grace period (the pod gets SIGTERM, the worker saves a checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, invalid_argument, unavailable


@dataclass
class Started:
    ref: str  # pid (local) or Job name (kubernetes)
    start_marker: str | None = None


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self._children: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        with open(out, "ab") as out_fh, open(err, "ab") as err_fh:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out_fh, stderr=err_fh,
                cwd=str(cwd), env=env, start_new_session=True,
            )
        self._children[job_id] = proc
        return Started(str(proc.pid), process_start(proc.pid))

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]:
        """(done, exit code); the code is None for a worker this process did not start."""
        proc = self._children.get(job_id)
        if proc is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=interval)
            if proc.returncode is None:
                return False, None
            self._children.pop(job_id, None)
            return True, proc.returncode
        await asyncio.sleep(interval)
        return (not pid_alive(int(ref), marker)), None

    async def alive(self, ref: str, marker: str | None) -> bool:
        return pid_alive(int(ref), marker)

    def forget(self, job_id: str) -> None:
        """Drop a child that nobody will poll any more (its supervision ended early)."""
        self._children.pop(job_id, None)

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        pid = int(ref)
        if not pid_alive(pid, marker):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class KubernetesExecutor:
    """Runs a worker as a ``batch/v1`` Job: same image, the data root PVC at the same path.

    The Kubernetes API can fail for a moment (a restarting API server, a timeout): such
    errors are retried with backoff and never end a job. Only a Job the API says is gone
    (NotFound) on two polls in a row counts as lost. Secret variables never appear in the
    manifest: they come from the deployment's Secret by reference (``secretKeyRef``).
    """

    name = "kubernetes"

    def __init__(
        self,
        *,
        kubectl: str = "kubectl",
        namespace: str = "",
        image: str,
        data_root: Path,
        pvc: str,
        service_account: str = "",
        gpus: int = 1,
        python: str = "python",
        stop_timeout: float = 300.0,
        secret: str = "tuneforge-auth",
        secret_env: dict[str, str] | None = None,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.kubectl = shlex.split(kubectl)
        self.namespace = namespace
        self.image = image
        self.data_root = data_root
        self.pvc = pvc
        self.service_account = service_account
        self.gpus = gpus
        self.python = python
        self.stop_timeout = stop_timeout
        self.secret = secret
        self.secret_env = dict(DEFAULT_SECRET_ENV if secret_env is None else secret_env)
        self.retries = max(1, retries)
        self.backoff = backoff
        self._missing: dict[str, int] = {}  # Job → NotFound answers in a row
        self._poll_backoff: dict[str, float] = {}  # Job → extra wait after transient errors

    def job_name(self, job_id: str) -> str:
        return re.sub(r"[^a-z0-9-]", "-", f"tuneforge-{job_id}".lower())[:63]

    def _env(self, env: dict[str, str]) -> list[dict[str, Any]]:
        """The container's env: plain variables by value, secret ones only by reference."""
        out: list[dict[str, Any]] = []
        for name in sorted(env):
            if name in self.secret_env:
                ref = {"name": self.secret, "key": self.secret_env[name], "optional": True}
                out.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
            elif name.startswith(_PASSED_PREFIXES) and name != "CUDA_VISIBLE_DEVICES" and not looks_secret(name):
                out.append({"name": name, "value": env[name]})
        return out

    def manifest(self, job_id: str, argv: list[str], env: dict[str, str], out: Path, err: Path) -> dict[str, Any]:
        argv = [self.python if a == sys.executable else a for a in argv]
        script = f'exec "$@" >>{shlex.quote(str(out))} 2>>{shlex.quote(str(err))}'
        container: dict[str, Any] = {
            "name": "worker",
            "image": self.image,
            "command": ["sh", "-c", script, "worker", *argv],
            "workingDir": str(out.parent),
            "env": self._env(env),  # CUDA_VISIBLE_DEVICES stays out: the scheduler picks the GPU
            "volumeMounts": [{"name": "data", "mountPath": str(self.data_root)}],
        }
        if self.gpus:
            container["resources"] = {"limits": {"nvidia.com/gpu": self.gpus}}
        spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": int(self.stop_timeout),
            "containers": [container],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": self.pvc}}],
        }
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        # The data root is a ReadWriteOnce volume shared with SQLite in WAL mode: run next to
        # the tuneforge pods (same node), as the Deployments in deploy/kubernetes do.
        spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app.kubernetes.io/part-of": "tuneforge"}},
            "topologyKey": "kubernetes.io/hostname",
        }]}}
        metadata: dict[str, Any] = {
            "name": self.job_name(job_id),
            "labels": {"app.kubernetes.io/name": "tuneforge-worker", "tuneforge.dev/job-id": job_id},
        }
        if self.namespace:
            metadata["namespace"] = self.namespace
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 86400,
                "template": {"metadata": {"labels": dict(metadata["labels"])}, "spec": spec},
            },
        }

    async def _kubectl(self, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        """One kubectl call: (exit code, stdout, stderr)."""
        cmd = [*self.kubectl, *(["-n", self.namespace] if self.namespace else []), *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise unavailable("KUBECTL_UNAVAILABLE", f"cannot run {self.kubectl[0]!r}: {exc}") from None
        out, errout = await proc.communicate(stdin)
        return proc.returncode or 0, out.decode(errors="replace"), errout.decode(errors="replace").strip()

    async def _retrying(self, *args: str, stdin: bytes | None = None, ok: Any = None) -> tuple[int, str, str]:
        """kubectl with retries (exponential backoff) while the error looks transient;
        ``ok(stderr)`` says which failures are answers (NotFound, AlreadyExists), not errors."""
        delay = self.backoff
        for attempt in range(self.retries):
            rc, out, err = await self._kubectl(*args, stdin=stdin)
            if rc == 0 or (ok and ok(err)):
                return rc, out, err
            if attempt + 1 < self.retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise unavailable("KUBERNETES_ERROR", f"kubectl {' '.join(args[:2])} failed {self.retries} times: {err[-500:]}")

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        out.touch()
        err.touch()
        doc = json.dumps(self.manifest(job_id, argv, env, out, err)).encode()
        # A retried apply whose first try went through answers AlreadyExists: that is success.
        await self._retrying("apply", "-f", "-", stdin=doc, ok=lambda e: "AlreadyExists" in e)
        return Started(self.job_name(job_id), None)

    async def _status(self, ref: str) -> tuple[bool, int | None]:
        """(done, exit code) from one look at the Job; transient errors read as "running"."""
        rc, out, err = await self._kubectl("get", "job", ref, "-o", "json")
        if rc != 0 and is_not_found(err):
            self._missing[ref] = self._missing.get(ref, 0) + 1
            if self._missing[ref] >= 2:
                self._forget(ref)
                return True, None  # really gone
            return False, None
        self._missing.pop(ref, None)
        try:
            status = json.loads(out).get("status", {}) if rc == 0 else None
        except (ValueError, AttributeError):
            status = None
        if status is None:  # the API did not answer properly: look again later, slower
            self._poll_backoff[ref] = min(max(self._poll_backoff.get(ref, 0.0) * 2, 1.0), 30.0)
            return False, None
        self._poll_backoff.pop(ref, None)
        if status.get("succeeded"):
            self._forget(ref)
            return True, 0
        if status.get("failed"):
            self._forget(ref)
            return True, await self._exit_code(ref)
        return False, None

    def _forget(self, ref: str) -> None:
        self._missing.pop(ref, None)
        self._poll_backoff.pop(ref, None)

    async def _exit_code(self, ref: str) -> int:
        try:
            _rc, out, _err = await self._retrying("get", "pods", "-l", f"job-name={ref}", "-o", "json")
        except TuneforgeError:
            return 1
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
            for pod in json.loads(out)["items"]:
                for status in pod["status"].get("containerStatuses", []):
                    terminated = status.get("state", {}).get("terminated")
                    if terminated:
                        code = int(terminated.get("exitCode", 1))
                        signum = code - 128 if code > 128 else 0
                        return -signum if signum in (signal.SIGKILL, signal.SIGTERM) else code
        return 1

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]:
        await asyncio.sleep(max(interval, 1.0) + self._poll_backoff.get(ref, 0.0))
        return await self._status(ref)

    async def alive(self, ref: str, marker: str | None) -> bool:
        """For re-attaching after a restart: gone only if NotFound twice; in doubt, alive."""
        for _ in range(2):
            done, code = await self._status(ref)
            if done:
                return False
            if ref not in self._missing:
                return True
            await asyncio.sleep(self.backoff)
        return True

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        period = "0" if sig == signal.SIGKILL else str(int(grace))
        with contextlib.suppress(TuneforgeError):
            await self._retrying("delete", "job", ref, f"--grace-period={period}", "--cascade=foreground",
                                 "--wait=false", "--ignore-not-found", ok=is_not_found)  # fmt: skip


_PASSED_PREFIXES = ("TUNEFORGE_", "HF_", "TRANSFORMERS_", "CUDA_", "PYTHON", "OMP_")
DEFAULT_SECRET_ENV = {"TUNEFORGE_AUTH_TOKEN": "token", "TUNEFORGE_VLLM_API_KEY": "vllm-api-key", "HF_TOKEN": "hf-token"}
_SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|CREDENTIAL|PRIVATE")


def looks_secret(name: str) -> bool:
    """A variable never passed by value even if nobody listed it as secret."""
    return bool(_SECRET_WORDS.search(name.upper()))


def parse_secret_env(raw: str) -> dict[str, str]:
    """"VAR=key,VAR2=key2" (config ``kubernetes_secret_env``) → {VAR: key}."""
    out = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        var, _, key = item.partition("=")
        if not var.strip() or not key.strip():
            raise invalid_argument("kubernetes_secret_env", f"{item!r} is not VAR=key")
        out[var.strip()] = key.strip()
    return out


def is_not_found(stderr: str) -> bool:
    return "(NotFound)" in stderr or " not found" in stderr


def process_start(pid: int) -> str | None:
    """Start time of a process (from /proc), to tell a live worker from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if start and fields[19] != start:
        return False
    return fields[0] != "Z"
