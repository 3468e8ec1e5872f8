"""DatasetService over gRPC: thin; the logic lives in the domain modules beside it.

Conventions: a proto3 scalar left at 0 / "" / false means "the stored or documented
default"; blocking work (import, stats, hashing) runs in a thread; every error is a
:class:`TuneforgeError` the interceptor maps to a rich gRPC status.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from datetime import datetime
from typing import Any

from tuneforge.dataset.v1 import dataset_pb2 as pb
from tuneforge.dataset.v1 import dataset_pb2_grpc as pb_grpc

from tuneforge.runtime import paging
from tuneforge.runtime.errors import (
    Code,
    FieldViolation,
    TuneforgeError,
    already_exists,
    invalid_argument,
    invalid_fields,
)
from tuneforge.runtime.idempotency import single_flight
from tuneforge.runtime.job_rpcs import job_pb, timestamp, to_message
from tuneforge.runtime.request_log import RequestLog
from tuneforge.runtime.paths import confine
from tuneforge.runtime.server import ServiceContext
from tuneforge.runtime.storage import is_disk_full
from tuneforge.runtime.transfer import (
    delete_upload,
    find_upload,
    open_upload,
    remember_upload,
    replayed_upload,
    send_file,
)
from tuneforge.services.dataset import dialogs, generate, importing, llm_rephrase, provenance
from tuneforge.services.dataset.import_report import ImportFailed, ImportReport
from tuneforge.services.dataset.catalog import DatasetCatalog, DatasetInfo
from tuneforge.services.dataset.generate_worker import PATH_OPTIONS
from tuneforge.services.dataset.stats import DEFAULT_VALIDATION_SPLIT

SERVICE = "dataset"
KINDS = {
    "telegram": "tuneforge.services.dataset.telegram_worker",
    "generate": "tuneforge.services.dataset.generate_worker",
}
# kind -> (params message, result message) packed in the wire Job (JobKind.params_type/result_type).
JOB_TYPES = {
    "telegram": (pb.TelegramJobParams, pb.TelegramJobResult),
    "generate": (pb.GenerateJobParams, pb.GenerateJobResult),
}
SETTINGS_KEY = "telegram"
# Shown in GetTelegramConfig for fields nobody set (the workers apply the same defaults).
TELEGRAM_DEFAULTS: dict[str, Any] = {
    "min_dialog_messages": dialogs.TelegramOptions.min_dialog_messages,
    "max_message_length": dialogs.TelegramOptions.max_message_length,
    "max_dialog_length": dialogs.TelegramOptions.max_dialog_length,
    "session_gap_seconds": dialogs.TelegramOptions.session_gap_seconds,
    "output_format": dialogs.TelegramOptions.output_format,
    "whisper_model": "small",
    "validation_split": DEFAULT_VALIDATION_SPLIT,
}
# Violations sent in a rejected import's status: a status travels in trailing metadata
# (about 8 KiB), so only the first few; the full report comes from validate_only.
MAX_STATUS_VIOLATIONS = 10
MAX_VIOLATION_CHARS = 200


# ---------------------------------------------------------------- conversions
_REPORTS = {  # Dataset.source -> (oneof field, report message)
    "telegram": ("telegram_report", pb.TelegramReport),
    "generate": ("generate_report", pb.GenerateReport),
    "import": ("import_report", pb.ValidationReport),
}


def dataset_pb(info: DatasetInfo) -> pb.Dataset:
    msg = pb.Dataset(
        name=info.name, source=info.source, format=info.format, record_count=info.record_count,
        validation_record_count=info.validation_record_count, size_bytes=info.size_bytes,
        path=info.path, validation_path=info.validation_path, job_id=info.job_id,
        version=info.version, sha256=info.sha256,
    )  # fmt: skip
    if info.source in _REPORTS and info.report:
        name, cls = _REPORTS[info.source]
        getattr(msg, name).CopyFrom(to_message(info.report, cls))
    try:
        msg.create_time.FromDatetime(datetime.fromisoformat(info.create_time))
    except (TypeError, ValueError):
        pass
    return msg


def scrub_pb(counts: dict[str, int]) -> pb.ScrubCounts:
    return pb.ScrubCounts(**counts)


def report_pb(report: ImportReport) -> pb.ValidationReport:
    msg = pb.ValidationReport(
        detected_format=report.detected_format, records_read=report.records_read,
        records_valid=report.records_valid, records_invalid=report.records_invalid,
        errors=[pb.RecordError(line=e.line, column=e.column, code=e.code, message=e.message, index=e.index)
                for e in report.errors],
        error_counts=report.error_counts, file_kind=report.file_kind,
        warnings=[pb.ImportWarning(code=w.code, count=w.count, message=w.message) for w in report.warnings],
    )  # fmt: skip
    if report.scrubbed:
        msg.scrubbed.CopyFrom(scrub_pb(report.scrubbed))
    return msg


def config_dict(config: pb.TelegramConfig) -> dict[str, Any]:
    """The fields a client set (non-zero / non-empty / true), by proto field name;
    ``no_validation_split`` becomes ``validation_split: 0`` (a 0 itself reads as unset)."""
    out: dict[str, Any] = {}
    for f in config.DESCRIPTOR.fields:
        value = getattr(config, f.name)
        if value:
            out[f.name] = list(value) if f.is_repeated else value
    if out.pop("no_validation_split", False):
        out["validation_split"] = 0.0
    return out


def check_telegram_config(values: dict[str, Any]) -> None:
    """Field violations ``config.<field>`` for every bad value, reported together."""
    bad: list[FieldViolation] = []
    for name in ("min_dialog_messages", "max_message_length", "max_dialog_length", "session_gap_seconds"):
        value = values.get(name, 0)
        if value < 0:
            bad.append(FieldViolation(f"config.{name}", "must not be negative (0 = default)"))
    for name in ("min_dialog_messages", "max_dialog_length"):
        if values.get(name) == 1:
            bad.append(FieldViolation(f"config.{name}", "must be at least 2 (a dialog needs a question and an answer)"))
    split = values.get("validation_split", 0.0)
    if not 0 <= split <= 0.5:
        bad.append(FieldViolation("config.validation_split", "must be between 0 and 0.5 (unset = default 0.1, 0 = none)"))
    fmt = values.get("output_format", "")
    if fmt and fmt not in dialogs.OUTPUT_FORMATS:
        bad.append(FieldViolation("config.output_format", f"must be one of {', '.join(dialogs.OUTPUT_FORMATS)}"))
    if bad:
        raise invalid_fields(bad, message="invalid Telegram config")
    try:
        dialogs.TelegramOptions.from_dict(values)  # cross-field rules
    except TuneforgeError as exc:
        raise invalid_fields(
            [FieldViolation(f"config.{v.field}", v.description) for v in exc.violations],
            message="invalid Telegram config",
        ) from None


def _split(request: Any) -> float | None:
    if not request.HasField("validation_split"):
        return None
    if not 0 <= request.validation_split <= 0.5:
        raise invalid_argument("validation_split", "must be between 0 and 0.5")
    return request.validation_split


def _short(text: str) -> str:
    return text if len(text) <= MAX_VIOLATION_CHARS else text[: MAX_VIOLATION_CHARS - 1] + "…"


def rejected_import(exc: ImportFailed) -> TuneforgeError:
    """The import's rejection with its first errors as ``line N`` violations (status-sized)."""
    report = exc.report
    shown = report.errors[:MAX_STATUS_VIOLATIONS]
    more = report.records_invalid - len(shown)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.error_counts.items()))
    message = (
        f"{report.records_invalid} of {report.records_read} records are invalid ({counts}); nothing was "
        f"imported. First {len(shown)} errors listed"
        + (f", {more} more: run with validate_only for the full report" if more > 0 else "")
        + "; skip_invalid keeps the valid records"
    )
    return TuneforgeError(
        Code.INVALID_ARGUMENT, exc.reason, message,
        [FieldViolation(f"line {e.line}", _short(e.detail())) for e in shown],
        metadata={"records_read": str(report.records_read), "records_invalid": str(report.records_invalid)},
    )  # fmt: skip


