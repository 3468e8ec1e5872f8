"""Training on several Kubernetes nodes: a Kubeflow Trainer v2 ``TrainJob`` (runtime
``torch-distributed``) instead of a ``batch/v1`` Job.

The TrainJob runs ``numNodes`` pods of the tuneforge image; Kubeflow's torch plugin gives each
``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``, ``PET_MASTER_ADDR`` and
``PET_MASTER_PORT``, which ``torchrun`` (``python -m torch.distributed.run``) reads as its
arguments — so the container runs the ordinary worker command under torchrun. Node 0's output
goes to ``jobs/<id>/worker.out|err`` (the engine tails it; the worker's rank 0 is the only one
that reports), the other nodes' to ``worker.node<N>.out|err``. The data root is mounted at the same
path in every pod through a ``runtimePatches`` entry (manager ``tuneforge.dev/trainer``) — a
PVC every node can mount (ReadWriteMany: NFS, CephFS, Lustre), see docs/distributed-ray.md.

Status is read from the TrainJob's conditions (``Complete`` / ``Failed`` with status True; the
failure's message goes to worker.err); stop deletes the TrainJob with a grace period (every pod
gets SIGTERM, rank 0 saves a checkpoint). kubectl calls, their deadlines, retries and the
environment rule (credentials only by ``secretKeyRef``) are the Kubernetes executor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.executors import KubernetesExecutor, Started
from tuneforge.runtime.kubectl import is_not_found
from tuneforge.runtime.logging import get_logger

log = get_logger("tuneforge.trainjob")

API_VERSION = "trainer.kubeflow.org/v1alpha1"
RUNTIME = "torch-distributed"
PATCH_MANAGER = "tuneforge.dev/trainer"
NODE = "node"  # the torch-distributed runtime's replicated job and container


def torchrun_argv(argv: list[str]) -> list[str]:
    """``python -m MODULE ARGS`` → ``python -m torch.distributed.run -m MODULE ARGS`` (torchrun
    takes its node count, rank and master from the ``PET_*`` variables)."""
    if len(argv) >= 3 and argv[1] == "-m":
        return [argv[0], "-m", "torch.distributed.run", *argv[1:]]
    return [argv[0], "-m", "torch.distributed.run", *argv[1:]] if argv else argv  # a script path


def node_script(out: Path, err: Path) -> str:
    """Node 0 appends to the job's worker.out|err; node N to worker.nodeN.out|err beside them."""
    folder = shlex.quote(str(out.parent))
    return (f'if [ "${{PET_NODE_RANK:-0}}" = 0 ]; then exec "$@" >>{shlex.quote(str(out))} 2>>{shlex.quote(str(err))}; '
            f'else exec "$@" >>{folder}/worker.node"$PET_NODE_RANK".out 2>>{folder}/worker.node"$PET_NODE_RANK".err; fi')  # fmt: skip


