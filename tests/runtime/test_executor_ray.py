"""The ray executor's own rules, against a Jobs API client that answers as Ray 2.60's does
(its texts for "not found" and "already exists", a head that does not answer): idempotent
submission, status with deadlines, stop. The real cluster is in tests/distributed/test_ray.py."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.executor_ray import STOP_FILE, RayExecutor, parse_resources


class JobsApi:
    """Ray's JobSubmissionClient surface the executor uses, with Ray's error texts."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.calls: list[str] = []
        self.down = False
        self.hang = threading.Event()

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=8265): Max retries exceeded")
        if self.hang.is_set():
            self.hang.wait(1)

    def submit_job(self, *, entrypoint, submission_id, runtime_env, metadata):
        self._check("submit_job")
        if submission_id in self.jobs:
            raise RuntimeError(f"Request failed with status code 500: ValueError: Job with submission_id {submission_id} already exists.")
        self.jobs[submission_id] = {"status": "PENDING", "entrypoint": entrypoint, "runtime_env": runtime_env, "code": None}
        return submission_id

    def get_job_info(self, sid):
        self._check("get_job_info")
        if sid not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {sid} does not exist.")
        job = self.jobs[sid]
        return SimpleNamespace(status=job["status"], driver_exit_code=job["code"], message="")

    def get_job_logs(self, sid):
        return "Traceback: ModuleNotFoundError: No module named 'tuneforge'\n"

    def stop_job(self, sid):
        self._check("stop_job")
        self.jobs[sid]["status"] = "STOPPED"
        return True


@pytest.fixture
def api():
    return JobsApi()


def executor(api: JobsApi, **kw) -> RayExecutor:
    return RayExecutor(address="http://head:8265", num_workers=2, client_factory=lambda _addr: api,
                       start_budget=kw.pop("start_budget", 2.0), backoff=0.05, **kw)  # fmt: skip


def start(ex: RayExecutor, tmp_path: Path, env=None):
    return asyncio.run(ex.start("job-1", [sys.executable, "-m", "w", "--spec", str(tmp_path / "spec.json")],
                                env or {}, tmp_path, tmp_path / "worker.out", tmp_path / "worker.err"))  # fmt: skip


def test_the_tuneforge_job_id_is_the_submission_id_and_a_second_start_finds_the_first(api, tmp_path):
    ex = executor(api)
    started = start(ex, tmp_path)
    assert started.ref == "tuneforge-job-1" and list(api.jobs) == ["tuneforge-job-1"]
    entry = api.jobs["tuneforge-job-1"]["entrypoint"]
    assert "-m tuneforge.runtime.ray_driver" in entry and "--num-workers 2" in entry and entry.endswith("--spec " + str(tmp_path / "spec.json"))
    again = start(executor(api), tmp_path)  # a retried start, e.g. after a restart of the service
    assert again.ref == started.ref and api.calls.count("submit_job") == 1


def test_credentials_stay_out_of_the_runtime_env_and_service_settings_too(api, tmp_path):
    start(executor(api), tmp_path, {"HF_TOKEN": "hf_x", "HF_HUB_OFFLINE": "1", "TUNEFORGE_JOB_ID": "job-1",
                                    "TUNEFORGE_AUTH_TOKEN": "t", "PYTHONPATH": "/src", "HOME": "/root"})  # fmt: skip
    assert api.jobs["tuneforge-job-1"]["runtime_env"]["env_vars"] == {
        "HF_HUB_OFFLINE": "1", "TUNEFORGE_JOB_ID": "job-1", "PYTHONPATH": "/src"}


def test_an_api_that_stays_down_fails_the_start_after_its_budget(api, tmp_path):
    api.down = True
    with pytest.raises(TuneforgeError) as info:
        start(executor(api, start_budget=0.3), tmp_path)
    assert info.value.reason == "RAY_UNAVAILABLE" and "http://head:8265" in str(info.value)


def test_status_maps_ray_states_and_a_failed_job_keeps_its_logs(api, tmp_path):
    ex = executor(api)
    ref = start(ex, tmp_path).ref

    def poll():
        return asyncio.run(ex.poll("job-1", ref, str(tmp_path), 0.0))

    assert poll() == (False, None)
    api.jobs[ref].update(status="FAILED", code=3)
    assert poll() == (True, 3)
    assert "No module named 'tuneforge'" in (tmp_path / "worker.err").read_text()
    api.jobs[ref].update(status="SUCCEEDED", code=0)
    assert poll() == (True, 0)


def test_an_unanswering_api_never_ends_a_running_job_and_unknown_twice_is_lost(api, tmp_path):
    ex = executor(api, request_timeout=0.2)
    ref = start(ex, tmp_path).ref
    api.hang.set()
    assert asyncio.run(ex.poll("job-1", ref, str(tmp_path), 0.0)) == (False, None)
    api.hang.clear()
    api.jobs.clear()
    assert asyncio.run(ex.poll("job-1", ref, str(tmp_path), 0.0)) == (False, None)
    assert asyncio.run(ex.poll("job-1", ref, str(tmp_path), 0.0)) == (True, None)


def test_stop_asks_the_ranks_first_then_stops_the_ray_job_after_the_grace(api, tmp_path):
    ex = executor(api)
    ref = start(ex, tmp_path).ref
    api.jobs[ref]["status"] = "RUNNING"
    asyncio.run(ex.signal(ref, str(tmp_path), signal.SIGTERM, 1.5))
    assert (tmp_path / STOP_FILE).is_file() and api.jobs[ref]["status"] == "STOPPED"
    assert api.calls.count("stop_job") == 1


def test_a_stop_the_ranks_obeyed_in_time_needs_no_stop_job(api, tmp_path):
    ex = executor(api)
    ref = start(ex, tmp_path).ref
    api.jobs[ref]["status"] = "SUCCEEDED"  # the ranks saved and the driver ended
    asyncio.run(ex.signal(ref, str(tmp_path), signal.SIGTERM, 5))
    assert "stop_job" not in api.calls


@pytest.mark.parametrize(("raw", "expected"), [
    ("", {"CPU": 1.0}), ("CPU=4,GPU=1", {"CPU": 4.0, "GPU": 1.0}), ('{"CPU": 2, "TPU": 1}', {"CPU": 2.0, "TPU": 1.0}),
])  # fmt: skip
def test_resources_per_worker_parse(raw, expected):
    assert parse_resources(raw) == expected


@pytest.mark.parametrize("raw", ["CPU=many", "=1", "CPU=-1", "{not json"])
def test_bad_resources_name_the_setting(raw):
    with pytest.raises(TuneforgeError) as info:
        parse_resources(raw)
    assert "ray_resources_per_worker" in str(info.value)
