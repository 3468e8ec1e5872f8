"""Where a worker runs: a local child process (default), a Kubernetes Job, a Slurm batch job
(executor_slurm.py) or a Ray job — every one behind the :class:`Executor` protocol the job
engine drives (jobs/supervisor.py), chosen by the ``training_executor`` setting.

A job's worker is the same command everywhere (``python -m <worker> --spec SPEC``, or that
command under :mod:`tuneforge.runtime.dist_launch` for several processes or nodes): an
executor only decides *where* it runs. :func:`build_executors` makes the configured ones.

Both write the worker's stdout/stderr to ``jobs/<id>/worker.out|err`` under the data root,
which the engine tails — for Kubernetes the data root is a shared volume (PVC) mounted at the
same path in the service and in the Job's pod, so the engine works the same either way.

The Kubernetes executor drives ``kubectl`` (configurable path, in-cluster service account or
kubeconfig): ``apply`` a ``batch/v1`` Job, poll its status and pod exit code, and stop it by
deleting the Job with a grace period (the pod gets SIGTERM, the worker saves a checkpoint).
Every kubectl call has a deadline and idempotent ones are retried within a budget
(:mod:`tuneforge.runtime.kubectl`); what of the worker's environment goes into the manifest,
and how, is :mod:`tuneforge.runtime.worker_env`'s rule.
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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tuneforge.runtime.errors import TuneforgeError, invalid_argument
from tuneforge.runtime.kubectl import is_not_found, request_timeout_flag, retrying, run_kubectl
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.worker_env import credential_like, is_worker_setting

if TYPE_CHECKING:
    from tuneforge.runtime.config import Config

log = get_logger("tuneforge.executors")


@dataclass
class Started:
    ref: str  # pid (local), Job name (kubernetes), batch job id (slurm), submission id (ray)
    start_marker: str | None = None  # local: the process's start time, to tell a reused pid


@runtime_checkable
class Executor(Protocol):
    """Where a worker runs. The engine calls, for one job:

    ``start`` once (the worker's stdout/stderr must end up appended to ``out``/``err``, which
    the engine tails; ``cwd`` is the job's directory), then ``poll`` in a loop until it says
    done — ``(done, exit code)``, the code None when unknown; ``signal`` to stop it (SIGTERM:
    the worker checkpoints and exits; SIGKILL: now); ``alive`` when re-attaching after a
    service restart or waiting out a stop (in doubt: alive); ``forget`` when nobody will poll
    the job any more. ``ref``/``marker`` are what ``start`` returned (stored with the job).
    Calls that reach a cluster retry transient errors within a budget and never end a
    running job on their own: only an answer that the work is gone does.
    """

    name: str

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path,
                    err: Path) -> Started: ...  # fmt: skip

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]: ...

    async def alive(self, ref: str, marker: str | None) -> bool: ...

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None: ...

    def forget(self, job_id: str) -> None: ...


class LocalExecutor:
    """A child process of the service (a process group of its own, so a stop reaches
    everything it started; several processes run under dist_launch)."""

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

    The Kubernetes API can fail for a while (a restarting API server, a timeout): starting
    and stopping retry for ``start_budget`` seconds, polls look again later, and such errors
    never end a running job. Only a Job the API says is gone (NotFound) on two polls in a row
    counts as lost. A stop that could not reach the API is sent again by the next poll that
    finds the Job still running. Credentials never appear in the manifest: they come from the
    deployment's Secret by reference (``secretKeyRef``), or not at all.
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
        kubectl_timeout: float = 30.0,
        start_budget: float = 120.0,
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
        self.kubectl_timeout = kubectl_timeout
        self.start_budget = start_budget
        self.backoff = backoff
        self._missing: dict[str, int] = {}  # Job → NotFound answers in a row
        self._poll_backoff: dict[str, float] = {}  # Job → extra wait after transient errors
        self._stop_pending: dict[str, str] = {}  # Job → grace period of a stop not yet delivered
        self._deleting: set[str] = set()  # Jobs with a delete in flight

    def job_name(self, job_id: str) -> str:
        return re.sub(r"[^a-z0-9-]", "-", f"tuneforge-{job_id}".lower())[:63]

    def _env(self, job_id: str, env: dict[str, str]) -> list[dict[str, Any]]:
        """The container's env: the worker's variables the image lacks, by value; those in
        ``secret_env`` by reference; other credential-like ones withheld (logged by name)."""
        out: list[dict[str, Any]] = []
        withheld: list[str] = []
        for name in sorted(env):
            if not is_worker_setting(name):
                continue
            if name in self.secret_env:
                ref = {"name": self.secret, "key": self.secret_env[name], "optional": True}
                out.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
            elif not name.startswith(_PASSED_PREFIXES) or name == "CUDA_VISIBLE_DEVICES":
                continue
            elif credential_like(name, env[name]):
                withheld.append(name)
            else:
                out.append({"name": name, "value": env[name]})
        if withheld:
            log.warning("worker_env_withheld", job_id=job_id, names=withheld,
                        why="credential-like: map them in kubernetes_secret_env to pass them by secretKeyRef")  # fmt: skip
        return out

    def manifest(self, job_id: str, argv: list[str], env: dict[str, str], out: Path, err: Path) -> dict[str, Any]:
        argv = [self.python if a == sys.executable else a for a in argv]
        script = f'exec "$@" >>{shlex.quote(str(out))} 2>>{shlex.quote(str(err))}'
        container: dict[str, Any] = {
            "name": "worker",
            "image": self.image,
            "command": ["sh", "-c", script, "worker", *argv],
            "workingDir": str(out.parent),
            "env": self._env(job_id, env),  # CUDA_VISIBLE_DEVICES stays out: the scheduler picks the GPU
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
        """One kubectl call with its deadline: (exit code, stdout, stderr)."""
        namespace = ["-n", self.namespace] if self.namespace else []
        cmd = [*self.kubectl, *namespace, *args, request_timeout_flag(self.kubectl_timeout)]
        return await run_kubectl(cmd, stdin, self.kubectl_timeout)

    async def _retrying(self, *args: str, stdin: bytes | None = None, ok: Any = None) -> tuple[int, str, str]:
        """An idempotent kubectl call, retried within ``start_budget``; ``ok(stderr)`` says
        which failures are answers (NotFound), not errors."""
        return await retrying(lambda: self._kubectl(*args, stdin=stdin), what=" ".join(args[:2]),
                              budget=self.start_budget, backoff=self.backoff, ok=ok)  # fmt: skip

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        out.touch()
        err.touch()
        name = self.job_name(job_id)
        doc = json.dumps(self.manifest(job_id, argv, env, out, err)).encode()
        # The name is fixed, so a retried apply whose earlier try went through (its answer
        # lost to a timeout) answers "unchanged": applying is idempotent.
        try:
            await self._retrying("apply", "-f", "-", stdin=doc)
        except TuneforgeError:
            await self._remove_after_failed_start(name)
            raise
        except asyncio.CancelledError:  # stopped while starting: a try that went through left a Job
            await asyncio.shield(self._remove_after_failed_start(name))
            raise
        return Started(name, None)

    async def _remove_after_failed_start(self, name: str) -> None:
        """A try that timed out may have created the Job: delete it, or say it may be left."""
        rc, _out, err = await self._kubectl("delete", "job", name, "--grace-period=0", "--wait=false", "--ignore-not-found")
        if rc != 0:
            log.warning("kubernetes_job_may_remain", job=name, error=err[-300:],
                        hint=f"if it exists, delete it: kubectl delete job {name}")  # fmt: skip

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
        if ref in self._stop_pending and not (status.get("succeeded") or status.get("failed")):
            await self._delete(ref, self._stop_pending[ref], retry=False)  # the stop did not get through yet
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
        self._stop_pending.pop(ref, None)

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

    def forget(self, job_id: str) -> None:
        self._forget(self.job_name(job_id))

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
        """Stop the Job: delete it with a grace period (0 for SIGKILL), retried within the
        budget; a stop that still did not get through is sent again by later polls."""
        if ref in ("", "0"):  # the Job is not started yet: nothing to stop
            return
        period = "0" if sig == signal.SIGKILL else str(int(grace))
        self._stop_pending[ref] = period
        await self._delete(ref, period, retry=True)

    async def _delete(self, ref: str, period: str, *, retry: bool) -> None:
        if ref in self._deleting:
            return
        self._deleting.add(ref)
        args = ("delete", "job", ref, f"--grace-period={period}", "--cascade=foreground", "--wait=false", "--ignore-not-found")
        try:
            if retry:
                with contextlib.suppress(TuneforgeError):
                    await self._retrying(*args, ok=is_not_found)
                    self._delivered(ref, period)
            else:
                rc, _out, err = await self._kubectl(*args)
                if rc == 0 or is_not_found(err):
                    self._delivered(ref, period)
        finally:
            self._deleting.discard(ref)

    def _delivered(self, ref: str, period: str) -> None:
        if self._stop_pending.get(ref) == period:  # a SIGKILL asked for meanwhile is still due
            self._stop_pending.pop(ref)


TRAINING_EXECUTORS = ("local", "ray", "slurm", "kubernetes")
# the module that builds each cluster executor from the config: from_config(config, data_root)
_EXECUTOR_MODULES = {
    "kubernetes": "tuneforge.runtime.executors",
    "slurm": "tuneforge.runtime.executor_slurm",
    "ray": "tuneforge.runtime.executor_ray",
}


def build_executors(config: Config, root: Path) -> dict[str, Executor]:
    """The executor ``training_executor`` names, beside the local one the engine always has."""
    name = config.training_executor
    if name == "local":
        return {}
    import importlib

    try:
        module = importlib.import_module(_EXECUTOR_MODULES[name])
    except ImportError as exc:
        from tuneforge.runtime.errors import failed_precondition

        raise failed_precondition("EXECUTOR_NOT_AVAILABLE",
                                  f"training_executor = {name} is not available here: {exc}") from None
    return {name: module.from_config(config, root)}


def from_config(config: Config, root: Path) -> Executor:
    """One node: a batch Job; several (``train_num_nodes`` > 1): a Kubeflow Trainer v2 TrainJob
    (trainjob.py) over the same executor's kubectl, image and volume."""
    from tuneforge.runtime.errors import failed_precondition

    missing = [name for name in ("kubernetes_image", "kubernetes_pvc") if not getattr(config, name)]
    if missing:
        raise failed_precondition(
            "KUBERNETES_NOT_CONFIGURED",
            f"training_executor = kubernetes needs {' and '.join(missing)}",
        )
    k8s = KubernetesExecutor(
        kubectl=config.kubectl, namespace=config.kubernetes_namespace,
        image=config.kubernetes_image, data_root=root, pvc=config.kubernetes_pvc,
        service_account=config.kubernetes_service_account, gpus=config.kubernetes_gpus,
        python=config.kubernetes_python, stop_timeout=config.stop_timeout_seconds,
        secret=config.kubernetes_secret, secret_env=parse_secret_env(config.kubernetes_secret_env),
        kubectl_timeout=config.kubectl_timeout_seconds, start_budget=config.kubernetes_start_budget_seconds,
    )
    if config.train_num_nodes > 1:
        from tuneforge.runtime.trainjob import TrainJobExecutor

        return TrainJobExecutor(k8s, num_nodes=config.train_num_nodes, num_proc_per_node=config.train_num_processes)
    return k8s


_PASSED_PREFIXES = ("TUNEFORGE_", "HF_", "TRANSFORMERS_", "CUDA_", "PYTHON", "OMP_")
DEFAULT_SECRET_ENV = {"HF_TOKEN": "hf-token"}


def parse_secret_env(raw: str) -> dict[str, str]:
    """"VAR=key,VAR2=key2" (config ``kubernetes_secret_env``) → {VAR: key}."""
    out = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        var, _, key = item.partition("=")
        if not var.strip() or not key.strip():
            raise invalid_argument("kubernetes_secret_env", f"{item!r} is not VAR=key")
        out[var.strip()] = key.strip()
    return out


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
