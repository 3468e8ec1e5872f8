"""`tuneforge train ...`: LoRA / QLoRA training jobs from a shell.

    tuneforge train start --dataset D --base-model M [--preset quick|standard|thorough]
        [--set key=value ...] --name A [--follow] [--no-register]
        [--resume-from JOB | --continue-from JOB_OR_ADAPTER]
    tuneforge train resume JOB [--checkpoint C] [--follow]
    tuneforge train merge ADAPTER -o DIR [--base-model M] [--follow]
    tuneforge train export ADAPTER --format gguf|gguf-lora|awq|merged [--quant Q] [-o DIR] [--follow]
    tuneforge train config show | set key=value ... | reset
    tuneforge train plan --dataset D --base-model M [--set ...]   (pre-flight estimate; train_plan.py)
    tuneforge train open-tensorboard JOB
    tuneforge train list | status JOB | logs JOB [-f] | stop JOB | metrics JOB | checkpoints JOB
        (aliases of `tuneforge jobs ...` for the trainer's jobs)

Creates go through the trainer's gRPC API, job reads through the JobService. ``--set`` values
are parsed by the TrainingConfig message's field types. ``resume JOB`` starts a new job with
the old job's dataset, base model, config and adapter name, from its last checkpoint (or
``--checkpoint N`` / ``checkpoint-N``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from google.protobuf.json_format import MessageToDict
from tuneforge.client import job_params, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.cli import jobs, train_plan
from tuneforge.cli.common import (
    client_options,
    connect,
    emit,
    follow_job,
    job_line,
    parse_sets,
    table,
)

SVC = "trainer"


def _outcome(job: Any) -> str:
    result = job_result(job)
    lines = [job_line(job)]
    if isinstance(result, trainer_pb2.TrainingJobResult) and result.adapter_dir:
        lines.append(f"adapter: {result.adapter_dir}")
        if result.HasField("train_loss"):
            over = (f" (mean of {result.train_loss_steps} steps)" if result.train_loss_steps else "")
            lines.append(f"train loss {result.train_loss:.4g}{over}, steps {result.global_step}")
        if result.resumed_from_job:
            lines.append(f"resumed from job {result.resumed_from_job}")
        if result.continued_from:
            lines.append(f"continued from adapter {result.continued_from}")
        if result.best.reason:
            lines.append(result.best.reason)
        if result.HasField("tokens_per_second"):
            mfu = f", MFU {100 * result.mfu:.1f}%" if result.HasField("mfu") else ""
            peak = (f", peak GPU memory {result.peak_gpu_memory_bytes / 2**30:.1f} GiB"
                    if result.HasField("peak_gpu_memory_bytes") else "")
            lines.append(f"throughput {result.tokens_per_second:,.0f} tokens/s{mfu}{peak}")
        if result.HasField("reward"):  # GRPO: the last step's weighted reward and its parts
            parts = ", ".join(f"{k} {v:.3g}" for k, v in sorted(result.reward_components.items()))
            lines.append(f"reward {result.reward:.4g}" + (f" ({parts})" if parts else ""))
        reg = result.registration
        if reg.state:
            state = trainer_pb2.Registration.State.Name(reg.state).removeprefix("STATE_")
            extra = f" (version {reg.version})" if reg.version else ""
            msg = f": {reg.message}" if reg.message and state != "REGISTERED" else ""
            lines.append(f"registration: {state}{extra}{msg}")
    elif isinstance(result, trainer_pb2.MergeJobResult) and result.output_dir:
        lines.append(f"merged model: {result.output_dir}")
    elif isinstance(result, trainer_pb2.ExportJobResult) and result.output_dir:
        fmt = registry_pb2.ExportFormat.Name(result.format).removeprefix("EXPORT_FORMAT_").lower().replace("_", "-")
        lines.append(f"exported {fmt} {result.quant}: {result.output_dir}")
        reg = result.registration
        if reg.state == trainer_pb2.Registration.STATE_REGISTERED:
            lines.append(f"model: {reg.name} (tuneforge models download {reg.name})")
        elif reg.state:
            state = trainer_pb2.Registration.State.Name(reg.state).removeprefix("STATE_")
            lines.append(f"registration: {state}: {reg.message}")
    if job.last_checkpoint and job.state != common_pb2.Job.STATE_SUCCEEDED:
        lines.append(f"last checkpoint: {job.last_checkpoint} (resume with: tuneforge train resume {job.id})")
    return "\n".join(lines)


def _finish(args: argparse.Namespace, client: Any, job: Any) -> int:
    if not getattr(args, "follow", False):
        emit(args, job, f"started {job_line(job)}\nfollow with: tuneforge train status {job.id} / logs {job.id} -f")
        return 0
    if args.json:
        job = client.wait_job(job.id)
        emit(args, job)
    else:
        follow_job(client, job.id)
        job = client.jobs.get_job(id=job.id)
        print(_outcome(job))
    return 0 if job.state == common_pb2.Job.STATE_SUCCEEDED else 1


# ------------------------------------------------------------------ jobs
def _start(args: argparse.Namespace) -> int:
    client = connect(args)
    config, _ = parse_sets(trainer_pb2.TrainingConfig, args.set)
    request: dict[str, Any] = {
        "dataset": args.dataset, "base_model": args.base_model, "preset": args.preset,
        "config": config, "adapter_name": args.name, "resume_from": args.resume_from or "",
        "continue_from": args.continue_from or "",
    }  # fmt: skip
    if args.no_register:
        request["register"] = False
    return _finish(args, client, client.trainer.create_training_job(**request))


def _resume(args: argparse.Namespace) -> int:
    client = connect(args)
    old = client.jobs.get_job(id=args.job_id)
    params = job_params(old)
    if not isinstance(params, trainer_pb2.TrainingJobParams):
        raise SystemExit(f"error: job {old.id} is a {old.kind} job, not a training job")
    target = old.id
    if args.checkpoint:
        ckpt = args.checkpoint.strip()
        target = f"{old.id}/{ckpt if ckpt.startswith('checkpoint-') else 'checkpoint-' + ckpt}"
    request: dict[str, Any] = {
        "dataset": params.dataset_name, "base_model": params.base_model, "preset": params.preset,
        "config": params.config, "adapter_name": params.adapter_name, "resume_from": target,
        "register": params.register,
    }  # fmt: skip
    return _finish(args, client, client.trainer.create_training_job(**request))


def _list(args: argparse.Namespace) -> int:
    return jobs.list_jobs(args, service=SVC)


def _status(args: argparse.Namespace) -> int:
    return jobs.show_job(args, _outcome)


def _stop(args: argparse.Namespace) -> int:
    return jobs.cancel_job(args, "stopping: the worker saves a checkpoint, then exits")


def _merge(args: argparse.Namespace) -> int:
    client = connect(args)
    job = client.trainer.merge_adapter(adapter_name=args.adapter, output_dir=args.output or "",
                                       base_model=args.base_model or "")  # fmt: skip
    return _finish(args, client, job)


def _export(args: argparse.Namespace) -> int:
    client = connect(args)
    request: dict[str, Any] = {
        "adapter_name": args.adapter, "quant": args.quant, "output_dir": args.output,
        "base_model": args.base_model, "calibration_dataset": args.calibration_dataset,
        "format": registry_pb2.ExportFormat.Value("EXPORT_FORMAT_" + args.format.upper().replace("-", "_")),
    }  # fmt: skip
    if args.calibration_samples is not None:
        request["calibration_samples"] = args.calibration_samples
    return _finish(args, client, client.trainer.create_export_job(**request))


# ------------------------------------------------------------------ config
def _config_text(info: Any) -> str:
    config = MessageToDict(info.config, preserving_proto_field_name=True)
    rows = [[k, _text(config.get(k, "")), info.help.get(k, "")] for k in info.help]
    presets = "\n".join(
        f"  {p.name:<9} {p.description} ({', '.join(f'{k}={_text(v)}' for k, v in MessageToDict(p.config, preserving_proto_field_name=True).items())})"
        for p in info.presets
    )
    return f"{table(rows, ['KEY', 'VALUE', 'HELP'])}\n\npresets (default {info.default_preset}):\n{presets}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, str) and "_" in value and value.isupper():  # an enum: PRECISION_BF16 -> bf16
        return value.split("_", 1)[1].lower()
    return str(value)


def _config_show(args: argparse.Namespace) -> int:
    info = connect(args).trainer.get_training_config()
    emit(args, info, _config_text(info))
    return 0


def _config_set(args: argparse.Namespace) -> int:
    config, names = parse_sets(trainer_pb2.TrainingConfig, args.values, option="config set")
    info = connect(args).trainer.update_training_config(config=config, update_mask=names)
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
    p.add_argument("--resume-from", default="", help="JOB_ID, JOB_ID/checkpoint-N or a checkpoint path "
                   "(the same plan: same dataset and config, its optimizer state)")
    p.add_argument("--continue-from", default="", help="continue training: a new plan (this dataset and "
                   "config, fresh optimizer) from an adapter: JOB_ID, JOB_ID/checkpoint-N or a path")
    p.add_argument("--follow", action="store_true", help="show live progress until the job ends")
    p.add_argument("--no-register", action="store_true", help="do not register the adapter with the registry")
    p.set_defaults(func=_start)

    p = cmds.add_parser("resume", parents=[common], help="continue a stopped/failed job from a checkpoint (a new job)")
    p.add_argument("job_id")
    p.add_argument("--checkpoint", default="", help="step or checkpoint-N (default: the last one)")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=_resume)

    cmds.add_parser("list", parents=[common], help="training and merge jobs (= jobs list --service trainer)").set_defaults(func=_list)
    jobs.add_job_command(cmds, common, "status", _status, "a job's state, progress and result (= jobs show)")
    jobs.add_job_command(cmds, common, "stop", _stop, "stop a job gracefully; it saves a checkpoint (= jobs cancel)")
    jobs.add_job_command(cmds, common, "metrics", jobs.job_metrics, "the metric series, loss curve (= jobs metrics)")
    jobs.add_job_command(cmds, common, "checkpoints", jobs.job_checkpoints, "checkpoints a job left (= jobs checkpoints)")
    jobs.add_job_command(cmds, common, "logs", jobs.job_logs, "a job's log lines (= jobs logs)", follow=True)

    train_plan.add_commands(cmds, common)  # plan, open-tensorboard

    p = cmds.add_parser("merge", parents=[common], help="merge an adapter into its base model (a job)")
    p.add_argument("adapter", help="registered adapter name")
    p.add_argument("-o", "--output", default="", help="output directory on the server (default <data root>/merged/ADAPTER)")
    p.add_argument("--base-model", default="", help="override the adapter's base model")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=_merge)

    p = cmds.add_parser("export", parents=[common], help="export an adapter as GGUF / AWQ / merged (a job; docs/export.md)")
    p.add_argument("adapter", help="registered adapter name")
    p.add_argument("--format", required=True, choices=["gguf", "gguf-lora", "awq", "merged"])
    p.add_argument("--quant", default="", help="gguf: f16 (default), q8_0, q4_k_m, f32; gguf-lora: f16, q8_0, f32; awq: w4a16")
    p.add_argument("-o", "--output", default="", help="output directory on the server (default <data root>/models/ADAPTER/...)")
    p.add_argument("--base-model", default="", help="override the adapter's base model")
    p.add_argument("--calibration-dataset", default="", help="awq: calibrate on this dataset (default: the adapter's)")
    p.add_argument("--calibration-samples", type=int, default=None, help="awq: rows to calibrate on")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=_export)

    cfg = cmds.add_parser("config", help="the stored default training config")
    cfg_cmds = cfg.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    cfg_cmds.add_parser("show", parents=[common], help="stored defaults, presets, help").set_defaults(func=_config_show)
    p = cfg_cmds.add_parser("set", parents=[common], help="change stored defaults")
    p.add_argument("values", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(func=_config_set)
    cfg_cmds.add_parser("reset", parents=[common], help="back to the built-in defaults").set_defaults(func=_config_reset)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: tuneforge train ...")
