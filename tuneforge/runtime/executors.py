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

from tuneforge.runtime.errors import unavailable


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
    """Runs a worker as a ``batch/v1`` Job: same image, the data root PVC at the same path."""

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

    def job_name(self, job_id: str) -> str:
        return re.sub(r"[^a-z0-9-]", "-", f"tuneforge-{job_id}".lower())[:63]

    def manifest(self, job_id: str, argv: list[str], env: dict[str, str], out: Path, err: Path) -> dict[str, Any]:
        argv = [self.python if a == sys.executable else a for a in argv]
        script = f'exec "$@" >>{shlex.quote(str(out))} 2>>{shlex.quote(str(err))}'
        passed = {k: v for k, v in env.items() if k.startswith(("TUNEFORGE_", "HF_", "TRANSFORMERS_", "CUDA_", "PYTHON", "OMP_"))}
        passed.pop("CUDA_VISIBLE_DEVICES", None)  # the scheduler picks the GPU inside the pod
        container: dict[str, Any] = {
            "name": "worker",
            "image": self.image,
            "command": ["sh", "-c", script, "worker", *argv],
            "workingDir": str(out.parent),
            "env": [{"name": k, "value": v} for k, v in sorted(passed.items())],
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

    async def _kubectl(self, *args: str, stdin: bytes | None = None, check: bool = True) -> tuple[int, str]:
        cmd = [*self.kubectl, *(["-n", self.namespace] if self.namespace else []), *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise unavailable("KUBECTL_UNAVAILABLE", f"cannot run {self.kubectl[0]!r}: {exc}") from None
        out, errout = await proc.communicate(stdin)
        if check and proc.returncode != 0:
            raise unavailable("KUBERNETES_ERROR", f"kubectl {' '.join(args[:2])} failed: {errout.decode(errors='replace').strip()[-500:]}")
        return proc.returncode or 0, out.decode(errors="replace")

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        out.touch()
        err.touch()
        doc = json.dumps(self.manifest(job_id, argv, env, out, err)).encode()
        await self._kubectl("apply", "-f", "-", stdin=doc)
        return Started(self.job_name(job_id), None)

    async def _status(self, ref: str) -> tuple[bool, int | None]:
        rc, out = await self._kubectl("get", "job", ref, "-o", "json", check=False)
        if rc != 0:
            return True, None  # the Job is gone
        status = json.loads(out).get("status", {})
        if status.get("succeeded"):
            return True, 0
        if status.get("failed"):
            return True, await self._exit_code(ref)
        return False, None

    async def _exit_code(self, ref: str) -> int:
        rc, out = await self._kubectl("get", "pods", "-l", f"job-name={ref}", "-o", "json", check=False)
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
        await asyncio.sleep(max(interval, 1.0))
        return await self._status(ref)

    async def alive(self, ref: str, marker: str | None) -> bool:
        done, _ = await self._status(ref)
        return not done

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        period = "0" if sig == signal.SIGKILL else str(int(grace))
        await self._kubectl("delete", "job", ref, f"--grace-period={period}", "--cascade=foreground", "--wait=false", "--ignore-not-found", check=False)


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
