"""Prometheus metrics: RPCs by method and code, latency, jobs by state, queue length,
training tokens/s and GPU memory when present. Served on ``metrics_port`` (0 = off)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter("tuneforge_rpc_total", "RPCs handled", ["method", "code"], registry=self.registry)
        self.latency = Histogram(
            "tuneforge_rpc_duration_seconds", "RPC duration (streams: until closed)", ["method"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600),
        )
        self.jobs = Gauge("tuneforge_jobs", "jobs by service, kind and state", ["service", "kind", "state"], registry=self.registry)
        self.queue = Gauge("tuneforge_job_queue_length", "jobs waiting (QUEUED)", registry=self.registry)
        self.tokens = Gauge("tuneforge_training_tokens_per_second", "last reported tokens/s of running jobs", ["job_id"], registry=self.registry)
        self.gpu_memory = Gauge("tuneforge_gpu_memory_used_bytes", "GPU memory in use (nvidia-smi)", ["gpu"], registry=self.registry)
        self.fingerprint_mismatches = Counter(
            "tuneforge_serving_fingerprint_mismatches_total",
            "served adapters taken off because vLLM kept answering unlike their fingerprint", ["adapter"],
            registry=self.registry)
        self._engine: Any = None
        self._server: Any = None

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpcs.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)

    def bind_engine(self, engine: Any) -> None:
        self._engine = engine

    def collect_jobs(self) -> None:
        """Refresh the job gauges from the store (called on each scrape)."""
        if self._engine is None:
            return
        self.jobs.clear()
        queued = 0
        for service, kind, state, n in self._engine.job_store.counts_by_state():
            self.jobs.labels(service, kind, state).set(n)
            if state == "QUEUED":
                queued += n
        self.queue.set(queued)
        self.tokens.clear()
        for job_id, metrics in self._engine.job_store.running_metrics():
            value = metrics.get("tokens_per_second")
            if isinstance(value, (int, float)):
                self.tokens.labels(job_id).set(value)
        self._collect_gpu()

    def _collect_gpu(self) -> None:
        import shutil
        import subprocess

        if not shutil.which("nvidia-smi"):
            return
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout
        except (subprocess.SubprocessError, OSError):
            return
        for line in out.strip().splitlines():
            index, used = (part.strip() for part in line.split(","))
            self.gpu_memory.labels(index).set(float(used) * 1024 * 1024)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        self.collect_jobs()
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        metrics = self

        class _Refreshing(CollectorRegistry):
            def collect(self):  # type: ignore[override]
                metrics.collect_jobs()
                yield from metrics.registry.collect()

        self._server, _thread = start_http_server(port, addr=host, registry=_Refreshing())

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
