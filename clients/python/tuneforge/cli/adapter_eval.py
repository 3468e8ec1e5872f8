"""`tuneforge adapters eval | audit | chat`: know an adapter before you activate it.

    tuneforge adapters eval NAME [--dataset D] [--samples N] [--json]
    tuneforge adapters audit NAME [--version V] [--dataset D] [--samples N] [--json]
    tuneforge adapters chat NAME [PROMPT] [--compare] [--system TEXT] [--timeout S: per reply]
    tuneforge adapters chat --base-model M [PROMPT]          (the base model alone)

``eval`` runs an evaluation job on the trainer (queued under the GPU lock), waits for it and
prints the report the registry keeps with the adapter version (``--json``: the report itself,
keys ``base``, ``adapter``, ``reference``, ``samples``, ...). ``chat`` streams a reply piece by
piece: through the served model when NAME is live on vLLM (the registry's ChatServedAdapter:
vLLM's chat endpoint under NAME@vN, with the version's thinking policy), else from the
trainer's Chat job; the first line says which (``via vLLM (served as NAME@vN)`` or ``via the
trainer (not served)``). ``--trainer`` always uses the trainer. Without PROMPT it is interactive (an empty line or Ctrl-D
ends it) and keeps the conversation; ``--compare`` answers with the base model too and shows
the two replies side by side. ``audit`` runs the leak audit job (docs/privacy.md), waits and
prints its report (masked examples); exit status 2 when the audit failed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from typing import Any

from tuneforge.registry.v1 import registry_pb2 as rpb
from tuneforge.client import job_result
from tuneforge.client.errors import TuneforgeClientError
from tuneforge.trainer.v1 import trainer_pb2 as tpb

from tuneforge.cli.common import connect, emit, job_line

_SIDE = {tpb.CHAT_SIDE_BASE: "base", tpb.CHAT_SIDE_ADAPTER: "adapter"}
_ROWS = [("eval_loss", "eval loss (assistant tokens)"), ("style_score", "style score (0..1)"),
         ("chrf", "chrF vs owner"), ("length_ratio", "length ratio"), ("stop_rate", "stops by itself"),
         ("script_match", "owner's script"), ("punctuation_rate", "punctuation /100 chars"),
         ("emoji_rate", "emoji /100 chars"), ("distinct_2", "distinct-2")]


# ------------------------------------------------------------------ eval
def report_text(report: rpb.EvaluationReport, show: int = 3) -> str:
    lines = [f"adapter {report.adapter_name} v{report.adapter_version} vs {report.base_model} "
             f"on {len(report.samples)} held-out dialogs of {report.dataset or '-'}"]
    width = max(len(label) for _, label in _ROWS)
    lines.append(f"{'':<{width}}  {'base':>10}  {'adapter':>10}  {'owner':>10}")
    for key, label in _ROWS:
        owner = getattr(report.reference, key, None) if key in ("punctuation_rate", "emoji_rate", "distinct_2") else None
        lines.append(f"{label:<{width}}  {getattr(report.base, key):>10.4g}  {getattr(report.adapter, key):>10.4g}"
                     f"  {'' if owner is None else f'{owner:>10.4g}'}")
    verdict = "closer to the owner than the base" if report.closer_to_owner else "NOT closer to the owner than the base"
    lines.append(f"verdict: {verdict} (loss {'lower' if report.lower_loss else 'not lower'})")
    for sample in list(report.samples)[:show]:
        said = sample.messages[-1].content if sample.messages else ""
        lines += ["", f"> {said}", f"  owner:   {sample.reference}", f"  base:    {sample.base!r}",
                  f"  adapter: {sample.adapter!r}"]
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    client = connect(args)
    job = client.trainer.create_evaluation_job(adapter_name=args.name, dataset=args.dataset or "",
                                               samples=args.samples, max_new_tokens=args.max_new_tokens)
    if not args.json:
        print(f"evaluating: {job_line(job)}", file=sys.stderr)
    job = client.wait_job(job.id)
    if job.state != job.STATE_SUCCEEDED:
        print(f"evaluation {job.id} ended {job.State.Name(job.state)}: {job.error_reason} {job.error_message}",
              file=sys.stderr)
        return 1
    result = job_result(job, tpb.EvaluationJobResult)
    if result is None:
        raise SystemExit(f"error: evaluation {job.id} succeeded without a result")
    if result.recorded:
        report = client.registry.get_evaluation(adapter_name=args.name, adapter_version=result.report.adapter_version)
    else:  # the registry did not keep it; the job's own copy is the same report
        print(f"note: the registry did not keep the report: {result.record_message}", file=sys.stderr)
        report = result.report
    emit(args, report, report_text(report))
    return 0


# ------------------------------------------------------------------ audit
def audit_text(report: rpb.AuditReport, show: int = 5) -> str:
    verdict = "passed" if report.passed else "FAILED"
    lines = [f"leak audit of {report.adapter_name} v{report.adapter_version} on {report.dataset or '-'}: {verdict}",
             f"probes: {report.probes} ({report.pii_probes} of scrubbed values, {report.verbatim_probes} of "
             f"training replies) in {report.duration_seconds:.1f} s",
             f"reproduced a scrubbed value: {report.reproduced}"
             + (f" ({', '.join(f'{k} {v}' for k, v in sorted(report.reproduced_by_kind.items()))})"
                if report.reproduced_by_kind else ""),
             f"repeated {report.settings.verbatim_chars}+ characters of a training reply: {report.verbatim}"]
    lines += [f"why: {reason}" for reason in report.reasons]
    for example in list(report.examples)[:show]:
        flag = "REPRODUCED" if example.reproduced else f"verbatim {example.verbatim_chars} chars" \
            if example.verbatim_chars >= report.settings.verbatim_chars else "ok"
        lines += ["", f"[{example.probe} {example.kind}] {flag}".replace("  ", " "),
                  f"> {example.prompt}", f"  {example.completion!r}"]
    return "\n".join(lines)


def audit(args: argparse.Namespace) -> int:
    client = connect(args)
    if not args.json:
        print(f"auditing {args.name} (queued under the GPU lock) ...", file=sys.stderr)
    job, report = client.audit_adapter(args.name, version=args.version, dataset=args.dataset or "",
                                       samples=args.samples, max_new_tokens=args.max_new_tokens)
    if report is None:
        print(f"audit {job.id} ended {job.State.Name(job.state)}: {job.error_reason} {job.error_message}",
              file=sys.stderr)
        return 1
    emit(args, report, audit_text(report))
    return 0 if report.passed else 2


# ------------------------------------------------------------------ chat
def _stream(client: Any, request: dict, timeout: float, out=sys.stdout) -> dict[str, str]:
    """Print pieces as they come; returns each side's whole reply."""
    replies: dict[str, str] = {}
    current = None
    for response in client.trainer.chat(**request, timeout=timeout):
        kind = response.WhichOneof("kind")
        if kind == "job" and response.job.queue_position > 1:
            print(f"(queued behind {response.job.queue_position - 1} GPU job(s))", file=sys.stderr)
        elif kind == "piece":
            side = _SIDE.get(response.piece.side, "?")
            if request.get("compare") and side != current:
                out.write(("\n" if current else "") + f"[{side}] ")
            current = side
            out.write(response.piece.text)
            out.flush()
        elif kind == "reply":
            replies[_SIDE.get(response.reply.side, "?")] = response.reply.text
    out.write("\n")
    return replies


