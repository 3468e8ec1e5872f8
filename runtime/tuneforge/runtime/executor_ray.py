"""The ``ray`` executor: a training worker run on an existing Ray cluster through the Ray Jobs API.

``start`` submits a Ray job (``JobSubmissionClient`` at ``ray_address``, e.g.
``http://head:8265``) whose ``submission_id`` is ``tuneforge-<job id>``: a submission retried
after a lost answer finds the job it already made, never a second one. The job's entrypoint is
:mod:`tuneforge.runtime.ray_driver`, which runs the worker's ordinary command on
``ray_num_workers`` Ray Train workers (a ``TorchTrainer``, ``ray_resources_per_worker`` each);
rank 0 writes the worker's events to ``jobs/<id>/worker.out|err`` on the data root, which the
engine tails as for a local worker — so the data root must be on a filesystem every Ray node
mounts at the same path (docs/distributed.md).

Stop: ``<job dir>/ray.stop`` is written; every rank's worker gets SIGTERM from the driver, rank 0
saves a checkpoint and reports it, the driver ends; if the Ray job is still running after the
grace period it is stopped through the API (``stop_job``), at once for a SIGKILL. Status comes
from ``get_job_info`` with a deadline per call: an API that does not answer never ends a running
job (the poll looks again, slower); a job the API does not know on two polls in a row is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import TuneforgeError, invalid_argument, unavailable
from tuneforge.runtime.executors import Started
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.worker_env import credential_like, is_worker_setting

log = get_logger("tuneforge.executor_ray")

DRIVER_MODULE = "tuneforge.runtime.ray_driver"
STOP_FILE = "ray.stop"  # written in the job's directory: the driver's ranks stop their workers
_PASSED_PREFIXES = ("TUNEFORGE_", "HF_", "TRANSFORMERS_", "PYTHON", "OMP_", "TOKENIZERS_", "GLOO_")
_RUNNING = {"PENDING", "RUNNING"}
MAX_BACKOFF_SECONDS = 10.0


def parse_resources(raw: str) -> dict[str, float]:
    """``ray_resources_per_worker``: ``"CPU=1,GPU=1"`` (or a JSON object) → {"CPU": 1.0, "GPU": 1.0}."""
    raw = raw.strip()
    if not raw:
        return {"CPU": 1.0}
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise invalid_argument("ray_resources_per_worker", f"not a JSON object: {exc}") from None
        items = list(data.items()) if isinstance(data, dict) else [("", data)]
    else:
        items = [tuple(part.split("=", 1)) if "=" in part else (part, "") for part in raw.split(",") if part.strip()]
    out: dict[str, float] = {}
    for name, value in items:
        try:
            amount = float(value)
        except (TypeError, ValueError):
            raise invalid_argument("ray_resources_per_worker", f"{name!r}: {value!r} is not a number") from None
        if not str(name).strip() or amount < 0:
            raise invalid_argument("ray_resources_per_worker", f"{name!r}={value!r} is not RESOURCE=amount (>= 0)")
        out[str(name).strip()] = amount
    return out


class RayExecutor:
    """Submits, watches and stops one Ray job per tuneforge job (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str,
        num_workers: int = 2,
        resources_per_worker: dict[str, float] | None = None,
        max_failures: int = 2,
        request_timeout: float = 30.0,
        start_budget: float = 120.0,
        backoff: float = 0.5,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        if not address:
            raise invalid_argument("ray_address", "training_executor = ray needs the Ray Jobs API address (http://head:8265)")
        if num_workers < 1:
            raise invalid_argument("ray_num_workers", f"must be >= 1, got {num_workers}")
        self.address = address
        self.num_workers = num_workers
        self.resources = dict(resources_per_worker or {"CPU": 1.0})
        self.max_failures = max_failures
        self.request_timeout = request_timeout
        self.start_budget = start_budget
        self.backoff = backoff
        self._client_factory = client_factory or _jobs_client
        self._client: Any = None
        self._missing: dict[str, int] = {}  # submission → "not found" answers in a row
        self._poll_backoff: dict[str, float] = {}
        self._job_dirs: dict[str, Path] = {}  # submission → job directory (for stop and logs)

    # ------------------------------------------------------------------ the submission
    @staticmethod
    def submission_id(job_id: str) -> str:
        return f"tuneforge-{job_id}"

    def entrypoint(self, argv: list[str], job_dir: Path, out: Path, err: Path) -> str:
        driver = [argv[0] if argv else sys.executable, "-m", DRIVER_MODULE, "--job-dir", str(job_dir),
                  "--out", str(out), "--err", str(err), "--num-workers", str(self.num_workers),
                  "--resources", json.dumps(self.resources, sort_keys=True),
                  "--max-failures", str(self.max_failures), "--"]  # fmt: skip
        return shlex.join([*driver, *argv])

    def runtime_env(self, job_id: str, env: dict[str, str]) -> dict[str, Any]:
        """The worker's variables the Ray nodes need, by value; credential-like ones withheld
        (a Ray job's runtime_env is readable by whoever can list the cluster's jobs)."""
        passed, withheld = {}, []
        for name in sorted(env):
            if not is_worker_setting(name) or not name.startswith(_PASSED_PREFIXES):
                continue
            if credential_like(name, env[name]):
                withheld.append(name)
            else:
                passed[name] = env[name]
        if withheld:
            log.warning("worker_env_withheld", job_id=job_id, names=withheld,
                        why="credential-like: give them to the Ray nodes' own environment")  # fmt: skip
        return {"env_vars": passed}

    # ------------------------------------------------------------------ calls with deadlines
    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One Jobs API call in a thread, bounded by ``request_timeout``; a client that failed
        is made anew next time (the head may have restarted)."""

        def call() -> Any:
            if self._client is None:
                self._client = self._client_factory(self.address)
            return getattr(self._client, method)(*args, **kwargs)

        try:
            return await asyncio.wait_for(asyncio.to_thread(call), self.request_timeout)
        except asyncio.TimeoutError:
            self._client = None
            raise ConnectionError(f"the Ray Jobs API at {self.address} did not answer {method} within "
                                  f"{self.request_timeout:g} s") from None  # fmt: skip
        except Exception as exc:
            if not _is_not_found(exc):
                self._client = None
            raise

    async def _retrying(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """An idempotent call retried with backoff for ``start_budget`` seconds; NotFound and
        "already exists" are answers, raised at once."""
        started, delay, tries = time.monotonic(), self.backoff, 0
        while True:
            try:
                return await self._call(method, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every transport error is retried
                tries += 1
                if _is_not_found(exc) or _already_exists(exc):
                    raise
                elapsed = time.monotonic() - started
                if elapsed + delay > self.start_budget:
                    raise unavailable("RAY_UNAVAILABLE", f"Ray Jobs API {self.address}: {method} failed {tries} "
                                      f"time(s) over {elapsed:.0f} s: {_last_line(exc)}") from None  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    # ------------------------------------------------------------------ executor protocol
    async def start(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Started:
        out.touch()
        err.touch()
        (cwd / STOP_FILE).unlink(missing_ok=True)
        sid = self.submission_id(job_id)
        self._job_dirs[sid] = cwd
        try:  # a submission that went through before (a retried start) is the job
            await self._retrying("get_job_info", sid)
            log.info("ray_job_found", job_id=job_id, submission_id=sid)
            return Started(sid, str(cwd))
        except Exception as exc:  # noqa: BLE001
            if not _is_not_found(exc):
                raise
        try:
            await self._retrying("submit_job", entrypoint=self.entrypoint(argv, cwd, out, err), submission_id=sid,
                                 runtime_env=self.runtime_env(job_id, env),
                                 metadata={"tuneforge_job_id": job_id})  # fmt: skip
        except Exception as exc:
            if not _already_exists(exc):
                if isinstance(exc, TuneforgeError):
                    raise
                raise unavailable("RAY_SUBMIT_FAILED", f"submitting to {self.address}: {_last_line(exc)}") from None
        log.info("ray_job_submitted", job_id=job_id, submission_id=sid, workers=self.num_workers)
        return Started(sid, str(cwd))

    async def _status(self, ref: str, job_dir: Path | None) -> tuple[bool, int | None]:
        try:
            info = await self._call("get_job_info", ref)
        except Exception as exc:  # noqa: BLE001
            if _is_not_found(exc):
                self._missing[ref] = self._missing.get(ref, 0) + 1
                if self._missing[ref] >= 2:
                    self._forget(ref)
                    return True, None
                return False, None
            self._poll_backoff[ref] = min(max(self._poll_backoff.get(ref, 0.0) * 2, 1.0), 30.0)
            log.warning("ray_status_unavailable", submission_id=ref, error=_last_line(exc))
            return False, None
        self._missing.pop(ref, None)
        self._poll_backoff.pop(ref, None)
        status = str(getattr(info.status, "value", info.status))
        if status in _RUNNING:
            return False, None
        code = {"SUCCEEDED": 0, "STOPPED": -signal.SIGTERM}.get(status)
        if code is None:  # FAILED
            code = info.driver_exit_code if info.driver_exit_code not in (None, 0) else 1
            if job_dir is not None:
                await self._keep_ray_logs(ref, job_dir, info)
        self._forget(ref)
        return True, code

    async def _keep_ray_logs(self, ref: str, job_dir: Path, info: Any) -> None:
        """A failed Ray job's own message and the tail of its logs into worker.err: what the
        worker never got to write (a missing module on the nodes, a driver that did not start)."""
        lines = [f"ray job {ref} {info.status}: {info.message or ''}".strip()]
        with contextlib.suppress(Exception):
            logs = await self._call("get_job_logs", ref)
            lines += [f"ray: {line}" for line in logs.splitlines()[-30:]]
        with open(job_dir / "worker.err", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def _forget(self, ref: str) -> None:
        self._missing.pop(ref, None)
        self._poll_backoff.pop(ref, None)

    async def poll(self, job_id: str, ref: str, marker: str | None, interval: float) -> tuple[bool, int | None]:
        await asyncio.sleep(max(interval, 1.0) + self._poll_backoff.get(ref, 0.0))
        return await self._status(ref, Path(marker) if marker else self._job_dirs.get(ref))

    async def alive(self, ref: str, marker: str | None) -> bool:
        """For re-attaching after a restart: gone only if unknown twice; in doubt, alive."""
        for _ in range(2):
            done, _code = await self._status(ref, None)
            if done:
                return False
            if ref not in self._missing:
                return True
            await asyncio.sleep(self.backoff)
        return True

    async def signal(self, ref: str, marker: str | None, sig: int, grace: float) -> None:
        """SIGTERM: ask the ranks to save and stop (the stop file), then stop the Ray job if it
        still runs after ``grace``; SIGKILL: stop the Ray job now."""
        if ref in ("", "0"):
            return
        job_dir = Path(marker) if marker else self._job_dirs.get(ref)
        if sig != signal.SIGKILL and job_dir is not None:
            (job_dir / STOP_FILE).write_text(f"{time.time()}\n", encoding="utf-8")
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    info = await self._call("get_job_info", ref)
                    if str(getattr(info.status, "value", info.status)) not in _RUNNING:
                        return
        with contextlib.suppress(Exception):
            await self._retrying("stop_job", ref)
            log.info("ray_job_stopped", submission_id=ref)


def from_config(config: Any, root: Path) -> RayExecutor:
    """``training_executor = ray`` (executors.build_executors)."""
    return RayExecutor(
        address=config.ray_address, num_workers=config.ray_num_workers,
        resources_per_worker=parse_resources(config.ray_resources_per_worker),
        max_failures=config.ray_max_failures, start_budget=config.kubernetes_start_budget_seconds,
    )


def _jobs_client(address: str) -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise unavailable("RAY_NOT_INSTALLED", "training_executor = ray needs the Ray client: "
                          "pip install 'tuneforge-runtime[ray]'") from None  # fmt: skip
    return JobSubmissionClient(address)


def _is_not_found(exc: BaseException) -> bool:
    text = str(exc)
    return "status code 404" in text or "does not exist" in text


def _already_exists(exc: BaseException) -> bool:
    return "already exists" in str(exc)


def _last_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return f"{type(exc).__name__}: {lines[-1][-300:]}"
