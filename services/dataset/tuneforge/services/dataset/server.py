"""Wiring of the dataset service into a tuneforge server.

Job kinds (``<worker_python> -m tuneforge.services.dataset.<worker> --spec spec.json``, no
GPU lock):

| kind       | worker            | result                                  |
|------------|-------------------|-----------------------------------------|
| `telegram` | telegram_worker   | ``{"dataset": Dataset, "report": ...}`` |
| `generate` | generate_worker   | ``{"dataset": Dataset, "report": ...}`` |

The workers create the dataset themselves, atomically, through the same catalog (a staging
directory renamed into place), so there is no ``on_success`` step that could half-fail.
Staging leftovers of a crash are swept at start, unless a dataset job still runs (a worker
that survived a service restart may be staging right now).
"""

from __future__ import annotations

from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc

from tuneforge.audio.whisper import MODELS_DIR_ENV
from tuneforge.runtime.jobs import Job, JobKind
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.dataset.catalog import DatasetCatalog
from tuneforge.services.dataset.servicer import JOB_TYPES, KINDS, DatasetServicer

SERVICE_NAME = dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name
log = get_logger("tuneforge.dataset")


async def setup(ctx: ServiceContext) -> None:
    catalog = DatasetCatalog(ctx.store, ctx.root)
    if not ctx.engine.job_store.has_running("dataset"):
        swept = catalog.sweep_leftovers()
        if swept:
            log.info("dataset_leftovers_swept", count=swept)
    python = ctx.engine.worker_python
    models_dir = ctx.config.models_dir

    def env(job: Job) -> dict[str, str]:
        return {MODELS_DIR_ENV: models_dir} if models_dir else {}

    for kind, module in KINDS.items():
        ctx.engine.register_kind(JobKind(
            name=kind,
            service="dataset",
            command=lambda job, module=module: [python, "-m", module, "--spec", str(job.spec_path)],
            env=env,
            params_type=JOB_TYPES[kind][0],
            result_type=JOB_TYPES[kind][1],
        ))  # fmt: skip
    dataset_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(ctx, catalog), ctx.server)
