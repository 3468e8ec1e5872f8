"""TtsService over gRPC: thin; the logic lives in the domain modules beside it."""

from __future__ import annotations

from tuneforge.runtime.job_rpcs import JobRpcs
from tuneforge.runtime.server import ServiceContext
from tuneforge.tts.v1 import tts_pb2 as pb
from tuneforge.tts.v1 import tts_pb2_grpc as pb_grpc

SERVICE = "tts"


class TtsServicer(pb_grpc.TtsServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.jobs = JobRpcs(ctx.engine, SERVICE)

    async def GetTtsJob(self, request, context):
        return self.jobs.get(request.id)

    async def ListTtsJobs(self, request, context):
        jobs, token, total = self.jobs.list(request.page_size, request.page_token)
        return pb.ListTtsJobsResponse(jobs=jobs, next_page_token=token, total_size=total)

    async def StopTraining(self, request, context):
        return await self.jobs.cancel(request.id)

    async def WatchTtsJob(self, request, context):
        async for event in self.jobs.watch(request.id, request.after_seq, request.include_logs):
            yield event

    async def StreamTtsJobLogs(self, request, context):
        async for line in self.jobs.logs(request.id, request.after_seq, request.follow):
            yield line
