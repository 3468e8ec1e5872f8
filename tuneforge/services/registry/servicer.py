"""RegistryService over gRPC: thin; the logic lives in the domain modules beside it."""

from __future__ import annotations

from tuneforge.registry.v1 import registry_pb2_grpc as pb_grpc
from tuneforge.runtime.server import ServiceContext


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