def trainjob_state(obj: dict[str, Any]) -> tuple[bool, str]:
    """(ended, failure message) from a TrainJob's ``status.conditions``: ended when ``Complete``
    or ``Failed`` is True; the message is empty for a completed one."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return True, ""
        if cond.get("type") == "Failed":
            return True, f"TrainJob failed: {cond.get('reason') or 'Failed'}: {cond.get('message') or ''}".strip()
    return False, ""


class TrainJobExecutor:
    """The ``kubernetes`` executor for ``num_nodes`` > 1: one TrainJob per job. It uses a
    :class:`KubernetesExecutor` for kubectl and the container environment."""

    name = "kubernetes"

    def __init__(self, k8s: KubernetesExecutor, *, num_nodes: int, num_proc_per_node: int = 1,
                 runtime: str = RUNTIME) -> None:  # fmt: skip
        self.k8s = k8s
        self.num_nodes = num_nodes
        self.num_proc_per_node = max(1, num_proc_per_node)
        self.runtime = runtime
        self._missing: dict[str, int] = {}
        self._dirs: dict[str, Path] = {}

    def manifest(self, job_id: str, argv: list[str], env: dict[str, str], out: Path, err: Path) -> dict[str, Any]:
        k = self.k8s
        argv = torchrun_argv([k.python if a == sys.executable else a for a in argv])
        trainer: dict[str, Any] = {
            "image": k.image,
            "command": ["sh", "-c", node_script(out, err), "worker", *argv],
            "numNodes": self.num_nodes,
            "numProcPerNode": self.num_proc_per_node,
            "env": k._env(job_id, env),
        }
        if k.gpus:
            trainer["resourcesPerNode"] = {"limits": {"nvidia.com/gpu": k.gpus}}
        pod: dict[str, Any] = {
            "terminationGracePeriodSeconds": int(k.stop_timeout),
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": k.pvc}}],
            "containers": [{"name": NODE, "volumeMounts": [{"name": "data", "mountPath": str(k.data_root)}]}],
        }
        if k.service_account:
            pod["serviceAccountName"] = k.service_account
        labels = {"app.kubernetes.io/name": "tuneforge-worker", "tuneforge.dev/job-id": job_id}
        metadata: dict[str, Any] = {"name": k.job_name(job_id), "labels": labels}
        if k.namespace:
            metadata["namespace"] = k.namespace
        return {
            "apiVersion": API_VERSION,
            "kind": "TrainJob",
            "metadata": metadata,
            "spec": {
                "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": self.runtime},
                "trainer": trainer,
                "runtimePatches": [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
                    "replicatedJobs": [{"name": NODE, "template": {"spec": {"template": {
                        "metadata": {"labels": dict(labels)}, "spec": pod}}}}],
                }}}}],
            },
        }  # fmt: skip

    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        out.touch()
        err.touch()
        name = self.k8s.job_name(job_id)
        self._dirs[name] = cwd
        doc = json.dumps(self.manifest(job_id, argv, env, out, err)).encode()
        try:  # a fixed name: a retried apply that went through before answers "unchanged"
            await self.k8s._retrying("apply", "-f", "-", stdin=doc)
        except (TuneforgeError, asyncio.CancelledError):
            await asyncio.shield(self._delete(name, "0"))
            raise
        return Started(name, str(cwd))

    async def _status(self, ref: str, job_dir: Path | None) -> tuple[bool, int | None]:
        rc, out, err = await self.k8s._kubectl("get", "trainjob", ref, "-o", "json")
        if rc != 0 and is_not_found(err):
            self._missing[ref] = self._missing.get(ref, 0) + 1
            if self._missing[ref] < 2:
                return False, None
            self._missing.pop(ref)
            return True, None  # really gone
        self._missing.pop(ref, None)
        try:
            obj = json.loads(out) if rc == 0 else None
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            return False, None  # the API did not answer properly: look again later
        ended, failure = trainjob_state(obj)
        if not ended:
            return False, None
        if failure and job_dir is not None:
            with open(job_dir / "worker.err", "a", encoding="utf-8") as fh:
                fh.write(failure + "\n")
        return True, (1 if failure else 0)

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]:
        await asyncio.sleep(max(interval, 1.0))
        return await self._status(ref, Path(marker) if marker else self._dirs.get(ref))

    async def alive(self, ref: str, marker: str | None) -> bool:
        for _ in range(2):
            done, _code = await self._status(ref, None)
            if done:
                return False
            if ref not in self._missing:
                return True
            await asyncio.sleep(self.k8s.backoff)
        return True

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        if ref in ("", "0"):
            return
        await self._delete(ref, "0" if sig == signal.SIGKILL else str(int(grace)))

    async def _delete(self, name: str, period: str) -> None:
        with contextlib.suppress(TuneforgeError):
            await self.k8s._retrying("delete", "trainjob", name, f"--grace-period={period}", "--wait=false",
                                     "--ignore-not-found", ok=is_not_found)  # fmt: skip
