"""Soak: many short jobs through one server, with a crowd of watchers on some of them.

The server runs in a child process (``--serve``) with the dataset service and a job kind
``soak`` whose worker is the tiny test worker (tests/runtime/worker_script.py: progress,
metrics, a checkpoint every other step, a log line per step). The parent:

1. warms the server up with ``--warmup`` jobs, then reads the child's RSS (``/proc``);
2. pushes ``--jobs`` short jobs through it; every ``--jobs // --watched``-th job gets
   ``--watchers`` WatchJob streams (asyncio gRPC) that record, per event, the delay between
   the server stamping it (``JobEvent.time``) and the watcher receiving it, and check that
   each watcher saw every event, in order, once;
3. waits for the rings of finished jobs to be released and reads the RSS again.

Targets (issue 11): RSS growth under 20 MB over 200 jobs; p99 event delivery under 50 ms
with 100 watchers.

    python bench/soak.py --jobs 200 --watchers 100 --watched 5

With ``--database-url postgresql://…`` (or ``--database-url auto``: a private cluster from
tuneforge.testing.postgres) the same run follows on PostgreSQL with ``--replicas`` servers
(default 2) on one database and one data root: jobs are created through the first, the
watchers are spread over all of them (so most see jobs another replica supervises, through
LISTEN/NOTIFY), and the RSS is each replica's. Both reports print side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "runtime" / "worker_script.py"


# ----------------------------------------------------------------- the server (child)
def serve(data_root: str, database_url: str = "") -> None:
    """Run the server; read ``create <json params>`` lines on stdin, answer the job id."""
    from tuneforge.runtime.jobs import JobKind
    from tuneforge.runtime.logging import configure_logging
    from tuneforge.testing.server import ServerThread

    answers = os.fdopen(os.dup(1), "w")  # the protocol keeps stdout; logs go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    configure_logging("warning")
    extra = {"database_url": database_url} if database_url else {}
    srv = ServerThread(data_root, services=("dataset",), log_level="warning", **extra).start()
    srv.engine.register_kind(JobKind(
        name="soak", service="dataset",
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))  # fmt: skip
    print(json.dumps({"port": srv.port}), file=answers, flush=True)
    for line in sys.stdin:
        verb, _, rest = line.strip().partition(" ")
        if verb == "create":
            job = srv.call(srv.engine.create("soak", json.loads(rest)))
            print(json.dumps({"id": job.id}), file=answers, flush=True)
        elif verb == "quit":
            break
    srv.stop(stop_workers=True)


# ----------------------------------------------------------------- the driver (parent)
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, root: str, database_url: str = "") -> None:
        from tuneforge.testing.paths import source_path

        env = {**os.environ, "PYTHONPATH": source_path()}
        argv = [sys.executable, __file__, "--serve", root] + (["--database-url", database_url] if database_url else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.port = json.loads(self.proc.stdout.readline())["port"]  # type: ignore[union-attr]

    def create(self, params: dict) -> str:
        self.proc.stdin.write(f"create {json.dumps(params)}\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.proc.stdout.readline())["id"]  # type: ignore[union-attr]

    def close(self) -> None:
        self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(120)


async def watch(stub, job_id: str, delays: list[float]) -> list[int]:
    """Follow one job; record the delivery delay of each event stamped after subscribing."""
    from tuneforge.jobs.v1 import jobs_pb2

    subscribed = [time.time()]
    seqs, live = [], False
    async for event in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id, include_logs=True)):
        stamped = event.time.ToNanoseconds() / 1e9
        live = live or stamped > subscribed[0]
        if live:  # replayed events (older than the subscription) are not delivery latency
            delays.append(time.time() - stamped)
        seqs.append(event.seq)
    return seqs


async def wait_ended(stub, job_id: str) -> None:
    from tuneforge.jobs.v1 import jobs_pb2

    async for _ in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id)):
        pass


async def drive(servers: list[Server], args: argparse.Namespace) -> dict:
    import grpc
    from tuneforge.jobs.v1 import jobs_pb2_grpc

    server = servers[0]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{servers[i % len(servers)].port}") for i in range(4)]
    stubs = [jobs_pb2_grpc.JobServiceStub(ch) for ch in channels]
    quick = {"steps": args.steps, "sleep": args.sleep}
    for _ in range(args.warmup):
        await wait_ended(stubs[0], server.create(quick))
    await asyncio.sleep(3)  # rings of the warm-up jobs released
    before = [rss_mb(srv.proc.pid) for srv in servers]
    every = max(1, args.jobs // max(1, args.watched))
    delays: list[float] = []
    crowds, ends = [], []
    started = time.time()
    for i in range(args.jobs):
        watched = args.watched and i % every == 0
        job_id = server.create({"steps": args.watched_steps, "sleep": args.watched_sleep} if watched else quick)
        if watched:
            crowd = [asyncio.create_task(watch(stubs[w % len(stubs)], job_id, delays)) for w in range(args.watchers)]
            crowds.append(crowd)
        ends.append(asyncio.create_task(wait_ended(stubs[i % len(stubs)], job_id)))
        if len(ends) - sum(t.done() for t in ends) > 20:  # keep the queue short: jobs, not a backlog
            await asyncio.sleep(0.05)
    await asyncio.gather(*ends)
    complete = 0
    for crowd in crowds:
        results = await asyncio.gather(*crowd)
        complete += sum(1 for seqs in results if seqs == list(range(1, len(seqs) + 1)) and seqs == results[0])
    elapsed = time.time() - started
    await asyncio.sleep(4)  # let the last rings go
    after = [rss_mb(srv.proc.pid) for srv in servers]
    for ch in channels:
        await ch.close()
    delays.sort()
    pick = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000) if delays else (lambda q: float("nan"))
    return {
        "jobs": args.jobs, "seconds": round(elapsed, 1), "jobs_per_second": round(args.jobs / elapsed, 2),
        "replicas": len(servers), "rss_before_mb": [round(b, 1) for b in before],
        "rss_after_mb": [round(a, 1) for a in after], "rss_growth_mb": [round(a - b, 1) for a, b in zip(after, before)],
        "watched_jobs": len(crowds), "watchers_per_job": args.watchers,
        "watchers_with_every_event": f"{complete}/{len(crowds) * args.watchers}", "events_delivered": len(delays),
        "delivery_ms_p50": round(pick(0.50), 2), "delivery_ms_p99": round(pick(0.99), 2),
        "delivery_ms_max": round(pick(1.0), 2),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", metavar="DATA_ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help="also run on PostgreSQL (a URL, or 'auto': a private cluster)")
    parser.add_argument("--replicas", type=int, default=2, help="servers on the PostgreSQL database")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--watched", type=int, default=5, help="how many of the jobs get the watchers")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3, help="steps of a short job")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per step of a short job")
    parser.add_argument("--watched-steps", type=int, default=40, help="steps of a watched job")
    parser.add_argument("--watched-sleep", type=float, default=0.1,
                        help="seconds per step of a watched job (each step is 3-4 events)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url)
        return 0
    reports = {"sqlite": run(args, "", 1)}
    if args.database_url == "auto":
        from tuneforge.testing.postgres import PostgresCluster

        cluster = PostgresCluster().start()
        try:
            reports["postgresql"] = run(args, cluster.create_database(), args.replicas)
        finally:
            cluster.remove()
    elif args.database_url:
        reports["postgresql"] = run(args, args.database_url, args.replicas)
    print(json.dumps(reports if args.database_url else reports["sqlite"], indent=2))
    return 0


def run(args: argparse.Namespace, database_url: str, replicas: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tuneforge-soak-") as root:
        servers = [Server(root, database_url) for _ in range(replicas)]
        try:
            return asyncio.run(drive(servers, args))
        finally:
            for server in servers:
                server.close()


if __name__ == "__main__":
    sys.exit(main())