def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def local_input(path: str, allowed: str) -> Any:
    """``path`` resolved, if it is a file inside one of the ``allowed`` directories (':'-separated).

    Lets a client on the server's host hand over a big file without streaming it; off unless
    the server lists directories in ``local_input_dirs``. Links are resolved first, so a link
    inside an allowed directory cannot point outside it.
    """
    from pathlib import Path

    dirs = [Path(d).expanduser().resolve() for d in allowed.split(":") if d.strip()]
    if not dirs:
        raise TuneforgeError(
            Code.FAILED_PRECONDITION, "LOCAL_PATHS_DISABLED",
            "this server reads no local paths (set local_input_dirs); upload the file instead",
        )
    target = Path(path).expanduser()
    if not target.is_absolute():
        raise invalid_argument("local_path", "must be an absolute path")
    target = target.resolve()
    if not any(d == target or d in target.parents for d in dirs):
        raise TuneforgeError(
            Code.PERMISSION_DENIED, "LOCAL_PATH_NOT_ALLOWED",
            f"{target} is outside the directories this server may read (local_input_dirs)",
            [FieldViolation("local_path", "outside local_input_dirs")],
        )
    if not target.is_file():
        raise invalid_argument("local_path", f"{target} is not a file", reason="INPUT_NOT_FOUND")
    return target