# Why the registry did not chat through vLLM: the trainer answers instead.
_NOT_SERVED = {"ADAPTER_NOT_SERVED": "not served", "VLLM_NOT_CONFIGURED": "no vLLM configured"}


def _served_stream(client: Any, name: str, request: dict, timeout: float, said: list[str],
                   out=sys.stdout) -> str | None:
    """The reply through vLLM (pieces printed as they come), or None when the registry says
    the adapter is not served there (then the trainer answers). Says which path answered
    whenever it changes."""
    stream = client.registry.chat_served_adapter(
        name=name, messages=request["messages"], max_tokens=request["max_new_tokens"],
        temperature=request["temperature"], seed=request["seed"], timeout=timeout)
    text = ""
    try:
        for response in stream:
            kind = response.WhichOneof("kind")
            if kind == "start":
                thinking = (f", enable_thinking={str(response.start.enable_thinking).lower()}"
                            if response.start.HasField("enable_thinking") else "")
                _say(f"via vLLM (served as {response.start.served_name}{thinking})", said, out)
            elif kind == "piece":
                out.write(response.piece)
                out.flush()
            elif kind == "end":
                text = response.end.text
    except TuneforgeClientError as exc:
        if exc.reason in _NOT_SERVED or exc.code.name == "UNIMPLEMENTED":
            _say(f"via the trainer ({_NOT_SERVED.get(exc.reason, 'the registry cannot chat through vLLM')})",
                 said, out)
            return None
        raise
    out.write("\n")
    return text


