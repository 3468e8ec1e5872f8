"""`tuneforge jobs ...`: every job, whatever service made it, through tuneforge.jobs.v1.JobService.

    tuneforge jobs list [--service S] [--kind K] [--state S]
    tuneforge jobs show JOB | watch JOB | logs JOB [-f] | cancel JOB
    tuneforge jobs metrics JOB | checkpoints JOB

``train``, ``dataset`` and ``tts`` keep their create commands and alias these (``train
status JOB`` = ``jobs show JOB``, ``train list`` = ``jobs list --service trainer``, ...).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from tuneforge.client import job_params, job_result
from tuneforge.common.v1 import common_pb2

from tuneforge.cli.common import client_options, connect, emit, follow_job, job_line, print_log_lines, table, to_dict

STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def state_name(job: Any) -> str:
    return common_pb2.Job.State.Name(job.state).removeprefix("STATE_")


def result_dict(job: Any) -> dict[str, Any]:
    """The typed result as a dict (for text output); {} while there is none."""
    result = job_result(job)
    return MessageToDict(result, preserving_proto_field_name=True) if result is not None else {}


def _target(job: Any) -> str:
    params = job_params(job)
    for name in ("adapter_name", "dataset_name", "model_name"):
        if params is not None and name in params.DESCRIPTOR.fields_by_name and getattr(params, name):
            return getattr(params, name)
    return "-"


def list_jobs(args: argparse.Namespace, service: str = "") -> int:
    client = connect(args)
    state = getattr(common_pb2.Job, f"STATE_{args.state.upper()}") if getattr(args, "state", "") else 0
    jobs = list(client.iter_pages(client.jobs.list_jobs, "jobs", service=service or getattr(args, "service", ""),
                                  kind=getattr(args, "kind", ""), state=state))  # fmt: skip
    if args.json:
        emit(args, {"jobs": [to_dict(j) for j in jobs]})
    elif not jobs:
        print("no jobs")
    else:
        rows = []
        for j in jobs:
            loss = f"{j.metrics.loss:.4g}" if j.metrics.HasField("loss") else "-"
            progress = f"{j.progress.step}/{j.progress.total}" if j.progress.total else "-"
            rows.append([j.id, j.service, j.kind, _state_cell(j), _target(j), progress, loss, j.error_reason or ""])
        print(table(rows, ["ID", "SERVICE", "KIND", "STATE", "TARGET", "STEP", "LOSS", "REASON"]))
    return 0


def _state_cell(job: Any) -> str:
    """The state, with the place in the queue for a queued job ("QUEUED #2": one ahead)."""
    state = state_name(job)
    return f"{state} #{job.queue_position}" if job.state == common_pb2.Job.STATE_QUEUED and job.queue_position else state


def show_job(args: argparse.Namespace, describe: Callable[[Any], str] | None = None) -> int:
    job = connect(args).jobs.get_job(id=args.job_id)
    if describe is not None:
        text = describe(job)
    else:
        text = job_line(job)
        result = result_dict(job)
        if result:
            text += "\n" + json.dumps(result, ensure_ascii=False, indent=2)
    if job.error_message and job.error_message not in text:
        text += "\n" + job.error_message
    emit(args, job, text)
    return 0


def watch_job(args: argparse.Namespace) -> int:
    return follow_job(connect(args), args.job_id, args.json)


def job_logs(args: argparse.Namespace) -> int:
    return print_log_lines(connect(args).jobs.stream_job_logs(id=args.job_id, follow=args.follow), args.json)


def cancel_job(args: argparse.Namespace, note: str = "") -> int:
    job = connect(args).jobs.cancel_job(id=args.job_id)
    emit(args, job, job_line(job) + (f"\n{note}" if note else ""))
    return 0


def job_metrics(args: argparse.Namespace) -> int:
    series = connect(args).jobs.list_job_metrics(id=args.job_id).metrics
    if args.json:
        emit(args, {"metrics": [to_dict(m) for m in series]})
        return 0
    rows = []
    for m in series:
        cells = [f"{getattr(m, n):.4g}" if m.HasField(n) else "-" for n in ("loss", "eval_loss", "learning_rate", "tokens_per_second")]
        rows.append([m.step, f"{m.epoch:.2f}", *cells])
    print(table(rows, ["STEP", "EPOCH", "LOSS", "EVAL_LOSS", "LR", "TOKENS/S"]) if rows else "no metrics yet")
    return 0


def job_checkpoints(args: argparse.Namespace) -> int:
    points = connect(args).jobs.list_job_checkpoints(id=args.job_id).checkpoints
    if args.json:
        emit(args, {"checkpoints": [to_dict(c) for c in points]})
    else:
        print(table([[c.step, c.path] for c in points], ["STEP", "PATH"]) if points else "no checkpoints")
    return 0


def add_job_command(cmds: Any, parent: argparse.ArgumentParser, name: str, func: Callable[[argparse.Namespace], int],
                    help_text: str, follow: bool = False) -> argparse.ArgumentParser:
    """One ``NAME JOB`` command (shared by ``jobs`` and the per-service aliases)."""
    p = cmds.add_parser(name, parents=[parent], help=help_text)
    p.add_argument("job_id", metavar="JOB")
    if follow:
        p.add_argument("-f", "--follow", action="store_true", help="keep following until the job ends")
    p.set_defaults(func=func)
    return p


def add_parser(sub: argparse._SubParsersAction) -> None:
    common = client_options()
    group = sub.add_parser("jobs", help="every job: list, show, watch, logs, cancel, metrics, checkpoints")
    cmds = group.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("list", parents=[common], help="jobs, newest first")
    p.add_argument("--service", default="", choices=["", "dataset", "trainer", "tts"])
    p.add_argument("--kind", default="", help="telegram, generate, train, merge, transcribe, tts_prepare, tts_train, tts_synthesize")
    p.add_argument("--state", default="", choices=["", *STATES])
    p.set_defaults(func=list_jobs)
    add_job_command(cmds, common, "show", show_job, "a job's state, progress and result")
    add_job_command(cmds, common, "watch", watch_job, "follow a job's progress until it ends")
    add_job_command(cmds, common, "logs", job_logs, "a job's log lines", follow=True)
    add_job_command(cmds, common, "cancel", cancel_job, "stop a job (training saves a checkpoint first)")
    add_job_command(cmds, common, "metrics", job_metrics, "the metric series (loss curve)")
    add_job_command(cmds, common, "checkpoints", job_checkpoints, "checkpoints a job left")
