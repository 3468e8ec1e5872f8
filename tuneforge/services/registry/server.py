"""Wiring of the registry service into a tuneforge server."""

from __future__ import annotations

from tuneforge.registry.v1 import registry_pb2, registry_pb2_grpc
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.registry.servicer import RegistryServicer

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


async def setup(ctx: ServiceContext) -> None:
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(ctx), ctx.server)
