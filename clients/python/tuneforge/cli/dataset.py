"""`tuneforge dataset ...`: turn raw data into training data from a shell.

    tuneforge dataset telegram FILE|DIR --owner NAME (--name NAME | --append-to NAME)
        [--scrub [--scrub-names]] [--exclude-contact NAME ...] [--local] [options] [--no-follow]
    tuneforge dataset import FILE --name NAME [--format F] [--skip-invalid] [--validate-only]
        [--scrub] [--local]
    tuneforge dataset generate --name NAME [--docs DIR] [--faq FILE] [--code DIR]
        [--scenarios DIR] [--escalation DIR] [--faq-sqlite DB --faq-query Q]
        [--repo URL [--branch B]] [--server-paths] [--scrub] [--llm-url URL [--llm-model M]]
    tuneforge dataset list | show NAME | stats NAME | preview NAME [-n N]
    tuneforge dataset download NAME -o FILE [--validation] | rm NAME
    tuneforge dataset contacts NAME | forget NAME --contact ID|NAME [--retrain]
    tuneforge dataset jobs | job ID | logs ID [-f] | cancel ID

Everything goes through the dataset service's gRPC API, so the commands work against a
remote server: local files and folders are uploaded (a folder is zipped here first); with
``generate``, local project folders are zipped into one upload and the server unpacks it.
``--local`` hands the server the file's path instead of uploading it (a client on the
server's host, for big exports; the server must list the folder in ``local_input_dirs``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from tuneforge.client import InvalidArgument, TuneforgeClientError, Unavailable, Unimplemented
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.cli import dataset_prefer, jobs, train_plan
from tuneforge.cli.common import (
    client_options,
    connect,
    emit,
    follow_job,
    human_size,
    job_line,
    table,
    to_dict,
)

SVC = "dataset"
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build", "dist"})
MAX_PROJECT_FILE = 2 * 1024 * 1024  # the server skips bigger source files anyway
# (option, zip folder, request field, suffixes kept; None = a single file)
PROJECT_SOURCES = (
    ("docs", "docs", "docs_dir", (".md", ".markdown")),
    ("scenarios", "scenarios", "scenarios_dir", (".md", ".txt")),
    ("escalation", "escalation", "escalation_dir", (".md", ".txt")),
    ("code", "code", "code_dir", (".py",)),
    ("faq", "faq", "faq_file", None),
    ("faq_sqlite", "faq_sqlite", "faq_sqlite_file", None),
)


def _err(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return 1


def upload_name(path: Path) -> str:
    """A file name the server accepts (letters, digits, . _ - @ +), keeping the suffix."""
    name = re.sub(r"[^A-Za-z0-9._@+-]+", "_", path.name).strip("._") or "upload"
    return name if name[0].isalnum() else f"f{name}"


def _upload(client: Any, path: Path) -> Any:
    return client.upload_file(SVC, path, filename=upload_name(path))


def zip_folder(folder: Path, dest: Path, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> int:
    """Add ``folder``'s files to the zip ``dest`` (append); hidden/build folders and links skipped."""
    count = 0
    with zipfile.ZipFile(dest, "a", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file():
                    continue
                if suffixes is not None and (path.suffix.lower() not in suffixes or path.stat().st_size > MAX_PROJECT_FILE):
                    continue
                rel = path.relative_to(folder).as_posix()
                zf.write(path, f"{prefix}/{rel}" if prefix else rel)
                count += 1
    return count


def _dataset_line(d: Any) -> str:
    val = f" + {d.validation_record_count} validation" if d.validation_record_count else ""
    return f"dataset {d.name}: {d.record_count} records{val}, {human_size(d.size_bytes)} ({d.source}, {d.format or '-'})"


def _time(ts: Any) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if ts.seconds else "-"


# ------------------------------------------------------------------ telegram
def telegram_report_text(report: dict[str, Any]) -> str:
    def counts(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {int(v)}" for k, v in sorted(d.items(), key=lambda kv: -int(kv[1]))) or "none"

    lines = [
        f"owner:     {report.get('owner') or '-'}",
        (f"chats:     {int(report.get('chats_read', 0))} read, {int(report.get('chats_used', 0))} used; "
         f"skipped: {counts(report.get('chats_skipped') or {})}"),
        f"messages:  {int(report.get('messages_read', 0))} read, {int(report.get('messages_kept', 0))} kept",
        f"dropped:   {counts(report.get('messages_dropped') or {})}",
    ]
    if report.get("voice_transcribed"):
        lines.append(f"voice:     {int(report['voice_transcribed'])} transcribed")
    if report.get("media_text_only"):
        lines.append(f"media:     {int(report['media_text_only'])} photos/files kept as their caption only (not trained on)")
    if report.get("messages_already_in_dataset"):
        lines.append(f"appended:  {int(report['messages_already_in_dataset'])} messages were already in the dataset")
    if report.get("scrubbed"):
        lines.append(f"scrubbed:  {counts(report['scrubbed'])}")
    contacts = report.get("contacts") or []
    if contacts:
        shown = ", ".join(f"{c.get('name')} {int(c.get('messages', 0))}" for c in contacts[:10])
        more = f" (+{len(contacts) - 10} more, see --json)" if len(contacts) > 10 else ""
        lines.append(f"contacts:  {shown}{more}; leave one out with --exclude-contact NAME")
    lines += [
        f"dialogs:   {int(report.get('dialogs', 0))}; dropped: {counts(report.get('dialogs_dropped') or {})}",
        (f"balance:   {int(report.get('user_turns', 0))} user / {int(report.get('assistant_turns', 0))} assistant "
         f"turns (assistant share {float(report.get('balance', 0)):.2f})"),
    ]
    return "\n".join(lines)


def _finish_job(args: argparse.Namespace, client: Any, job: Any, describe: Any) -> int:
    """Follow (unless --no-follow), then print the outcome; exit 0 only on success."""
    if args.no_follow:
        emit(args, job, f"started {job_line(job)}\nfollow with: tuneforge jobs watch {job.id} / logs {job.id} -f")
        return 0
    if args.json:
        job = client.wait_job(job.id)
        emit(args, job)
    else:
        follow_job(client, job.id)  # its last line is the job with its error, if any
        job = client.jobs.get_job(id=job.id)
        if job.state == common_pb2.Job.STATE_SUCCEEDED:
            print(describe(jobs.result_dict(job)))
    return 0 if job.state == common_pb2.Job.STATE_SUCCEEDED else 1


def _result_text(result: dict[str, Any], report_text: Any) -> str:
    ds = result.get("dataset") or {}
    head = (f"dataset {ds.get('name')}: {int(ds.get('record_count', 0))} records"
            f" + {int(ds.get('validation_record_count', 0))} validation")  # fmt: skip
    return head + "\n" + report_text(result.get("report") or {})


def _telegram(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if not path.exists():
        return _err(f"{path} does not exist")
    config = {
        "owner_name": args.owner, "owner_id": args.owner_id, "include_groups": args.include_groups,
        "include_channels": args.include_channels, "include_forwarded": args.include_forwarded,
        "include_bots": args.include_bots, "include_saved_messages": args.include_saved_messages,
        "stickers_as_emoji": args.stickers_as_emoji, "transcribe_voice": args.transcribe_voice,
        "min_dialog_messages": args.min_dialog_messages, "max_dialog_length": args.max_dialog_length,
        "max_message_length": args.max_message_length, "whisper_model": args.whisper_model,
        "whisper_language": args.language, "system_prompt": args.system_prompt,
        "output_format": args.output_format, "scrub": args.scrub, "scrub_names": args.scrub_names,
        "exclude_contacts": args.exclude_contact,
        "session_gap_seconds": int(args.session_gap_hours * 3600) if args.session_gap_hours else 0,
    }  # fmt: skip
    config = {k: v for k, v in config.items() if v}
    if args.validation_split == 0:
        config["no_validation_split"] = True  # a 0 in validation_split would read as unset
    elif args.validation_split is not None:
        config["validation_split"] = args.validation_split
    if bool(args.name) == bool(args.append_to):
        return _err("give --name (a new dataset) or --append-to (an existing one)")
    target = {"dataset_name": args.name} if args.name else {"append_to": args.append_to}
    client = connect(args)
    if args.local:
        if not path.is_file():
            return _err("--local takes a file (result.json or a zip), not a folder")
        job = client.dataset.process_telegram_export(local_path=str(path.resolve()), config=config, **target)
        return _finish_job(args, client, job, lambda r: _result_text(r, telegram_report_text))
    with tempfile.TemporaryDirectory(prefix="tuneforge-telegram-") as tmp:
        if path.is_dir():
            if not (path / "result.json").is_file() and not any(path.rglob("result.json")):
                return _err(f"{path} holds no result.json (export the chat as JSON from Telegram Desktop)")
            archive = Path(tmp) / f"{upload_name(path)}.zip"
            zip_folder(path, archive, prefix=path.resolve().name)
            path = archive
        up = _upload(client, path)
    job = client.dataset.process_telegram_export(upload_id=up.id, config=config, **target)
    return _finish_job(args, client, job, lambda r: _result_text(r, telegram_report_text))


# ------------------------------------------------------------------ import
def _error_line(e: Any) -> str:
    col = f", column {e.column}" if e.column else ""
    rec = f" (record {e.index})" if e.index and e.index != e.line else ""  # JSON arrays, multi-line CSV rows
    return f"line {e.line}{col}{rec}: {e.code}: {e.message}"


def import_notes(report: Any) -> list[str]:
    """Warnings (images not trained on, tool calls carried, ...) and scrub counts, one a line."""
    lines = [f"warning: {w.message} ({w.code}: {w.count})" for w in report.warnings]
    if report.HasField("scrubbed"):
        s = report.scrubbed
        lines.append(f"scrubbed: phones {s.phones}, e-mails {s.emails}, cards {s.cards}, IBANs {s.ibans}, names {s.names}")
    return lines


def _import(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if not path.is_file():
        return _err(f"{path} is not a file")
    if not args.name and not args.validate_only:
        return _err("--name is required (or --validate-only)")
    client = connect(args)
    source = {"local_path": str(path.resolve())} if args.local else {"upload_id": _upload(client, path).id}
    request: dict[str, Any] = {**source, "dataset_name": args.name or "", "format": args.format,
                               "skip_invalid": args.skip_invalid, "validate_only": args.validate_only,
                               "preview_size": args.preview, "scrub": args.scrub}  # fmt: skip
    if args.validation_split is not None:
        request["validation_split"] = args.validation_split
    if args.max_record_chars:
        request["max_record_chars"] = args.max_record_chars
    try:
        resp = client.dataset.import_dataset(**request)
    except InvalidArgument as exc:
        if exc.reason != "DATASET_INVALID":
            raise
        # The status carries the first errors only; the full report comes from validate_only.
        try:
            report = client.dataset.import_dataset(**source, format=args.format, validate_only=True).report
        except InvalidArgument:
            raise exc from None
        if args.json:
            emit(args, {"error": {"reason": exc.reason, "message": exc.message}, "report": to_dict(report)})
        else:
            for e in report.errors:
                print(_error_line(e), file=sys.stderr)
            listed = f" (the first {len(report.errors)} listed)" if len(report.errors) < report.records_invalid else ""
            counts = ", ".join(f"{k} {v}" for k, v in sorted(report.error_counts.items()))
            print(f"error: {report.records_invalid} of {report.records_read} records are invalid{listed}: {counts}; "
                  "nothing was imported (--skip-invalid keeps the valid records)", file=sys.stderr)  # fmt: skip
        return 1
    report = resp.report
    if args.json:
        emit(args, resp)
    else:
        for e in report.errors:
            print(("skipped " if args.skip_invalid else "") + _error_line(e), file=sys.stderr)
        for line in import_notes(report):
            print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
        print(f"format {report.detected_format}: {report.records_read} records read, {report.records_valid} valid, "
              f"{report.records_invalid} invalid")  # fmt: skip
        if resp.HasField("dataset"):
            print(_dataset_line(resp.dataset))
        elif args.validate_only:
            print("validate only: nothing imported")
    return 1 if args.validate_only and report.records_invalid else 0


# ------------------------------------------------------------------ generate
def generate_report_text(report: dict[str, Any]) -> str:
    by_source = report.get("records_by_source") or {}
    files = report.get("files_by_source") or {}
    rows = "; ".join(f"{k} {int(v)} from {int(files.get(k, 0))} files" for k, v in sorted(by_source.items()))
    text = f"records:   {int(report.get('records', 0))} ({rows or 'none'}), {int(report.get('duplicates', 0))} duplicates dropped"
    if report.get("passages"):
        text += f"\npassages:  {int(report['passages'])} doc passages asked about"
        if report.get("code_blocks_skipped"):
            text += f", {int(report['code_blocks_skipped'])} code blocks over the budget left out"
    if report.get("scrubbed"):
        text += "\nscrubbed:  " + ", ".join(f"{k} {int(v)}" for k, v in sorted(report["scrubbed"].items()))
    if report.get("llm_rephrased") or report.get("llm_kept_original"):
        text += (f"\nllm:       {int(report.get('llm_rephrased', 0))} passages rephrased, "
                 f"{int(report.get('llm_kept_original', 0))} kept as generated (reply not usable)")  # fmt: skip
    errors = report.get("file_errors") or []
    return text + "".join(f"\nskipped:   {e}" for e in errors)


def _generate(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"dataset_name": args.name, "system_prompt": args.system_prompt or "",
                               "repo_url": args.repo or "", "repo_branch": args.branch or "",
                               "faq_sqlite_query": args.faq_query or "", "scrub": args.scrub,
                               "llm_url": args.llm_url or "", "llm_model": args.llm_model or "",
                               "questions_per_passage": args.questions or 0}  # fmt: skip
    if args.validation_split is not None:
        request["validation_split"] = args.validation_split
    given = [(opt, folder, field, sfx, getattr(args, opt)) for opt, folder, field, sfx in PROJECT_SOURCES if getattr(args, opt)]
    if not given and not args.repo:
        return _err("give at least one source: --docs, --faq, --code, --scenarios, --escalation, --faq-sqlite or --repo")
    client = connect(args)
    if args.server_paths:
        request.update({field: value for _, _, field, _, value in given})
        job = client.dataset.generate_dataset(**request)
        return _finish_job(args, client, job, lambda r: _result_text(r, generate_report_text))
    with tempfile.TemporaryDirectory(prefix="tuneforge-project-") as tmp:
        archive = Path(tmp) / "project.zip"
        for opt, folder, field, suffixes, value in given:
            local = Path(value).expanduser()
            if suffixes is None:
                if not local.is_file():
                    return _err(f"--{opt.replace('_', '-')}: {local} is not a file")
                with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as zf:
                    zf.write(local, f"{folder}/{upload_name(local)}")
                request[field] = f"{folder}/{upload_name(local)}"
            else:
                if not local.is_dir():
                    return _err(f"--{opt}: {local} is not a directory")
                zip_folder(local, archive, prefix=folder, suffixes=suffixes)
                request[field] = folder
        if archive.exists():
            request["project_upload_id"] = _upload(client, archive).id
    job = client.dataset.generate_dataset(**request)
    return _finish_job(args, client, job, lambda r: _result_text(r, generate_report_text))


# ------------------------------------------------------------------ reading
def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    items = list(client.iter_pages(client.dataset.list_datasets, "datasets"))
    if args.json:
        emit(args, {"datasets": [to_dict(d) for d in items]})
    elif not items:
        print("no datasets")
    else:
        rows = [[d.name, d.source, d.format or "-", d.record_count, d.validation_record_count,
                 human_size(d.size_bytes), _time(d.create_time)] for d in items]  # fmt: skip
        print(table(rows, ["NAME", "SOURCE", "FORMAT", "RECORDS", "VALIDATION", "SIZE", "CREATED"]))
    return 0


def _show(args: argparse.Namespace) -> int:
    d = connect(args).dataset.get_dataset(name=args.name)
    which = d.WhichOneof("report")
    report = json.dumps(to_dict(getattr(d, which)), ensure_ascii=False, indent=2) if which else "{}"
    version = f"version {d.version}  sha256 {d.sha256 or '-'}\n" if d.version else ""
    emit(args, d, f"{_dataset_line(d)}\n{version}created {_time(d.create_time)}  job {d.job_id or '-'}\npath {d.path}\n"
                  f"report {report}")
    return 0


def stats_text(s: Any) -> str:
    lines = [
        f"records:   {s.record_count}   messages: {s.message_count}   size: {human_size(s.size_bytes)}",
        f"tokens:    {s.token_count} ({s.token_count_method})",
        f"over max_seq_length {s.max_seq_length}: {s.records_over_max_seq_length} records",
    ]
    if s.preference_pairs:  # DPO / ORPO data: each pair sized by its prompt + longer reply
        lines.append(f"preference pairs: {s.preference_pairs} (train with --set method=dpo|orpo)")
    if s.messages_by_role:
        lines.append("by role:   " + ", ".join(f"{k} {v}" for k, v in sorted(s.messages_by_role.items())))
    if s.records_by_source:
        lines.append("by source: " + ", ".join(f"{k} {v}" for k, v in sorted(s.records_by_source.items())))
    if s.token_histogram:
        top = max(b.count for b in s.token_histogram) or 1
        lines.append("tokens per record:")
        lines += [f"  {b.lower:>6}-{b.upper:<6} {b.count:>7} {'#' * max(1, round(30 * b.count / top)) if b.count else ''}"
                  for b in s.token_histogram]  # fmt: skip
    return "\n".join(lines)


def _stats(args: argparse.Namespace) -> int:
    client = connect(args)
    plan = _truncation_plan(client, args) if args.base_model else None
    max_seq_length = args.max_seq_length or (plan.config.max_seq_length if plan else 0)
    s = client.dataset.get_dataset_stats(name=args.name, base_model=args.base_model or "",
                                         max_seq_length=max_seq_length)  # fmt: skip
    if plan is None:
        emit(args, s, stats_text(s))
        return 0
    data = {**to_dict(s), "truncation": to_dict(plan.truncation)}
    emit(args, data, f"{stats_text(s)}\n{train_plan.truncation_text(plan.truncation)}")
    return 0


def _truncation_plan(client: Any, args: argparse.Namespace) -> Any:
    """The trainer's plan for a chat dataset, for its truncation report: the training job's own
    encoding (chat template, assistant tokens), as the job and `train plan` count it. None for
    preference data (TRL tokenizes it), or when the trainer cannot give one (why: on stderr)."""
    d = client.dataset.get_dataset(name=args.name)
    if d.format.startswith("preference") or d.format == "kto":
        return None
    config = {k: v for k, v in (("max_seq_length", args.max_seq_length),
                                ("truncation", args.truncation)) if v}
    try:
        return client.trainer.plan_training(
            dataset=args.name, base_model=args.base_model, config=config,
            warmup=trainer_pb2.PlanTrainingRequest.Warmup.WARMUP_SKIP)
    except (Unavailable, Unimplemented) as exc:
        print(f"no truncation report: the trainer service did not answer ({exc})", file=sys.stderr)
        return None
    except TuneforgeClientError as exc:  # e.g. records training would refuse: said, stats still shown
        print(f"no truncation report: {exc}", file=sys.stderr)
        return None


def _preview(args: argparse.Namespace) -> int:
    resp = connect(args).dataset.preview_dataset(name=args.name, count=args.n, validation=args.validation)
    if args.tokens:
        return _preview_tokens(args, [json.loads(r) for r in resp.records])
    if args.json:
        emit(args, {"records": [json.loads(r) for r in resp.records]})
    else:
        for r in resp.records:
            print(r)
    return 0


def _preview_tokens(args: argparse.Namespace, records: list[dict]) -> int:
    from tuneforge.cli import token_view

    if not args.base_model:
        raise SystemExit("--tokens needs --base-model (the model whose tokenizer and chat template train)")
    views = token_view.token_views(records, args.base_model, args.max_seq_length or 4096)
    if args.json:
        emit(args, {"records": [{"index": v["index"], "error": v.get("error", ""),
                                 "samples": [{**token_view.summary(s), "tokens": [{"text": t, "trained": on} for t, on in s]}
                                             for s in v.get("samples", [])]} for v in views]})
        return 0
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for view in views:
        if "error" in view:
            print(f"record {view['index']}: {view['error']}")
            continue
        for n, sample in enumerate(view["samples"]):
            info = token_view.summary(sample)
            part = f" sample {n}" if len(view["samples"]) > 1 else ""
            print(f"record {view['index']}{part}: {info['tokens']} tokens, {info['trained_tokens']} trained "
                  f"({info['trained_percent']}%){'' if colour else ', trained ones in [brackets]'}")
            print(token_view.render_sample(sample, colour))
    return 0


def _download(args: argparse.Namespace) -> int:
    client = connect(args)
    out = Path(args.output).expanduser()
    if out.is_dir():
        out = out / (f"{args.name}.validation.jsonl" if args.validation else f"{args.name}.jsonl")
    client.download(client.dataset.download_dataset(name=args.name, validation=args.validation), out)
    size = out.stat().st_size
    emit(args, {"name": args.name, "path": str(out), "size_bytes": size}, f"saved {args.name} to {out} ({human_size(size)})")
    return 0


def _contacts(args: argparse.Namespace) -> int:
    client = connect(args)
    items = list(client.iter_pages(client.dataset.list_dataset_contacts, "contacts", name=args.name))
    if args.json:
        emit(args, {"contacts": [to_dict(c) for c in items]})
    elif not items:
        print(f"no contacts in {args.name}")
    else:
        rows = [[c.id, c.name or "-", c.messages_as_user, c.messages_in_groups, c.records] for c in items]
        print(table(rows, ["ID", "NAME", "AS USER", "IN GROUPS", "RECORDS"]))
    return 0


def _forget(args: argparse.Namespace) -> int:
    """The dataset's next version without the contact, the adapters marked (tuneforge.client.forget)."""
    client = connect(args)
    outcome = client.forget_contact(args.name, args.contact, retrain=args.retrain)
    f, r = outcome.forget, outcome.retract
    lines = [f"{args.name}: removed {f.messages_removed} messages of {f.contact_id} "
             f"({f.records_removed} records); now v{f.dataset.version} with {f.dataset.record_count} records "
             f"(v{f.previous_version} and earlier are gone)"]
    if r.marked:
        lines.append("adapters trained on the old data, marked (activation needs --force):")
        lines += [f"  {e.adapter_name} v{e.version} (dataset v{e.dataset_version})" + ("" if e.current else "  [replaced since]")
                  for e in r.marked]
    else:
        lines.append("no adapter was trained on the old data")
    if r.samples_redacted:
        lines.append(f"{r.samples_redacted} evaluation samples holding their messages deleted")
    lines += [f"retraining {old}: job {job.id} -> adapter {old}-ds{f.dataset.version}" for old, job in outcome.retrain_jobs]
    if args.retrain and not outcome.retrain_jobs and r.marked:
        lines.append("nothing to retrain: no marked adapter's current version came from a training job")
    emit(args, {"forget": to_dict(f), "retract": to_dict(r),
                "retrain_jobs": [{"adapter": a, "job_id": j.id} for a, j in outcome.retrain_jobs]}, "\n".join(lines))
    return 0


def _rm(args: argparse.Namespace) -> int:
    connect(args).dataset.delete_dataset(name=args.name)
    emit(args, {"deleted": args.name}, f"deleted {args.name}")
    return 0


# ------------------------------------------------------------------ parser
def _add_telegram(cmds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = cmds.add_parser("telegram", parents=[common], help="turn a Telegram Desktop export into a dialog dataset (a job)")
    p.add_argument("file", help="result.json, a zip of the export folder, or the export folder (zipped here)")
    p.add_argument("--name", default="", help="dataset to create")
    p.add_argument("--append-to", default="", metavar="NAME",
                   help="add only messages not in this Telegram dataset yet (a newer export of the same account)")
    p.add_argument("--owner", default="", help="display name whose messages become the assistant turns")
    p.add_argument("--owner-id", default="", help="or the owner's from_id (user123 or 123)")
    p.add_argument("--include-groups", action="store_true", help="also use group chats")
    p.add_argument("--include-channels", action="store_true")
    p.add_argument("--include-bots", action="store_true")
    p.add_argument("--include-saved-messages", action="store_true")
    p.add_argument("--include-forwarded", action="store_true", help="keep forwarded messages")
    p.add_argument("--stickers-as-emoji", action="store_true", help="turn stickers into their emoji")
    p.add_argument("--min-dialog-messages", type=int, default=0, help="default 2")
    p.add_argument("--max-dialog-length", type=int, default=0, help="messages per dialog; default 20")
    p.add_argument("--max-message-length", type=int, default=0, help="characters; default 2000")
    p.add_argument("--session-gap-hours", type=float, default=0, help="new dialog after this much silence; default 6")
    p.add_argument("--transcribe-voice", action="store_true", help="transcribe voice/video messages (faster-whisper)")
    p.add_argument("--whisper-model", default="", help="tiny, base, small, ... or a model directory on the server")
    p.add_argument("--language", default="", help="transcription language, e.g. ru (default: detect)")
    p.add_argument("--system-prompt", default="")
    p.add_argument("--output-format", default="", choices=["", "messages", "sharegpt"])
    p.add_argument("--validation-split", type=float, default=None, help="share held out; default 0.1; 0 = none")
    p.add_argument("--scrub", action="store_true",
                   help="replace phone numbers, e-mails, card numbers and IBANs with <PHONE>, <EMAIL>, ...")
    p.add_argument("--scrub-names", action="store_true", help="also replace contacts' names with <NAME>")
    p.add_argument("--exclude-contact", action="append", default=[], metavar="NAME",
                   help="leave out the chat with this person (repeatable; the report lists contacts)")
    p.add_argument("--local", action="store_true", help="hand the server this file's path instead of uploading it")
    p.add_argument("--no-follow", action="store_true", help="start the job and return")
    p.set_defaults(func=_telegram)


def add_parser(sub: argparse._SubParsersAction) -> None:
    common = client_options()
    group = sub.add_parser("dataset", help="datasets: Telegram exports, import, generation, stats")
    cmds = group.add_subparsers(dest="dataset_command", required=True, metavar="COMMAND")

    _add_telegram(cmds, common)
    dataset_prefer.add_command(cmds, common)  # prefer NAME --from-eval REPORT

    p = cmds.add_parser("import", parents=[common], help="import a dataset file in any common format")
    p.add_argument("file", help="JSONL, JSON array, CSV, Parquet or text")
    p.add_argument("--name", default="", help="dataset to create")
    p.add_argument("--format", default="auto", help="auto (default), alpaca, prompt_completion, messages, sharegpt, "
                   "text, vertex, instruction_output, question_answer, text_label, csv, parquet")  # fmt: skip
    p.add_argument("--skip-invalid", action="store_true", help="keep the valid records, report the bad ones")
    p.add_argument("--validate-only", action="store_true", help="only validate; exit 1 if any record is invalid")
    p.add_argument("--validation-split", type=float, default=None, help="default 0.1; 0 = none")
    p.add_argument("--max-record-chars", type=int, default=0)
    p.add_argument("--scrub", action="store_true",
                   help="replace phone numbers, e-mails, card numbers and IBANs with <PHONE>, <EMAIL>, ...")
    p.add_argument("--local", action="store_true", help="hand the server this file's path instead of uploading it")
    p.add_argument("--preview", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=_import)

    p = cmds.add_parser("generate", parents=[common], help="generate a dataset from a project (a job)")
    p.add_argument("--name", required=True, help="dataset to create")
    p.add_argument("--docs", help="markdown docs folder")
    p.add_argument("--faq", help="FAQ file (CSV or JSON with question/answer)")
    p.add_argument("--code", help="Python code folder")
    p.add_argument("--scenarios", help="folder of scenario dialogs (User:/Assistant: lines)")
    p.add_argument("--escalation", help="folder of escalation templates")
    p.add_argument("--faq-sqlite", dest="faq_sqlite", help="SQLite database holding a FAQ")
    p.add_argument("--faq-query", help="query returning (question, answer) rows")
    p.add_argument("--repo", help="git repository (https:// or file://), cloned on the server")
    p.add_argument("--branch", help="branch of --repo")
    p.add_argument("--system-prompt", default="")
    p.add_argument("--validation-split", type=float, default=None, help="default 0.1; 0 = none")
    p.add_argument("--server-paths", action="store_true", help="the paths are on the server: send them, upload nothing")
    p.add_argument("--scrub", action="store_true", help="replace personal data with placeholders")
    p.add_argument("--llm-url", help="OpenAI-compatible endpoint (your vLLM) that rephrases questions and answers")
    p.add_argument("--llm-model", help="model name for --llm-url (default: the first it lists)")
    p.add_argument("--questions", type=int, default=0, help="phrasings per doc passage, 1-5 (default 3)")
    p.add_argument("--no-follow", action="store_true", help="start the job and return")
    p.set_defaults(func=_generate)

    cmds.add_parser("list", parents=[common], help="all datasets").set_defaults(func=_list)
    p = cmds.add_parser("show", parents=[common], help="one dataset with its source report")
    p.add_argument("name")
    p.set_defaults(func=_show)
    p = cmds.add_parser("stats", parents=[common], help="records, messages, tokens, length histogram")
    p.add_argument("name")
    p.add_argument("--base-model", default="", help="count with this model's tokenizer (local dir or cached id)")
    p.add_argument("--max-seq-length", type=int, default=0,
                   help="count records longer than this; default 2048 (with --base-model: the training default)")
    p.add_argument("--truncation", default="", choices=("", "truncate", "split_turns", "drop"),
                   help="with --base-model: the policy the truncation report is for (default: the training default)")
    p.set_defaults(func=_stats)
    p = cmds.add_parser("preview", parents=[common], help="the first records as JSON lines")
    p.add_argument("name")
    p.add_argument("-n", type=int, default=5, help="how many (max 100)")
    p.add_argument("--validation", action="store_true", help="from the validation split")
    p.add_argument("--tokens", action="store_true", help="show each record's tokens, the trained ones marked")
    p.add_argument("--base-model", default="", help="with --tokens: the model whose tokenizer and template train")
    p.add_argument("--max-seq-length", type=int, default=0, help="with --tokens: truncate as training would")
    p.set_defaults(func=_preview)
    p = cmds.add_parser("download", parents=[common], help="save a dataset's JSONL")
    p.add_argument("name")
    p.add_argument("-o", "--output", required=True, help="file or directory")
    p.add_argument("--validation", action="store_true", help="the validation split instead")
    p.set_defaults(func=_download)
    p = cmds.add_parser("contacts", parents=[common], help="the people whose messages a dataset holds")
    p.add_argument("name")
    p.set_defaults(func=_contacts)
    p = cmds.add_parser("forget", parents=[common],
                        help="remove a person's messages (a new version) and mark the adapters trained on them")
    p.add_argument("name")
    p.add_argument("--contact", required=True, metavar="ID|NAME", help="as `dataset contacts` lists it")
    p.add_argument("--retrain", action="store_true",
                   help="queue the marked adapters' training config on the new version (as ADAPTER-dsN)")
    p.set_defaults(func=_forget)
    p = cmds.add_parser("rm", parents=[common], help="delete a dataset")
    p.add_argument("name")
    p.set_defaults(func=_rm)

    cmds.add_parser("jobs", parents=[common], help="dataset jobs (= jobs list --service dataset)").set_defaults(
        func=lambda args: jobs.list_jobs(args, service=SVC))
    jobs.add_job_command(cmds, common, "job", jobs.show_job, "one job with its result (= jobs show)")
    jobs.add_job_command(cmds, common, "cancel", jobs.cancel_job, "stop a job (= jobs cancel)")
    jobs.add_job_command(cmds, common, "logs", jobs.job_logs, "a job's log lines (= jobs logs)", follow=True)
