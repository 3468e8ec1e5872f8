"""Wiring of the dataset service into a tuneforge server."""

from __future__ import annotations

from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.dataset.servicer import DatasetServicer

SERVICE_NAME = dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name


async def setup(ctx: ServiceContext) -> None:
    dataset_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(ctx), ctx.server)
