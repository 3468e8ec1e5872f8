"""Wiring of the tts service into a tuneforge server."""

from __future__ import annotations

from tuneforge.tts.v1 import tts_pb2, tts_pb2_grpc
from tuneforge.runtime.server import ServiceContext
from tuneforge.services.tts.servicer import TtsServicer

SERVICE_NAME = tts_pb2.DESCRIPTOR.services_by_name["TtsService"].full_name


async def setup(ctx: ServiceContext) -> None:
    tts_pb2_grpc.add_TtsServiceServicer_to_server(TtsServicer(ctx), ctx.server)