# ---------------------------------------------------------------- the service
class DatasetServicer(pb_grpc.DatasetServiceServicer):
    def __init__(self, ctx: ServiceContext, catalog: DatasetCatalog) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.requests = RequestLog(ctx.store, SERVICE)
        self.uploads = ctx.root / "uploads"

    # -- helpers
    def _check_name(self, name: str) -> None:
        """Valid, not taken, and no queued/running job is about to create it."""
        self.catalog.check_free(name)
        job_id = self.ctx.engine.job_store.live_job_with_param(SERVICE, "dataset_name", name)
        if job_id:
            err = already_exists("dataset", name)
            err.message = f"dataset {name!r} is being created by job {job_id}"
            err.metadata["job_id"] = job_id
            raise err

    def _replayed(self, request_id: str) -> Any:
        """The job an earlier call with this request_id created (AIP-155), or None."""
        if not request_id:
            return None
        job = self.ctx.engine.job_store.by_request_key(f"{SERVICE}:{request_id}")
        return job_pb(self.ctx.engine.get(job.id), self.ctx.engine.kinds) if job else None

    def _telegram_config(self) -> pb.TelegramConfig:
        known = pb.TelegramConfig.DESCRIPTOR.fields_by_name
        stored = {k: v for k, v in self.catalog.get_settings(SETTINGS_KEY).items() if k in known}
        values = {**TELEGRAM_DEFAULTS, **stored}
        return pb.TelegramConfig(**values, no_validation_split=values["validation_split"] == 0)

    def _input(self, request: Any, upload_field: str = "upload_id") -> Any:
        """The file a request names: an upload, or a local path the server may read."""
        if not request.local_path:
            return find_upload(self.uploads, getattr(request, upload_field)).path
        return local_input(request.local_path, self.ctx.config.local_input_dirs)

    # -- uploads and Telegram
    async def UploadFile(self, request_iterator, context):
        incoming = await open_upload(request_iterator, self.ctx.config.max_upload_bytes)
        if replay := await replayed_upload(incoming, self.requests, pb.Upload):
            return replay
        upload = await incoming.store(self.uploads)
        response = pb.Upload(id=upload.id, filename=upload.filename, size_bytes=upload.size_bytes,
                             sha256=upload.sha256, create_time=timestamp(upload.create_time))  # fmt: skip
        return remember_upload(self.requests, incoming, upload, response, self.uploads, pb.Upload)

    @single_flight
    async def ProcessTelegramExport(self, request, context):
        if replay := self._replayed(request.request_id):
            return replay
        path = self._input(request)
        if request.append_to:
            if request.dataset_name:
                raise invalid_argument("append_to", "give dataset_name (a new dataset) or append_to (an existing one), not both")
            self.catalog.get(request.append_to)
        elif not request.dataset_name:
            raise invalid_argument("dataset_name", "is required (or append_to)")
        else:
            self._check_name(request.dataset_name)
        options = {**self.catalog.get_settings(SETTINGS_KEY), **config_dict(request.config)}
        check_telegram_config(options)
        spec = {
            "input": str(path),
            "dataset_name": request.dataset_name or request.append_to,
            "append_to": request.append_to,
            "upload_id": request.upload_id,
            "options": options,
            "whisper_models_dir": self.ctx.config.models_dir,
        }
        job = await self.ctx.engine.create("telegram", spec, request_id=request.request_id)
        return job_pb(job, self.ctx.engine.kinds)

    async def GetTelegramConfig(self, request, context):
        return self._telegram_config()

    async def UpdateTelegramConfig(self, request, context):
        values = config_dict(request.config)
        check_telegram_config(values)
        self.catalog.put_settings(SETTINGS_KEY, values)
        return self._telegram_config()

    # -- import and generation
    async def ImportDataset(self, request, context):
        if replay := self.requests.replay(request.request_id, pb.ImportDatasetResponse):
            return replay
        path = self._input(request)
        if not request.validate_only:
            if not request.dataset_name:
                raise invalid_argument("dataset_name", "is required")
            self._check_name(request.dataset_name)
        if request.preview_size < 0:
            raise invalid_argument("preview_size", "must not be negative")
        if request.max_record_chars < 0:
            raise invalid_argument("max_record_chars", "must not be negative")
        try:
            info, result = await asyncio.to_thread(
                importing.import_into_catalog, self.catalog, path, request.dataset_name,
                format=request.format or "auto", skip_invalid=request.skip_invalid,
                preview_size=min(request.preview_size or 5, 100), validation_split=_split(request),
                validate_only=request.validate_only, max_record_chars=request.max_record_chars,
                scrub=request.scrub,
                max_record_bytes=self.ctx.config.max_record_bytes,
            )  # fmt: skip
        except ImportFailed as exc:
            if request.validate_only:  # validation is the answer, not an error
                return pb.ImportDatasetResponse(report=report_pb(exc.report))
            raise rejected_import(exc) from None
        except Exception as exc:
            if is_disk_full(exc) and request.upload_id:  # free the upload's space; the client sends it again
                await asyncio.to_thread(delete_upload, self.uploads, request.upload_id)
            raise
        response = pb.ImportDatasetResponse(report=report_pb(result.report), preview=[_json(r) for r in result.preview])
        if info is not None:
            response.dataset.CopyFrom(dataset_pb(info))
            self.requests.record(request.request_id, response)
        return response

    @single_flight
    async def GenerateDataset(self, request, context):
        if replay := self._replayed(request.request_id):
            return replay
        if not request.dataset_name:
            raise invalid_argument("dataset_name", "is required")
        self._check_name(request.dataset_name)
        split = _split(request)
        options = {name: getattr(request, name) for name in generate.GenerateOptions.__dataclass_fields__}
        if options["repo_url"]:
            generate.validate_repo(options["repo_url"], options["repo_branch"])
        if options["llm_url"]:
            llm_rephrase.base_url(options["llm_url"])
        if not 0 <= options["questions_per_passage"] <= 5:
            raise invalid_argument("questions_per_passage", "must be between 1 and 5 (0 = default 3)")
        if bool(options["faq_sqlite_file"]) != bool(options["faq_sqlite_query"]):
            missing = "faq_sqlite_query" if options["faq_sqlite_file"] else "faq_sqlite_file"
            raise invalid_argument(missing, "faq_sqlite_file and faq_sqlite_query go together")
        spec: dict[str, Any] = {"dataset_name": request.dataset_name, "options": options}
        if split is not None:
            spec["validation_split"] = split
        if request.project_upload_id:
            upload = find_upload(self.uploads, request.project_upload_id, "project_upload_id")
            if not await asyncio.to_thread(zipfile.is_zipfile, upload.path):
                raise invalid_argument("project_upload_id", "the upload is not a zip archive", reason="NOT_A_ZIP")
            spec["project_zip"] = str(upload.path)
        elif any(options[k] for k in PATH_OPTIONS):  # server paths: confined like every client path
            roots = self.ctx.path_roots()
            for key in PATH_OPTIONS:
                if options[key]:
                    options[key] = str(confine(options[key], key, roots))
        elif not options["repo_url"]:
            raise invalid_argument(
                "project_upload_id", "give a project zip, server paths (docs_dir, code_dir, ...) or repo_url",
                reason="NO_SOURCES",
            )  # fmt: skip
        job = await self.ctx.engine.create("generate", spec, request_id=request.request_id)
        return job_pb(job, self.ctx.engine.kinds)

    # -- reading datasets
    async def GetDatasetStats(self, request, context):
        if request.max_seq_length < 0:
            raise invalid_argument("max_seq_length", "must not be negative")
        stats = await asyncio.to_thread(self.catalog.stats, request.name, request.base_model, request.max_seq_length)
        return pb.DatasetStats(
            name=request.name, record_count=stats.record_count, message_count=stats.message_count,
            token_count=stats.token_count, token_count_method=stats.token_count_method,
            token_histogram=[pb.HistogramBucket(lower=b.lower, upper=b.upper, count=b.count) for b in stats.token_histogram],
            records_over_max_seq_length=stats.records_over_max_seq_length, max_seq_length=stats.max_seq_length,
            size_bytes=stats.size_bytes, records_by_source=stats.records_by_source,
            messages_by_role=stats.messages_by_role,
            max_record_tokens=stats.max_record_tokens, mean_record_tokens=stats.mean_record_tokens,
            preference_pairs=stats.preference_pairs,
        )  # fmt: skip

    async def PreviewDataset(self, request, context):
        records = await asyncio.to_thread(self.catalog.preview, request.name, request.count, request.validation)
        return pb.PreviewDatasetResponse(records=[_json(r) for r in records])

    async def GetDataset(self, request, context):
        return dataset_pb(self.catalog.get(request.name))

    async def ListDatasets(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "datasets")
        items, total = self.catalog.list(offset, limit)
        return pb.ListDatasetsResponse(
            datasets=[dataset_pb(i) for i in items],
            next_page_token=paging.next_token(offset, limit, len(items), total, "datasets"),
            total_size=total,
        )

    async def DeleteDataset(self, request, context):
        await asyncio.to_thread(self.catalog.delete, request.name)
        return pb.DeleteDatasetResponse()

    async def ListDatasetContacts(self, request, context):
        offset, limit = paging.page(request.page_size, request.page_token, "dataset.contacts")
        rows = await asyncio.to_thread(provenance.list_contacts, self.catalog, request.name)
        page = rows[offset : offset + limit]
        return pb.ListDatasetContactsResponse(
            contacts=[pb.DatasetContact(id=r.id, name=r.name, messages_as_user=r.messages_as_user,
                                        messages_in_groups=r.messages_in_groups, records=r.records) for r in page],
            next_page_token=paging.next_token(offset, limit, len(page), len(rows), "dataset.contacts"),
            total_size=len(rows),
        )  # fmt: skip

    async def ForgetContact(self, request, context):
        """Synchronous like ImportDataset: one pass over the dataset's files (see provenance.py)."""
        result = await asyncio.to_thread(provenance.forget_contact, self.catalog, request.name, request.contact)
        return pb.ForgetContactResponse(
            dataset=dataset_pb(result.new), previous_version=result.old.version, contact_id=result.contact_id,
            records_removed=result.records_removed, messages_removed=result.messages_removed,
            removed_digests=result.digests,
        )  # fmt: skip

    async def DownloadDataset(self, request, context):
        path = self.catalog.file(request.name, request.validation)
        filename = f"{request.name}.validation.jsonl" if request.validation else f"{request.name}.jsonl"
        async for message in send_file(path, pb.DownloadDatasetResponse, filename=filename):
            yield message
