"""Two ``tuneforge serve all`` replicas on one PostgreSQL (and one data root for the
artifacts): a training job created on one is watched live from the other, and a kill -9 of
the replica supervising it loses no event — the other takes the job over when its lease runs
out, and it ends SUCCEEDED (or resumable), never stuck."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from server_process import ServerProcess

from tuneforge.client import Client
from tuneforge.common.v1 import common_pb2
from tuneforge.testing.server import test_allowed_paths as allowed_paths

Job = common_pb2.Job
ENDED = {Job.STATE_SUCCEEDED, Job.STATE_FAILED, Job.STATE_CANCELLED}
CONFIG = {"lora_rank": 8, "lora_alpha": 16, "target_modules": ["all-linear"], "batch_size": 4,
          "gradient_accumulation_steps": 1, "learning_rate": 1e-2, "epochs": 2, "max_seq_length": 64,
          "gradient_checkpointing": False, "save_steps": 3, "warmup_ratio": 0.0}  # fmt: skip


def chats(path, n=24):
    rows = [{"messages": [{"role": "user", "content": f"say {i}"}, {"role": "assistant", "content": f"ok {i % 5}"}]}
            for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def until(predicate, what, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def job_row(url, job_id):
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT owner, state FROM jobs WHERE id = %s", (job_id,)).fetchone()


def test_a_job_watched_from_the_other_replica_survives_a_kill_9_of_its_supervisor(
        postgres_cluster, tiny_lm_dir, tmp_path):
    url = postgres_cluster.create_database()
    root = tmp_path / "var"
    env = {"TUNEFORGE_DATABASE_URL": url, "TUNEFORGE_JOB_LEASE_SECONDS": "3",
           "TUNEFORGE_ALLOWED_PATHS": allowed_paths(root)}
    a = ServerProcess(root, tmp_path / "a.err", env=env)
    b = ServerProcess(root, tmp_path / "b.err", env=env)
    replicas = [a.ready(), b.ready()]
    try:
        with Client(a.target, timeout=120) as ca:
            up = ca.upload_file("dataset", chats(tmp_path / "chats.jsonl"))
            ca.dataset.import_dataset(upload_id=up.id, dataset_name="chats")
            job = ca.trainer.create_training_job(dataset="chats", base_model=str(tiny_lm_dir), preset="quick",
                                                 adapter_name="replicated", config=CONFIG)  # fmt: skip
        owner = until(lambda: (row := job_row(url, job.id)) and row[0] and row[0], "a replica to claim the job")
        supervisor = next(r for r in replicas if f":{r.pid}:" in owner)
        watcher = next(r for r in replicas if r is not supervisor)

        seen, done = [], threading.Event()

        def watch():
            with Client(watcher.target, timeout=600) as c:
                for event in c.watch_job(job.id, include_logs=True):
                    seen.append(event)
            done.set()

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        with Client(watcher.target, timeout=60) as cw:
            until(lambda: cw.jobs.get_job(id=job.id).progress.step >= 2, "training to reach step 2 (seen from the other replica)")
            live = len(seen)
            os.kill(supervisor.pid, signal.SIGKILL)
            supervisor.wait(30)
            assert live > 0, "the other replica streamed nothing while the job ran"
            final = until(lambda: (j := cw.jobs.get_job(id=job.id)).state in ENDED and j, "the job to end", 300)
            assert done.wait(60), "the watch on the surviving replica never ended"
            resumable = final.state == Job.STATE_FAILED and final.last_checkpoint
            assert final.state == Job.STATE_SUCCEEDED or resumable, (final.state, final.error_reason, final.error_message)
            seqs = [e.seq for e in seen]
            assert seqs == list(range(1, len(seqs) + 1)), f"events lost or repeated across the kill: {seqs}"
            stored = [e.seq for e in cw.watch_job(job.id, include_logs=True)]
            assert stored == seqs, "the replay differs from what was streamed live"
            assert job_row(url, job.id)[0] != owner, "the surviving replica never took the job over"
            if final.state == Job.STATE_SUCCEEDED:
                assert cw.registry.get_adapter(name="replicated").job_id == job.id
    finally:
        for r in replicas:
            if r.proc.poll() is None:
                r.stop()
