"""TrainerService over gRPC: thin; the logic lives in the domain modules beside it."""

from __future__ import annotations

from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.job_rpcs import JobRpcs
from tuneforge.runtime.server import ServiceContext
from tuneforge.trainer.v1 import trainer_pb2 as pb
from tuneforge.trainer.v1 import trainer_pb2_grpc as pb_grpc

SERVICE = "trainer"


class TrainerServicer(pb_grpc.TrainerServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.jobs = JobRpcs(ctx.engine, SERVICE)

    async def GetTrainingJob(self, request, context):
        return self.jobs.get(request.id)

    async def ListTrainingJobs(self, request, context):
        jobs, token, total = self.jobs.list(request.page_size, request.page_token)
        return pb.ListTrainingJobsResponse(jobs=jobs, next_page_token=token, total_size=total)

    async def CancelTrainingJob(self, request, context):
        return await self.jobs.cancel(request.id)

    async def WatchTrainingJob(self, request, context):
        async for event in self.jobs.watch(request.id, request.after_seq, request.include_logs):
            yield event

    async def StreamTrainingJobLogs(self, request, context):
        async for line in self.jobs.logs(request.id, request.after_seq, request.follow):
            yield line

    async def ListTrainingJobMetrics(self, request, context):
        return pb.ListTrainingJobMetricsResponse(metrics=self.jobs.metrics(request.id))

    async def ListCheckpoints(self, request, context):
        points = self.ctx.engine.checkpoints(self.jobs.get(request.id).id)
        return pb.ListCheckpointsResponse(
            checkpoints=[common_pb2.Checkpoint(step=int(c.get("step") or 0), path=str(c.get("path", ""))) for c in points]
        )
