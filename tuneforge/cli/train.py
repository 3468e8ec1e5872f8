"""`tuneforge train ...`: LoRA / QLoRA training jobs from a shell.

    tuneforge train start --dataset D --base-model M [--preset quick|standard|thorough]
        [--set key=value ...] --name A [--follow] [--no-register]
    tuneforge train list | status JOB | logs JOB [-f] | stop JOB
    tuneforge train resume JOB [--checkpoint C] [--follow]
    tuneforge train metrics JOB [--json] | checkpoints JOB
    tuneforge train merge ADAPTER -o DIR [--base-model M] [--follow]
    tuneforge train config show | set key=value ... | reset

Everything goes through the trainer's gRPC API. ``resume JOB`` starts a new job with the old
job's dataset, base model, config and adapter name, from its last checkpoint (or ``--checkpoint
N`` / ``checkpoint-N``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tuneforge.common.v1 import common_pb2

from tuneforge.cli.common import (
    client_options,
    connect,
    emit,
    follow_job,
    job_line,
    table,
    to_dict,
    print_log_lines,
)

SVC = "trainer"


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: --set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _state(job: Any) -> str:
    return common_pb2.Job.State.Name(job.state).removeprefix("STATE_")


def _outcome(job: Any) -> str:
    result = to_dict(job.result)
    lines = [job_line(job)]
    if job.kind == "train" and result.get("adapter_dir"):
        lines.append(f"adapter: {result['adapter_dir']}")
        loss = result.get("train_loss")
        if loss is not None:
            lines.append(f"train loss {loss:.4g}, steps {int(result.get('global_step') or 0)}")
        reg = result.get("registration") or {}
        if reg:
            extra = f" (version {int(reg['version'])})" if reg.get("version") else ""
            msg = f": {reg['message']}" if reg.get("message") and reg.get("state") != "REGISTERED" else ""
            lines.append(f"registration: {reg.get('state')}{extra}{msg}")
    elif job.kind == "merge" and result.get("output_dir"):
        lines.append(f"merged model: {result['output_dir']}")
    if job.last_checkpoint and job.state != common_pb2.Job.STATE_SUCCEEDED:
        lines.append(f"last checkpoint: {job.last_checkpoint} (resume with: tuneforge train resume {job.id})")
    return "\n".join(lines)


def _finish(args: argparse.Namespace, client: Any, job: Any) -> int:
    if not getattr(args, "follow", False):
        emit(args, job, f"started {job_line(job)}\nfollow with: tuneforge train status {job.id} / logs {job.id} -f")
        return 0
    if args.json:
        job = client.wait_job(SVC, job.id)
        emit(args, job)
    else:
        follow_job(client, SVC, job.id)
        job = client.trainer.get_training_job(id=job.id)
        print(_outcome(job))
    return 0 if job.state == common_pb2.Job.STATE_SUCCEEDED else 1


# ------------------------------------------------------------------ jobs
def _start(args: argparse.Namespace) -> int:
    client = connect(args)
    request: dict[str, Any] = {
        "dataset": args.dataset, "base_model": args.base_model, "preset": args.preset,
        "config": _parse_sets(args.set), "adapter_name": args.name, "resume_from": args.resume_from or "",
    }  # fmt: skip
    if args.no_register:
        request["register"] = False
    return _finish(args, client, client.trainer.create_training_job(**request))


def _resume(args: argparse.Namespace) -> int:
    client = connect(args)
    old = client.trainer.get_training_job(id=args.job_id)
    params = to_dict(old.params)
    target = old.id
    if args.checkpoint:
        ckpt = args.checkpoint.strip()
        target = f"{old.id}/{ckpt if ckpt.startswith('checkpoint-') else 'checkpoint-' + ckpt}"
    config = {k: _text(v) for k, v in (params.get("config") or {}).items()}
    request: dict[str, Any] = {
        "dataset": params.get("dataset_name", ""), "base_model": params.get("base_model", ""),
        "preset": params.get("preset", ""), "config": config, "adapter_name": params.get("adapter_name", ""),
        "resume_from": target,
    }  # fmt: skip
    if params.get("register") is False:
        request["register"] = False
    return _finish(args, client, client.trainer.create_training_job(**request))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    jobs = list(client.iter_pages(client.trainer.list_training_jobs, "jobs"))
    if args.json:
        emit(args, {"jobs": [to_dict(j) for j in jobs]})
    elif not jobs:
        print("no training jobs")
    else:
        rows = []
        for j in jobs:
            loss = f"{j.metrics.loss:.4g}" if j.metrics.HasField("loss") else "-"
            progress = f"{j.progress.step}/{j.progress.total}" if j.progress.total else "-"
            adapter = j.params["adapter_name"] if "adapter_name" in j.params else "-"  # noqa: SIM401 (a Struct has no .get)
            rows.append([j.id, j.kind, _state(j), adapter, progress, loss, j.error_reason or ""])
        print(table(rows, ["ID", "KIND", "STATE", "ADAPTER", "STEP", "LOSS", "REASON"]))
    return 0


def _status(args: argparse.Namespace) -> int:
    job = connect(args).trainer.get_training_job(id=args.job_id)
    emit(args, job, _outcome(job) + ("\n" + job.error_message if job.error_message and job.error_message not in job_line(job) else ""))
    return 0


def _logs(args: argparse.Namespace) -> int:
    return print_log_lines(connect(args).trainer.stream_training_job_logs(id=args.job_id, follow=args.follow), args.json)


def _stop(args: argparse.Namespace) -> int:
    job = connect(args).trainer.cancel_training_job(id=args.job_id)
    emit(args, job, f"{job_line(job)}\nstopping: the worker saves a checkpoint, then exits")
    return 0


def _metrics(args: argparse.Namespace) -> int:
    series = connect(args).trainer.list_training_job_metrics(id=args.job_id).metrics
    if args.json:
        emit(args, {"metrics": [to_dict(m) for m in series]})
        return 0
    rows = []
    for m in series:
        cells = [f"{getattr(m, n):.4g}" if m.HasField(n) else "-" for n in ("loss", "eval_loss", "learning_rate", "tokens_per_second")]
        rows.append([m.step, f"{m.epoch:.2f}", *cells])
    print(table(rows, ["STEP", "EPOCH", "LOSS", "EVAL_LOSS", "LR", "TOKENS/S"]) if rows else "no metrics yet")
    return 0


def _checkpoints(args: argparse.Namespace) -> int:
    points = connect(args).trainer.list_checkpoints(id=args.job_id).checkpoints
    if args.json:
        emit(args, {"checkpoints": [to_dict(c) for c in points]})
    else:
        print(table([[c.step, c.path] for c in points], ["STEP", "PATH"]) if points else "no checkpoints")
    return 0


def _merge(args: argparse.Namespace) -> int:
    client = connect(args)
    job = client.trainer.merge_adapter(adapter_name=args.adapter, output_dir=args.output or "",
                                       base_model=args.base_model or "")  # fmt: skip
    return _finish(args, client, job)


# ------------------------------------------------------------------ config
def _config_text(info: Any) -> str:
    rows = [[k, info.config[k], info.help.get(k, "")] for k in info.config]
    presets = "\n".join(
        f"  {p.name:<9} {p.description} ({', '.join(f'{k}={v}' for k, v in p.values.items())})" for p in info.presets
    )
    return f"{table(rows, ['KEY', 'VALUE', 'HELP'])}\n\npresets (default {info.default_preset}):\n{presets}"


def _config_show(args: argparse.Namespace) -> int:
    info = connect(args).trainer.get_training_config()
    emit(args, info, _config_text(info))
    return 0


def _config_set(args: argparse.Namespace) -> int:
    info = connect(args).trainer.update_training_config(values=_parse_sets(args.values))
    emit(args, info, _config_text(info))
    return 0


def _config_reset(args: argparse.Namespace) -> int:
    info = connect(args).trainer.update_training_config(reset=True)
    emit(args, info, _config_text(info))
    return 0


# ------------------------------------------------------------------ parser
def add_parser(sub: argparse._SubParsersAction) -> None:
    common = client_options()
    group = sub.add_parser("train", help="LoRA/QLoRA training jobs, checkpoints, merge, config")
    cmds = group.add_subparsers(dest="train_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("start", parents=[common], help="start (queue) a training job")
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--base-model", required=True, help="hub id (in the local HF cache) or model directory on the server")
    p.add_argument("--preset", default="", choices=["", "quick", "standard", "thorough"], help="default: standard")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--name", required=True, help="adapter to produce")
    p.add_argument("--resume-from", default="", help="JOB_ID, JOB_ID/checkpoint-N or a checkpoint path")
    p.add_argument("--follow", action="store_true", help="show live progress until the job ends")
    p.add_argument("--no-register", action="store_true", help="do not register the adapter with the registry")
    p.set_defaults(func=_start)

    p = cmds.add_parser("resume", parents=[common], help="continue a stopped/failed job from a checkpoint (a new job)")
    p.add_argument("job_id")
    p.add_argument("--checkpoint", default="", help="step or checkpoint-N (default: the last one)")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=_resume)

    for name, func, help_text in (("list", _list, "training and merge jobs"),):
        cmds.add_parser(name, parents=[common], help=help_text).set_defaults(func=func)
    for name, func, help_text in (
        ("status", _status, "a job's state, progress and result"),
        ("stop", _stop, "stop a job gracefully (it saves a checkpoint)"),
        ("metrics", _metrics, "the metric series (loss curve)"),
        ("checkpoints", _checkpoints, "checkpoints a job left"),
    ):
        p = cmds.add_parser(name, parents=[common], help=help_text)
        p.add_argument("job_id")
        p.set_defaults(func=func)
    p = cmds.add_parser("logs", parents=[common], help="a job's log lines")
    p.add_argument("job_id")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until the job ends")
    p.set_defaults(func=_logs)

    p = cmds.add_parser("merge", parents=[common], help="merge an adapter into its base model (a job)")
    p.add_argument("adapter", help="registered adapter name")
    p.add_argument("-o", "--output", default="", help="output directory on the server (default <data root>/merged/ADAPTER)")
    p.add_argument("--base-model", default="", help="override the adapter's base model")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=_merge)

    cfg = cmds.add_parser("config", help="the stored default training config")
    cfg_cmds = cfg.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    cfg_cmds.add_parser("show", parents=[common], help="stored defaults, presets, help").set_defaults(func=_config_show)
    p = cfg_cmds.add_parser("set", parents=[common], help="change stored defaults")
    p.add_argument("values", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(func=_config_set)
    cfg_cmds.add_parser("reset", parents=[common], help="back to the built-in defaults").set_defaults(func=_config_reset)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: tuneforge train ...")
