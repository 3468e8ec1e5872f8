"""tuneforge.jobs.v1.JobService: every kind of job, read, watched and cancelled in one place.

The server registers it once per process (:class:`tuneforge.runtime.server.TuneforgeServer`),
scoped to the services that process hosts: a job of a service hosted elsewhere is NOT_FOUND
here, as it would be if the services ran as separate deployables on one data root. The
services keep only the RPCs that create jobs. Thin: each RPC is proto → engine → proto.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuneforge.common.v1 import common_pb2
from tuneforge.jobs.v1 import jobs_pb2 as pb
from tuneforge.jobs.v1 import jobs_pb2_grpc as pb_grpc

from tuneforge.runtime import paging
from tuneforge.runtime.errors import invalid_argument, not_found
from tuneforge.runtime.job_rpcs import event_pb, job_pb, log_pb, metrics_pb
from tuneforge.runtime.jobs import Job, JobEngine

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["JobService"].full_name
_STATE_NAMES = {
    common_pb2.Job.STATE_QUEUED: "QUEUED",
    common_pb2.Job.STATE_RUNNING: "RUNNING",
    common_pb2.Job.STATE_SUCCEEDED: "SUCCEEDED",
    common_pb2.Job.STATE_FAILED: "FAILED",
    common_pb2.Job.STATE_CANCELLED: "CANCELLED",
}
_NOT_LOG = {"state", "progress", "metrics", "checkpoint"}


class JobServicer(pb_grpc.JobServiceServicer):
    def __init__(self, engine: JobEngine, services: Sequence[str]) -> None:
        self.engine = engine
        self.services = tuple(services)

    def _job(self, job_id: str) -> Job:
        job = self.engine.get(job_id)
        if job.service not in self.services:
            raise not_found("job", job_id)
        return job

    def _pb(self, job: Job) -> common_pb2.Job:
        return job_pb(job, self.engine.kinds)

    async def GetJob(self, request, context):
        return self._pb(self._job(request.id))

    async def ListJobs(self, request, context):
        services = self.services
        if request.service:
            if request.service not in self.services:
                raise invalid_argument("service", f"not hosted here; hosted: {', '.join(self.services)}")
            services = (request.service,)
        if request.state and request.state not in _STATE_NAMES:
            raise invalid_argument("state", f"unknown state {request.state}")
        scope = f"jobs:{request.service}:{request.kind}:{request.state}"
        offset, limit = paging.page(request.page_size, request.page_token, scope)
        jobs, total = self.engine.list(
            services, offset, limit, [request.kind] if request.kind else None,
            [_STATE_NAMES[request.state]] if request.state else None,
        )
        return pb.ListJobsResponse(
            jobs=[self._pb(j) for j in jobs], total_size=total,
            next_page_token=paging.next_token(offset, limit, len(jobs), total, scope),
        )

    async def CancelJob(self, request, context):
        self._job(request.id)
        return self._pb(await self.engine.cancel(request.id))

    async def WatchJob(self, request, context):
        self._job(request.id)
        types = None if request.include_logs else _NOT_LOG
        async for event in self.engine.follow(request.id, request.after_seq, types=types):
            if event.wire is None:  # one conversion per event, however many watch it
                event.wire = event_pb(event, self.engine, request.id)
            yield event.wire

    async def StreamJobLogs(self, request, context):
        self._job(request.id)
        async for event in self.engine.follow(request.id, request.after_seq, types={"log"}, follow=request.follow):
            yield log_pb(event)

    async def ListJobMetrics(self, request, context):
        self._job(request.id)
        return pb.ListJobMetricsResponse(metrics=[metrics_pb(m) for m in self.engine.metric_series(request.id)])

    async def ListJobCheckpoints(self, request, context):
        self._job(request.id)
        return pb.ListJobCheckpointsResponse(checkpoints=[
            common_pb2.Checkpoint(step=int(c.get("step") or 0), path=str(c.get("path", "")))
            for c in self.engine.checkpoints(request.id)
        ])
