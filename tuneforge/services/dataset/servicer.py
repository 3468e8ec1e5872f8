"""DatasetService over gRPC: thin; the logic lives in the domain modules beside it."""

from __future__ import annotations

from tuneforge.dataset.v1 import dataset_pb2 as pb
from tuneforge.dataset.v1 import dataset_pb2_grpc as pb_grpc
from tuneforge.runtime.job_rpcs import JobRpcs, timestamp
from tuneforge.runtime.transfer import receive_upload
from tuneforge.runtime.server import ServiceContext

SERVICE = "dataset"


class DatasetServicer(pb_grpc.DatasetServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.jobs = JobRpcs(ctx.engine, SERVICE)

    async def UploadFile(self, request_iterator, context):
        upload, _ = await receive_upload(request_iterator, self.ctx.root / "uploads", self.ctx.config.max_upload_bytes)
        return pb.Upload(
            id=upload.id, filename=upload.filename, size_bytes=upload.size_bytes,
            sha256=upload.sha256, create_time=timestamp(upload.create_time),
        )

    async def GetJob(self, request, context):
        return self.jobs.get(request.id)

    async def ListJobs(self, request, context):
        jobs, token, total = self.jobs.list(request.page_size, request.page_token)
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token, total_size=total)

    async def CancelJob(self, request, context):
        return await self.jobs.cancel(request.id)

    async def WatchJob(self, request, context):
        async for event in self.jobs.watch(request.id, request.after_seq, request.include_logs):
            yield event

    async def StreamJobLogs(self, request, context):
        async for line in self.jobs.logs(request.id, request.after_seq, request.follow):
            yield line