def _say(line: str, said: list[str], out) -> None:
    if not said or said[-1] != line:
        said.append(line)
        out.write(line + "\n")
        out.flush()


def side_by_side(replies: dict[str, str], width: int | None = None) -> str:
    width = width or shutil.get_terminal_size((100, 20)).columns
    col = max(20, (width - 3) // 2)
    left = textwrap.wrap(replies.get("base", ""), col) or [""]
    right = textwrap.wrap(replies.get("adapter", ""), col) or [""]
    rows = [f"{'base':<{col}} | adapter", f"{'-' * col}-+-{'-' * col}"]
    for i in range(max(len(left), len(right))):
        rows.append(f"{left[i] if i < len(left) else '':<{col}} | {right[i] if i < len(right) else ''}")
    return "\n".join(rows)


def chat(args: argparse.Namespace) -> int:
    if not args.name and not args.base_model:
        raise SystemExit("give an adapter NAME, or --base-model to talk to the base model alone")
    client = connect(args)
    history = [{"role": "system", "content": args.system}] if args.system else []
    base = {"adapter_name": args.name or "", "base_model": args.base_model or "", "compare": args.compare,
            "max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "seed": args.seed}
    prompts = [args.prompt] if args.prompt else None
    said: list[str] = []  # the answering path, printed when it changes
    while True:
        if prompts is not None:
            if not prompts:
                return 0
            text = prompts.pop()
        else:
            try:
                text = input("you> ")
            except EOFError:
                return 0
            if not text.strip():
                return 0
        history.append({"role": "user", "content": text})
        if args.name and not args.compare and not args.base_model and not args.trainer:
            served = _served_stream(client, args.name, {**base, "messages": history}, args.timeout, said)
            if served is not None:
                history.append({"role": "assistant", "content": served})
                continue
        elif args.name and not said:
            _say("via the trainer" + (" (--trainer)" if args.trainer else ""), said, sys.stdout)
        replies = _stream(client, {**base, "messages": history}, args.timeout)
        if args.compare:
            print(side_by_side(replies))
        history.append({"role": "assistant", "content": replies.get("adapter", replies.get("base", ""))})


def add_commands(cmds: Any, common: argparse.ArgumentParser) -> None:
    ev = cmds.add_parser("eval", parents=[common], help="evaluate NAME against its base on held-out dialogs")
    ev.add_argument("name")
    ev.add_argument("--dataset", help="take held-out dialogs from this dataset (default: the adapter's)")
    ev.add_argument("--samples", type=int, default=0, help="held-out dialogs to generate for (default 20)")
    ev.add_argument("--max-new-tokens", type=int, default=0, help="reply limit (default 128)")
    ev.set_defaults(func=evaluate)
    au = cmds.add_parser("audit", parents=[common], help="leak audit of NAME: does it repeat scrubbed values?")
    au.add_argument("name")
    au.add_argument("--version", type=int, default=0, help="refuse unless NAME is at this version")
    au.add_argument("--dataset", help="probe with this dataset's scrubbed values (default: the adapter's)")
    au.add_argument("--samples", type=int, default=0, help="probes (default: the setting audit_samples)")
    au.add_argument("--max-new-tokens", type=int, default=0, help="completion limit (default: audit_max_new_tokens)")
    au.set_defaults(func=audit)
    ch = cmds.add_parser("chat", parents=[common], help="talk to NAME (streamed); --compare: base side by side")
    ch.add_argument("name", nargs="?", default="", help="adapter (omit with --base-model)")
    ch.add_argument("prompt", nargs="?", help="one message, answered once (default: interactive)")
    ch.add_argument("--compare", action="store_true", help="answer with the base model too")
    ch.add_argument("--base-model", default="", help="talk to this model alone (no adapter)")
    ch.add_argument("--system", default="", help="a system message first")
    ch.add_argument("--max-new-tokens", type=int, default=0)
    ch.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    ch.add_argument("--seed", type=int, default=0)
    ch.add_argument("--trainer", action="store_true",
                    help="answer with the trainer's chat job even when NAME is served on vLLM")
    ch.set_defaults(func=chat)
