"""Wiring of the trainer service into a tuneforge server."""

from __future__ import annotations

from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.trainer.servicer import TrainerServicer

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name


async def setup(ctx: ServiceContext) -> None:
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(TrainerServicer(ctx), ctx.server)
