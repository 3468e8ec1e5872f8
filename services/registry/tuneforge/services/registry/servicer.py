"""RegistryService over gRPC: thin; the logic lives in the domain modules beside it.

Each RPC converts the request, calls the domain (file work in a thread so the event loop
stays free), and converts the answer. Errors are the domain's ``TuneforgeError``s, mapped
to gRPC statuses by the shared interceptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from pathlib import Path

from google.protobuf import json_format, timestamp_pb2
from tuneforge.registry.v1 import registry_pb2 as pb
from tuneforge.registry.v1 import registry_pb2_grpc as pb_grpc

from tuneforge.runtime import paging
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.errors import invalid_argument, not_found
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.paths import NOT_ALLOWED, confine, links_out
from tuneforge.runtime.request_log import RequestLog
from tuneforge.runtime.server import ServiceContext
from tuneforge.runtime.transfer import delete_upload, receive_upload, send_file
from tuneforge.services.registry.activation_records import (
    ActivationStatus,
    HistoryEntry,
    VllmState,
)
from tuneforge.services.registry.activation_verify import ProbeOutcome
from tuneforge.services.registry.adapters import Adapter
from tuneforge.services.registry.conformance import ConformanceReport
from tuneforge.services.registry.served_chat import chat_served_adapter
from tuneforge.services.registry.archive import export_to_file, import_archive
from tuneforge.services.registry.domain import RegistryDomain
from tuneforge.services.registry.model_rpcs import ModelRpcs
from tuneforge.services.registry.eval_gate import check_activation
from tuneforge.services.registry.audits import summary as audit_summary
from tuneforge.services.registry.evaluations import summary
from tuneforge.services.registry.lineage import LineageEntry, Retraction

EXPORT_PREFIX = "registry-export-"
_VLLM_STATES = {
    VllmState.NOT_CONFIGURED: pb.Activation.VLLM_STATE_NOT_CONFIGURED,
    VllmState.APPLIED: pb.Activation.VLLM_STATE_APPLIED,
    VllmState.PENDING: pb.Activation.VLLM_STATE_PENDING,
    VllmState.FAILED: pb.Activation.VLLM_STATE_FAILED,
}
_SERVED_VERSION = re.compile(r"@v(\d+)$")
log = get_logger("tuneforge.registry")


# ------------------------------------------------------------ conversions
def _ts(iso: str | None) -> timestamp_pb2.Timestamp | None:
    if not iso:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(iso)
    return ts


def report_pb(report: dict) -> pb.EvaluationReport:
    return json_format.ParseDict(report, pb.EvaluationReport(), ignore_unknown_fields=True)


def report_dict(report: pb.EvaluationReport) -> dict:
    return json_format.MessageToDict(report, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def retraction_pb(r: Retraction | None) -> pb.DataRetraction | None:
    if r is None:
        return None
    return pb.DataRetraction(dataset=r.dataset, superseded_by_version=r.superseded_by_version, reason=r.reason,
                             retract_time=_ts(r.retract_time))


def lineage_entry_pb(e: LineageEntry, current: int = 0) -> pb.AdapterLineageEntry:
    return pb.AdapterLineageEntry(
        adapter_name=e.name, version=e.version, dataset=e.dataset, dataset_version=e.dataset_version,
        dataset_sha256=e.dataset_sha256, job_id=e.job_id, register_time=_ts(e.register_time),
        current=e.version == current, data_retraction=retraction_pb(e.retraction),
    )  # fmt: skip


def audit_pb(report: dict) -> pb.AuditReport:
    return json_format.ParseDict(report, pb.AuditReport(), ignore_unknown_fields=True)


def adapter_pb(a: Adapter, active: str | None, served: frozenset[str] | set[str] = frozenset(),
               report: dict | None = None, audit: dict | None = None,
               lineage: LineageEntry | None = None, conformance: ConformanceReport | None = None,
               enable_thinking: bool | None = None, merge_hint: str = "") -> pb.Adapter:
    short, audited = summary(report), audit_summary(audit)
    return pb.Adapter(
        enable_thinking=enable_thinking,
        merge_hint=merge_hint,
        conformance=conformance_pb(conformance),
        dataset_version=lineage.dataset_version if lineage else 0,
        dataset_sha256=lineage.dataset_sha256 if lineage else "",
        data_retraction=retraction_pb(lineage.retraction) if lineage else None,
        evaluation=pb.EvaluationSummary(**short) if short else None,
        audit=pb.AuditSummary(**audited) if audited else None,
        served=a.name in served,
        name=a.name, base_model=a.base_model, dataset=a.dataset, create_time=_ts(a.create_time),
        size_bytes=a.size_bytes, rank=a.rank, alpha=round(a.lora_alpha),
        target_modules=a.target_modules, metrics=a.metrics, path=str(a.path), version=a.version,
        job_id=a.job_id, active=a.name == active, source=a.source, lora_alpha=a.lora_alpha,
        lora_modules=a.lora_modules, served_name=a.served_name, update_time=_ts(a.update_time),
        variant=pb.Adapter.Variant.Value(f"VARIANT_{a.variant.upper()}") if a.variant else None,
    )


MERGE_BELOW = 0.8  # one adapter's throughput over the base's under which merging is suggested


def merge_hint(name: str, active: str | None, served: set[str] | frozenset[str], ratio: float) -> str:
    """Why merging pays, when ``name`` is the only adapter vLLM serves and the measured LoRA
    throughput (``serving_lora_throughput_ratio``) is below :data:`MERGE_BELOW`; else ""."""
    live = ({active} if active else set()) | set(served)
    if live != {name} or not 0 < ratio < MERGE_BELOW:
        return ""
    return (f"served alone at {ratio:.2f}x the base's throughput (measured: serving_lora_throughput_ratio); "
            f"merged into the base it serves at the base's speed: tuneforge train export {name} --format merged")


def conformance_pb(r: ConformanceReport | None) -> pb.ConformanceReport | None:
    if r is None:
        return None
    st = r.settings or {}
    return pb.ConformanceReport(
        adapter_name=r.adapter, adapter_version=r.version, served_name=r.served_name, staged=r.staged,
        prompts=r.prompts, stop_rate=r.stop_rate, leak_rate=r.leak_rate, leaks=r.leaks, parity=r.parity,
        parity_detail=r.parity_detail, passed=r.passed, failed_metric=r.failed_metric, failed_value=r.failed_value,
        check_time=_ts(r.check_time),
        thresholds=pb.ConformanceThresholds(
            min_stop_rate=st.get("min_stop_rate", 0.0), max_leak_rate=st.get("max_leak_rate", 0.0),
            min_parity=st.get("min_parity", 0.0), max_tokens=st.get("max_tokens", 0),
            parity_tokens=st.get("parity_tokens", 0)),
    )


def probe_pb(p: ProbeOutcome) -> pb.ServingProbe:
    return pb.ServingProbe(adapter_name=p.adapter, adapter_version=p.version, served_name=p.served_name,
                           outcome=pb.ServingProbe.Outcome.Value(f"OUTCOME_{p.outcome}"), detail=p.detail)


def status_pb(s: ActivationStatus) -> pb.Activation:
    message = s.detail
    if s.vllm_state is VllmState.PENDING and s.next_retry_time:
        message = f"{s.detail} (attempt {s.attempts}, next retry {s.next_retry_time})".strip()
    return pb.Activation(
        adapter_name=s.active or "", adapter_version=s.version or 0, served_name=s.served_name or "",
        activate_time=_ts(s.activate_time), vllm_state=_VLLM_STATES[s.vllm_state], vllm_message=message,
        vllm_mode=s.mode, previous_adapter_name=s.previous or "", action=s.action, id=s.history_id or 0,
    )


def history_pb(h: HistoryEntry) -> pb.Activation:
    version = _SERVED_VERSION.search(h.served_name or "")
    return pb.Activation(
        adapter_name=h.to_name or "", adapter_version=int(version.group(1)) if version else 0,
        served_name=h.served_name or "", activate_time=_ts(h.time), vllm_state=_VLLM_STATES[h.vllm_state],
        vllm_message=h.detail, vllm_mode=h.mode, previous_adapter_name=h.from_name or "",
        action=h.action, id=h.id,
    )


def _actor(context) -> str:
    try:
        return context.peer() or ""
    except Exception:  # noqa: BLE001 - the actor is informational only
        return ""


# ---------------------------------------------------------------- servicer
class RegistryServicer(ModelRpcs, pb_grpc.RegistryServiceServicer):
    def __init__(self, ctx: ServiceContext, domain: RegistryDomain) -> None:
        self.ctx = ctx
        self.domain = domain
        self.catalog = domain.catalog
        self.activation = domain.activation
        self.requests = RequestLog(ctx.store, "registry")

    def _active(self) -> str | None:
        return self.catalog.active_name()

    def _pb(self, adapter: Adapter, active: str | None = None,
            served: set[str] | None = None) -> pb.Adapter:
        report = self.domain.evaluations.latest(adapter.name, adapter.version)
        return adapter_pb(adapter, active if active is not None else self._active(),
                          served if served is not None else set(self.activation.served_names()), report,
                          audit=self.domain.audits.latest(adapter.name, adapter.version),
                          lineage=self.domain.lineage.entry(adapter.name, adapter.version),
                          conformance=self.domain.conformance.latest(adapter.name, adapter.version),
                          enable_thinking=self.domain.thinking.get(adapter.name, adapter.version)
                          if self.domain.thinking is not None else None,
                          merge_hint=merge_hint(adapter.name, active if active is not None else self._active(),
                                                served if served is not None else set(self.activation.served_names()),
                                                self.domain.lora_throughput_ratio))

    def _registered(self, adapter: Adapter, dataset_version: int = 0, dataset_sha256: str = "") -> pb.Adapter:
        """A re-registered active or served adapter has a new version (a new served name):
        rewrite the launcher's files and let vLLM catch up (hot mode). Every registration is
        kept in the lineage (lineage.py)."""
        self.domain.lineage.record(adapter, dataset_version, dataset_sha256)
        self.domain.conformance.record_files(adapter)  # the fingerprint's files half (staging.py)
        if self.domain.thinking is not None:
            self.domain.thinking.record(adapter)  # the enable_thinking it was trained with (thinking.py)
        active, served = self._active(), set(self.activation.served_names())
        if adapter.name == active or adapter.name in served:
            self.activation.write_files()
            self.activation.wake()
        return self._pb(adapter, active or "", served)

    # -- adapters
    async def RegisterAdapter(self, request, context):
        if replay := self.requests.replay(request.request_id, pb.Adapter):
            return replay
        validate_name(request.name, "name")
        path = self._server_path(request.path)
        if request.replace:
            self.activation.check_replace(request.name)
        adapter = await asyncio.to_thread(
            self.catalog.register, request.name, path, base_model=request.base_model or None,
            dataset=request.dataset, metrics=dict(request.metrics), job_id=request.job_id,
            source="trainer" if request.job_id else "directory", replace=request.replace,
        )
        return self.requests.record(request.request_id,
                                    self._registered(adapter, request.dataset_version, request.dataset_sha256))

    def _server_path(self, raw: str) -> Path:
        """A directory on the server under the data root or ``allowed_paths`` (absolute, or
        relative to the data root: what the trainer sends), holding no link that leads out."""
        if not raw:
            raise invalid_argument("path", "is required: the adapter directory on the server")
        roots = self.ctx.path_roots()
        path = confine(raw, "path", roots)
        if not path.exists():
            raise invalid_argument("path", f"{raw!r} does not exist on the server", reason="PATH_NOT_FOUND")
        if not path.is_dir():
            raise invalid_argument("path", f"{raw!r} is not a directory", reason="NOT_A_DIRECTORY")
        if outside := links_out(path, roots):
            raise invalid_argument("path", f"{raw!r} holds links that lead outside the allowed directories: "
                                   f"{', '.join(outside[:5])}", reason=NOT_ALLOWED)  # fmt: skip
        return path

    async def GetAdapter(self, request, context):
        return self._pb(self.catalog.get(request.name))

    async def ListAdapters(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "registry.adapters")
        items, total = self.catalog.list(offset, limit)
        active, served = self._active(), set(self.activation.served_names())
        return pb.ListAdaptersResponse(
            adapters=[self._pb(a, active or "", served) for a in items],
            next_page_token=paging.next_token(offset, limit, len(items), total, "registry.adapters"),
            total_size=total,
        )

    async def DeleteAdapter(self, request, context):
        validate_name(request.name, "name")
        await self.activation.delete_adapter(request.name, request.force, actor=_actor(context))
        return pb.DeleteAdapterResponse()

    # -- activation
    async def ActivateAdapter(self, request, context):
        validate_name(request.name, "name")
        if self.ctx.config.activation_requires_eval:  # the manager's gate applies; a request cannot lift it
            if request.HasField("require_eval") and not request.require_eval:
                log.warning("eval_gate_override_refused", adapter=request.name, actor=_actor(context),
                            detail="require_eval=false ignored: activation_requires_eval is on")
        elif request.require_eval:
            check_activation(self.domain.evaluations, request.name)
        return status_pb(await self.activation.activate(request.name, actor=_actor(context), force=request.force))

    async def DeactivateAdapter(self, request, context):
        return status_pb(await self.activation.deactivate(actor=_actor(context)))

    async def RollbackActivation(self, request, context):
        return status_pb(await self.activation.rollback(actor=_actor(context), force=request.force))

    async def ServeAdapter(self, request, context):
        validate_name(request.name, "name")
        names = await self.activation.serve(request.name, force=request.force)
        return pb.ServeAdapterResponse(adapter=self._pb(self.catalog.get(request.name)), served_adapter_names=names)

    async def UnserveAdapter(self, request, context):
        validate_name(request.name, "name")
        return pb.UnserveAdapterResponse(served_adapter_names=await self.activation.unserve(request.name))

    async def GetActiveAdapter(self, request, context):
        return status_pb(self.activation.status())

    async def ListActivations(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "registry.activations")
        items, total = self.activation.history(offset, limit)
        return pb.ListActivationsResponse(
            activations=[history_pb(h) for h in items],
            next_page_token=paging.next_token(offset, limit, len(items), total, "registry.activations"),
        )

    async def WatchActivations(self, request, context):
        async for event in self.activation.watch():
            yield status_pb(event.status)

    # -- the serving path (staging.py, conformance.py, activation_verify.py)
    async def CheckAdapter(self, request, context):
        validate_name(request.name, "name")
        report = await self.activation.check_adapter(request.name, request.version)
        return conformance_pb(report)

    async def VerifyServing(self, request, context):
        probes = await self.activation.verify_serving(reload=request.reload)
        return pb.VerifyServingResponse(probes=[probe_pb(p) for p in probes])

    async def ChatServedAdapter(self, request, context):
        validate_name(request.name, "name")
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        async for kind, value in chat_served_adapter(
                self.domain, request.name, messages, max_tokens=request.max_tokens, temperature=request.temperature,
                top_p=request.top_p, seed=request.seed, timeout=self.activation.conformance_timeout):
            if kind == "start":
                adapter, served_name, policy = value
                yield pb.ChatServedAdapterResponse(start=pb.ServedChatStart(
                    adapter_version=adapter.version, served_name=served_name, enable_thinking=policy))
            elif kind == "piece":
                yield pb.ChatServedAdapterResponse(piece=value)
            else:
                yield pb.ChatServedAdapterResponse(end=pb.ServedChatEnd(
                    text=value.text, tokens=value.tokens, finish_reason=value.finish_reason))

    # -- evaluations
    # -- lineage
    async def GetAdapterLineage(self, request, context):
        current = self.catalog.get(request.name).version if self.catalog.exists(request.name) else 0
        entries = self.domain.lineage.history(request.name)
        if not entries and not current:
            raise not_found("adapter", request.name)
        return pb.AdapterLineage(name=request.name, versions=[lineage_entry_pb(e, current) for e in entries])

    async def RetractDatasetData(self, request, context):
        marked, redacted = await asyncio.to_thread(
            self.domain.lineage.retract, request.dataset, request.version, request.reason,
            self.domain.evaluations, list(request.redact_digests), list(request.redact_terms))
        log.info("dataset_data_retracted", dataset=request.dataset, version=request.version,
                 adapters=len(marked), samples_redacted=redacted)
        return pb.RetractDatasetDataResponse(
            marked=[lineage_entry_pb(e, self.catalog.get(e.name).version if self.catalog.exists(e.name) else 0)
                    for e in marked], samples_redacted=redacted)

    async def CreateEvaluation(self, request, context):
        if replay := self.requests.replay(request.request_id, pb.EvaluationReport):
            return replay
        validate_name(request.adapter_name, "adapter_name")
        if not request.HasField("report"):
            raise invalid_argument("report", "required")
        stored = self.domain.evaluations.record(request.adapter_name, request.adapter_version,
                                                report_dict(request.report), job_id=request.job_id)
        return self.requests.record(request.request_id, report_pb(stored))

    async def GetEvaluation(self, request, context):
        validate_name(request.adapter_name, "adapter_name")
        version = request.adapter_version or self.catalog.get(request.adapter_name).version
        report = self.domain.evaluations.latest(request.adapter_name, version)
        if report is None:
            raise not_found("evaluation", f"{request.adapter_name} v{version}")
        return report_pb(report)

    # -- leak audits (audits.py)
    async def CreateAudit(self, request, context):
        if replay := self.requests.replay(request.request_id, pb.AuditReport):
            return replay
        validate_name(request.adapter_name, "adapter_name")
        stored = self.domain.audits.record(request.adapter_name, request.adapter_version, request.job_id)
        return self.requests.record(request.request_id, audit_pb(stored))

    async def GetAudit(self, request, context):
        validate_name(request.adapter_name, "adapter_name")
        version = request.adapter_version or self.catalog.get(request.adapter_name).version
        report = self.domain.audits.latest(request.adapter_name, version)
        if report is None:
            raise not_found("audit", f"{request.adapter_name} v{version}")
        return audit_pb(report)

    # -- export / import
    async def ExportAdapter(self, request, context):
        adapter = self.catalog.get(request.name)
        tmp_dir = self.ctx.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        dest = tmp_dir / f"{EXPORT_PREFIX}{uuid.uuid4().hex}.tar.gz"
        try:
            size, sha = await asyncio.to_thread(export_to_file, adapter, dest)
            async for message in send_file(dest, pb.ExportAdapterResponse, filename=f"{adapter.name}.tar.gz",
                                           content_type="application/gzip", size_bytes=size, sha256=sha):
                yield message
        finally:
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()

    async def ImportAdapter(self, request_iterator, context):
        uploads = self.ctx.root / "uploads"
        upload, meta = await receive_upload(
            request_iterator, uploads, self.ctx.config.max_upload_bytes,
            metadata_field="metadata", unwrap=lambda m: m.upload,
        )
        try:
            if replay := self.requests.replay(meta.upload.request_id, pb.Adapter):
                return replay
            name = validate_name(meta.name, "metadata.name") if meta.name else None
            adapter = await asyncio.to_thread(
                import_archive, self.catalog, upload.path, name, replace=meta.replace,
                limits=self.domain.import_limits, before_replace=self.activation.check_replace,
            )
        finally:
            await asyncio.to_thread(delete_upload, uploads, upload.id)
        return self.requests.record(meta.upload.request_id, self._registered(adapter))


def sweep_exports(root: Path) -> None:
    """Remove export temp files a crash left behind (called once at start)."""
    tmp_dir = root / "tmp"
    if tmp_dir.is_dir():
        for entry in [*tmp_dir.glob(f"{EXPORT_PREFIX}*"), *tmp_dir.glob(f".{EXPORT_PREFIX}*")]:
            with contextlib.suppress(OSError):
                entry.unlink()
