"""`tuneforge tts`: voice samples, transcription, preparation, training, voice models, previews.

    tuneforge tts samples upload *.ogg *.wav
    tuneforge tts samples list [--json]          # --json: duration_seconds per sample
    tuneforge tts samples transcript clip3.ogg "Corrected text"
    tuneforge tts samples rm clip3.ogg
    tuneforge tts transcribe --model small --language ru --follow
    tuneforge tts prepare [--ref clip1.wav] [--base-model DIR] --follow
    tuneforge tts train --name anna-v1 --epochs 3 --speaker anna --follow
    tuneforge tts stop JOB | jobs | logs JOB [-f] | models
    tuneforge tts say anna-v1 "Привет!" -o out.wav
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tuneforge.client import TuneforgeClientError, job_result
from tuneforge.tts.v1 import tts_pb2

from tuneforge.cli import jobs
from tuneforge.cli.common import (
    client_options,
    connect,
    emit,
    follow_job,
    human_size,
    job_line,
    table,
)

SERVICE = "tts"


def add_parser(sub: argparse._SubParsersAction) -> None:
    opts = client_options()
    tts = sub.add_parser("tts", help="voice samples, transcription and Qwen3-TTS fine-tuning")
    cmds = tts.add_subparsers(dest="tts_command", required=True, metavar="COMMAND")

    samples = cmds.add_parser("samples", help="voice samples (upload, list, rm, transcript)")
    scmds = samples.add_subparsers(dest="samples_command", required=True, metavar="COMMAND")
    p = scmds.add_parser("upload", parents=[opts], help="upload audio files (wav, flac, mp3, ogg, opus)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_upload)
    p = scmds.add_parser("list", parents=[opts], help="list samples")
    p.set_defaults(func=_list_samples)
    p = scmds.add_parser("rm", parents=[opts], help="delete samples")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=_rm)
    p = scmds.add_parser("transcript", parents=[opts], help="set (or, with \"\", clear) a sample's transcript")
    p.add_argument("name", metavar="NAME")
    p.add_argument("text", metavar="TEXT")
    p.set_defaults(func=_transcript)

    p = cmds.add_parser("transcribe", parents=[opts], help="transcribe samples with faster-whisper (a job)")
    p.add_argument("--model", default="small", help="tiny, base, small, medium, large-v3 or a CTranslate2 directory")
    p.add_argument("--language", default="auto", help="ru, en, ... or auto")
    p.add_argument("--min-duration", type=float, default=None, help="skip shorter samples (default 1.0 s)")
    p.add_argument("--max-duration", type=float, default=None, help="skip longer samples (default 30.0 s)")
    p.add_argument("--vad", action="store_true", help="voice activity detection (Silero)")
    p.add_argument("--sample", action="append", default=[], metavar="NAME", help="only this sample (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="also samples that already have a transcript")
    p.add_argument("--follow", "-f", action="store_true", help="follow the job to its end")
    p.set_defaults(func=_transcribe)

    p = cmds.add_parser("prepare", parents=[opts], help="encode transcribed samples into audio codes (a job)")
    p.add_argument("--ref", default="", metavar="NAME", help="reference sample (default: the first)")
    p.add_argument("--base-model", default="", help="Qwen3-TTS base model (default: the training config's)")
    p.add_argument("--follow", "-f", action="store_true")
    p.set_defaults(func=_prepare)

    p = cmds.add_parser("train", parents=[opts], help="fine-tune a voice model (a job; queues for the GPU)")
    p.add_argument("model", nargs="?", default="", metavar="NAME", help="name of the voice model (or --name)")
    p.add_argument("--name", default="", help="name of the voice model to produce")
    p.add_argument("--epochs", type=int, default=None, dest="num_epochs")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--grad-accum", type=int, default=None, dest="gradient_accumulation_steps")
    p.add_argument("--lr", type=float, default=None, dest="learning_rate")
    p.add_argument("--speaker", default=None, dest="speaker_name", help="speaker name (stored lower-case)")
    p.add_argument("--base-model", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--follow", "-f", action="store_true")
    p.set_defaults(func=_train)

    jobs.add_job_command(cmds, opts, "stop", jobs.cancel_job, "stop a training job; it saves a checkpoint (= jobs cancel)")

    p = cmds.add_parser("models", parents=[opts], help="list trained voice models")
    p.set_defaults(func=_models)

    p = cmds.add_parser("say", parents=[opts], help="synthesize a preview with a voice model and save the WAV")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument("--checkpoint", default="", help="checkpoint-epoch-N (default: the last)")
    p.add_argument("--speaker", default="", help="default: the model's speaker")
    p.add_argument("--language", default="", help="default: auto")
    p.set_defaults(func=_say)

    cmds.add_parser("jobs", parents=[opts], help="list tts jobs (= jobs list --service tts)").set_defaults(
        func=lambda args: jobs.list_jobs(args, service=SERVICE))
    jobs.add_job_command(cmds, opts, "logs", jobs.job_logs, "print a job's log (= jobs logs)", follow=True)


# --------------------------------------------------------------------------- samples


def _sample_dict(s: Any) -> dict[str, Any]:
    return {
        "name": s.name, "format": s.format, "duration_seconds": round(s.duration_seconds, 3),
        "sample_rate": s.sample_rate, "channels": s.channels, "size_bytes": s.size_bytes,
        "transcript": s.transcript, "transcript_source": s.transcript_source,
        "create_time": s.create_time.ToJsonString() if s.HasField("create_time") else "",
    }  # fmt: skip


def _sample_line(s: Any) -> str:
    return f"{s.name}  {s.format}  {s.duration_seconds:.2f} s  {s.sample_rate} Hz  {s.channels} ch  {human_size(s.size_bytes)}"


def _upload(args: argparse.Namespace) -> int:
    client = connect(args)
    done, failed = [], 0
    for path in args.files:
        try:
            sample = client.upload_file(SERVICE, path)
        except (TuneforgeClientError, OSError) as exc:
            failed += 1
            print(f"error: {path}: {exc}", file=sys.stderr)
            for v in getattr(exc, "field_violations", []):
                if v.description not in str(exc):  # said once
                    print(f"  {v.field}: {v.description}", file=sys.stderr)
            continue
        done.append(sample)
        if not args.json:
            print(f"uploaded {_sample_line(sample)}")
    if args.json:
        print(json.dumps([_sample_dict(s) for s in done], ensure_ascii=False, indent=2))
    return 1 if failed else 0


def _list_samples(args: argparse.Namespace) -> int:
    client = connect(args)
    items = list(client.iter_pages(client.tts.list_voice_samples, "samples"))
    if args.json:
        print(json.dumps([_sample_dict(s) for s in items], ensure_ascii=False, indent=2))
        return 0
    rows = [[s.name, s.format, f"{s.duration_seconds:.2f}", s.sample_rate, s.channels, human_size(s.size_bytes),
             s.transcript_source or "-", (s.transcript[:50] + "…") if len(s.transcript) > 50 else s.transcript]
            for s in items]  # fmt: skip
    print(table(rows, ["NAME", "FORMAT", "SECONDS", "RATE", "CH", "SIZE", "SOURCE", "TRANSCRIPT"]))
    total = sum(s.duration_seconds for s in items)
    print(f"{len(items)} samples, {total:.1f} s in total, {sum(1 for s in items if s.transcript)} transcribed")
    return 0


def _rm(args: argparse.Namespace) -> int:
    client = connect(args)
    for name in args.names:
        client.tts.delete_voice_sample(name=name)
        if not args.json:
            print(f"deleted {name}")
    if args.json:
        print(json.dumps({"deleted": args.names}))
    return 0


def _transcript(args: argparse.Namespace) -> int:
    sample = connect(args).tts.update_voice_sample_transcript(name=args.name, transcript=args.text)
    emit(args, _sample_dict(sample) if args.json else sample, f"{sample.name}: {sample.transcript or '(no transcript)'}")
    return 0


# ------------------------------------------------------------------------------ jobs


def _started(args: argparse.Namespace, client: Any, job: Any) -> int:
    if getattr(args, "follow", False):
        print(f"started {job.id} ({job.kind})", file=sys.stderr)
        code = follow_job(client, job.id, args.json)
        if not args.json:
            summary = skipped_text(client.wait_job(job.id))
            if summary:
                print(summary)
        return code
    emit(args, job, job_line(job))
    return 0


def skipped_text(job: Any) -> str:
    """The samples a finished job skipped (too short, too long, no speech, ...), one a line."""
    result = job_result(job)
    skipped = list(getattr(result, "skipped", ()))
    lines = [f"skipped {s.name or f'line {s.line}'}: {s.reason} ({s.detail})" for s in skipped]
    if hasattr(result, "transcribed"):
        lines.append(f"{len(result.transcribed)} transcribed, {len(skipped)} skipped")
    return "\n".join(lines)


def _transcribe(args: argparse.Namespace) -> int:
    client = connect(args)
    fields: dict[str, Any] = {"whisper_model": args.model, "language": args.language, "vad": args.vad,
                              "sample_names": args.sample, "overwrite": args.overwrite}  # fmt: skip
    if args.min_duration is not None:
        fields["min_duration_sec"] = args.min_duration
    if args.max_duration is not None:
        fields["max_duration_sec"] = args.max_duration
    return _started(args, client, client.tts.transcribe_samples(**fields))


def _prepare(args: argparse.Namespace) -> int:
    client = connect(args)
    return _started(args, client, client.tts.prepare_dataset(ref_sample=args.ref, base_model=args.base_model))


def _train(args: argparse.Namespace) -> int:
    name = args.name or args.model
    if not name or (args.name and args.model and args.name != args.model):
        print("error: give the voice model's name once (NAME or --name NAME)", file=sys.stderr)
        return 2
    config = {k: getattr(args, k) for k in ("num_epochs", "batch_size", "gradient_accumulation_steps",
                                              "learning_rate", "speaker_name", "base_model", "seed")
              if getattr(args, k) is not None}  # fmt: skip
    client = connect(args)
    return _started(args, client, client.tts.start_training(model_name=name, config=config))


# ---------------------------------------------------------------------------- models


def _models(args: argparse.Namespace) -> int:
    client = connect(args)
    models = list(client.iter_pages(client.tts.list_voice_models, "models"))
    if args.json:
        from tuneforge.cli.common import to_dict

        print(json.dumps([to_dict(m) for m in models], ensure_ascii=False, indent=2))
        return 0
    rows = [[m.name, m.speaker_name, m.epochs, human_size(m.size_bytes),
             m.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M") if m.HasField("create_time") else "",
             m.checkpoints[-1] if m.checkpoints else "-"] for m in models]  # fmt: skip
    print(table(rows, ["NAME", "SPEAKER", "EPOCHS", "SIZE", "CREATED", "LATEST CHECKPOINT"]) if rows else "no voice models")
    return 0


def _say(args: argparse.Namespace) -> int:
    client = connect(args)
    job = client.tts.synthesize_preview(model_name=args.model, text=args.text, checkpoint=args.checkpoint,
                                        speaker=args.speaker, language=args.language)  # fmt: skip
    print(f"synthesizing ({job.id})", file=sys.stderr)
    code = follow_job(client, job.id, False)
    if code != 0:
        return code
    out = client.download(client.tts.download_preview(job_id=job.id), args.output)
    result = job_result(client.jobs.get_job(id=job.id), tts_pb2.SynthesizeJobResult)
    seconds = result.duration_seconds if result is not None else 0.0
    emit(args, {"path": str(out), "job_id": job.id, "duration_seconds": seconds}, f"wrote {out} ({seconds:.2f} s)")
    return 0
