"""The PostgreSQL store on a cluster of its own (this module stops and restarts it): a
database that is down is UNAVAILABLE ``DATABASE_UNAVAILABLE`` and the server stays up; a
restart of PostgreSQL mid-job loses no event and the job ends as it would have; and the
SQL the components write once is said right in PostgreSQL's dialect."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from tuneforge.client import Client, Unavailable
from tuneforge.common.v1 import common_pb2
from tuneforge.runtime import store_sql
from tuneforge.runtime.jobs import JobKind

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job


@pytest.fixture(scope="module")
def own_cluster():
    from tuneforge.testing.postgres import MISSING, PostgresCluster, find_binaries

    if find_binaries() is None:
        pytest.skip(MISSING)
    cluster = PostgresCluster(durable=True).start()  # killed mid-job: what it acknowledged must stay
    yield cluster
    cluster.remove()


@pytest.mark.parametrize(("sqlite", "postgresql"), [
    ("SELECT * FROM t WHERE a = ? AND b LIKE '50%?'", "SELECT * FROM t WHERE a = %s AND b LIKE '50%%?'"),
    ("INSERT OR IGNORE INTO t(a, b) VALUES (?, ?)", "INSERT INTO t(a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
    ("INSERT OR REPLACE INTO t(k, v) VALUES (?, ?)",
     "INSERT INTO t(k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"),
])  # fmt: skip
def test_statements_are_said_in_postgresql(sqlite, postgresql):
    assert store_sql.statement(sqlite, lambda table: ["k"]) == postgresql


def test_migrations_keep_sqlite_types_and_its_rowid():
    ddl = store_sql.migration_statement("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, x REAL, b BLOB)")
    assert ddl == "CREATE TABLE t (rowid BIGSERIAL, id TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, b BYTEA)"
    serial = store_sql.migration_statement("CREATE TABLE h (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT)")
    assert serial == "CREATE TABLE h (id BIGSERIAL PRIMARY KEY, a TEXT)"


def test_a_database_that_is_down_is_unavailable_and_the_server_stays_up(server_factory, own_cluster):
    srv = server_factory(database_url=own_cluster.create_database())
    with Client(srv.target, timeout=30) as c:
        assert c.jobs.list_jobs().total_size == 0
        own_cluster.stop("immediate")
        try:
            with pytest.raises(Unavailable) as caught:
                c.jobs.list_jobs()
            assert caught.value.reason == "DATABASE_UNAVAILABLE", caught.value
            assert "***" not in str(caught.value) or "@" in str(caught.value)
        finally:
            own_cluster.restart()
        assert c.jobs.list_jobs().total_size == 0  # the same server, reconnected


def test_postgresql_restarting_mid_job_loses_no_event(server_factory, own_cluster):
    srv = server_factory(database_url=own_cluster.create_database())
    srv.engine.register_kind(JobKind(
        name="test", service="dataset", command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)]))
    job = srv.call(srv.engine.create("test", {"steps": 30, "sleep": 0.1}))
    with Client(srv.target, timeout=30) as c:
        deadline = time.time() + 60
        while c.jobs.get_job(id=job.id).progress.step < 3 and time.time() < deadline:
            time.sleep(0.05)
        own_cluster.restart()
        final = c.wait_job(job.id)
        assert final.state == State.STATE_SUCCEEDED, final.error_message
        logs = [line.message for line in c.jobs.stream_job_logs(id=job.id)]
        steps = [int(m.split()[1]) for m in logs if m.startswith("step ")]
        assert steps == list(range(1, 31)), "a log line was lost or repeated across the restart"
        seqs = [e.seq for e in c.watch_job(job.id, include_logs=True)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_the_gpu_lock_and_the_activation_lock_hold_across_replicas(own_cluster):
    from tuneforge.runtime.jobs.scheduler import AdvisoryGpuLock
    from tuneforge.runtime.store_locks import StoreLock
    from tuneforge.runtime.store_pg import PgStore

    url = own_cluster.create_database()
    one, two = PgStore(url), PgStore(url)  # two replicas' stores
    try:
        first, second = AdvisoryGpuLock(one, "host-a", "1"), AdvisoryGpuLock(two, "host-a", "1")
        assert first.try_acquire() and not second.try_acquire()
        assert AdvisoryGpuLock(two, "host-b", "1").try_acquire(), "another host's GPU is another lock"
        first.release()
        assert second.try_acquire()
        second.release()

        async def race() -> list[str]:
            order: list[str] = []
            a, b = StoreLock(one, "tuneforge-activation:x"), StoreLock(two, "tuneforge-activation:x")

            async def hold(lock: StoreLock, name: str, seconds: float) -> None:
                async with lock:
                    order.append(f"{name} in")
                    await asyncio.sleep(seconds)
                    order.append(f"{name} out")

            first_task = asyncio.create_task(hold(a, "a", 0.5))
            await asyncio.sleep(0.1)
            await asyncio.gather(first_task, hold(b, "b", 0))
            return order

        assert asyncio.run(race()) == ["a in", "a out", "b in", "b out"]
    finally:
        one.close()
        two.close()
