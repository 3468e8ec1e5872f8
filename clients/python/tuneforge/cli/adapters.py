"""`tuneforge adapters ...`: the adapter registry from a shell.

    tuneforge adapters list | show NAME | lineage NAME | history | watch
    tuneforge adapters activate NAME [--require-eval] [--force] | deactivate | rollback [--force]
    tuneforge adapters serve NAME [--force] | unserve NAME   (keep NAME loaded beside the active one)

``--force`` activates, rolls back to or serves an adapter trained on data since removed
(``dataset forget``: lineage shows it; ``list`` marks it ``!``).
    tuneforge adapters eval NAME [--dataset D] [--samples N] | chat NAME [PROMPT] [--compare] [--trainer]
    tuneforge adapters audit NAME [--version V] [--dataset D] [--samples N]
    tuneforge adapters rm NAME [--force]
    tuneforge adapters export NAME [-o FILE]
    tuneforge adapters import PATH [--name N] [--replace]   (adapter directory or archive)
    tuneforge adapters check NAME[@vN]   (conformance on vLLM: parity, stop rate, leakage)
    tuneforge adapters verify [--reload] (probe every served adapter against its fingerprint)

Everything goes through the registry's gRPC API, so the commands work against a remote
server; ``import`` packs a local adapter directory into a tar.gz and uploads it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneforge.common.v1 import common_pb2
from tuneforge.registry.v1 import registry_pb2 as pb

from tuneforge.cli.adapter_eval import add_commands
from tuneforge.cli.common import (
    client_options,
    connect,
    emit,
    human_size,
    table,
    to_dict,
)

CHUNK = 1024 * 1024
# Activation in restart mode waits for vLLM to restart (and, if it fails, to restart again
# with the previous adapter): minutes on a big model. The server bounds the wait
# (vllm_restart_timeout_seconds); the CLI's default deadline must not cut it short.
ACTIVATION_DEADLINE = 1800.0
FORCE_HELP = "also an adapter trained on data since removed (dataset forget)"
_STATE_NAMES = {
    pb.Activation.VLLM_STATE_UNSPECIFIED: "UNSPECIFIED",
    pb.Activation.VLLM_STATE_NOT_CONFIGURED: "MARKER_ONLY",
    pb.Activation.VLLM_STATE_APPLIED: "APPLIED",
    pb.Activation.VLLM_STATE_PENDING: "PENDING",
    pb.Activation.VLLM_STATE_FAILED: "FAILED",
}


# ----------------------------------------------------------------- text
def _time(ts: Any) -> str:
    if not ts.seconds and not ts.nanos:
        return "-"
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def _metrics(metrics: Any, limit: int = 3) -> str:
    items = sorted(metrics.items(), key=lambda kv: (kv[0] not in ("loss", "eval_loss"), kv[0]))
    return " ".join(f"{k}={v:.4g}" for k, v in items[:limit]) or "-"


def activation_line(a: pb.Activation) -> str:
    state = _STATE_NAMES.get(a.vllm_state, str(a.vllm_state))
    who = f"{a.adapter_name} (v{a.adapter_version}, served as {a.served_name})" if a.adapter_name else "no adapter"
    line = f"active: {who}  vLLM[{a.vllm_mode}]: {state}"
    if a.action:
        line += f"  after {a.action}"
        if a.previous_adapter_name:
            line += f" from {a.previous_adapter_name}"
    if a.vllm_message:
        line += f"  ({a.vllm_message})"
    return line


def variant_name(a: pb.Adapter) -> str:
    """lora, dora, rslora; "-" for an adapter registered before variants were recorded."""
    if not a.variant:
        return "-"
    return pb.Adapter.Variant.Name(a.variant).removeprefix("VARIANT_").lower()


def adapter_text(a: pb.Adapter) -> str:
    rows = [
        ("name", a.name + ("  * active" if a.active else "") + ("  + served" if a.served else "")),
        ("version", a.version), ("served as", a.served_name or "-"),
        ("base model", a.base_model or "-"), ("dataset", _dataset(a)), ("job", a.job_id or "-"),
        ("variant", variant_name(a)), ("rank / alpha", f"{a.rank} / {a.alpha}"), ("target modules", ", ".join(a.target_modules) or "-"),
        ("size", human_size(a.size_bytes)), ("created", _time(a.create_time)), ("path", a.path),
    ]
    rows += [(f"metric {k}", f"{v:.6g}") for k, v in sorted(a.metrics.items())]
    rows.append(("evaluation", _evaluation(a)))
    rows.append(("leak audit", _audit(a)))
    rows.append(("conformance", conformance_line(a.conformance) if a.HasField("conformance")
                 else f"none (tuneforge adapters check {a.name})"))
    rows.append(("thinking", thinking_text(a)))
    if a.merge_hint:
        rows.append(("merge suggested", a.merge_hint))
    if a.HasField("data_retraction"):
        rows.append(("TRAINED ON FORGOTTEN DATA", retraction_text(a.data_retraction) + "; activation needs --force"))
    if a.source:
        rows.append(("source", a.source))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def thinking_text(a: pb.Adapter) -> str:
    """The enable_thinking policy the version was trained with (registry thinking.py)."""
    if not a.HasField("enable_thinking"):
        return "- (the chat template has no enable_thinking switch)"
    return (f"enable_thinking={str(a.enable_thinking).lower()} (as trained; sent to vLLM's chat template "
            "in chats and checks)")


def _dataset(a: pb.Adapter) -> str:
    if not a.dataset:
        return "-"
    return f"{a.dataset} v{a.dataset_version}" if a.dataset_version else a.dataset


def retraction_text(r: pb.DataRetraction) -> str:
    return f"superseded by {r.dataset} v{r.superseded_by_version} ({r.reason}, {_time(r.retract_time)})"


def _lineage(args: argparse.Namespace) -> int:
    lineage = connect(args).registry.get_adapter_lineage(name=args.name)
    rows = [[f"v{e.version}" + (" (current)" if e.current else ""), e.dataset or "-",
             f"v{e.dataset_version}" if e.dataset_version else "?", e.dataset_sha256[:12] or "-", e.job_id or "-",
             _time(e.register_time),
             retraction_text(e.data_retraction) if e.HasField("data_retraction") else "-"] for e in lineage.versions]
    text = table(rows, ["VERSION", "DATASET", "DATA VER", "SHA256", "JOB", "REGISTERED", "SUPERSEDED BY FORGET"]) \
        if rows else f"no lineage recorded for {args.name}"
    emit(args, lineage, text)
    return 0


def _evaluation(a: pb.Adapter, short: bool = False) -> str:
    if not a.HasField("evaluation"):
        return "-" if short else f"none (tuneforge adapters eval {a.name})"
    e = a.evaluation
    mark = "closer" if e.closer_to_owner else "NOT closer"
    if short:
        return f"{e.adapter_style_score:.2f} vs {e.base_style_score:.2f} ({mark})"
    return (f"style score {e.adapter_style_score:.3f} vs base {e.base_style_score:.3f}, "
            f"loss {e.adapter_eval_loss:.4g} vs base {e.base_eval_loss:.4g}: {mark} to the owner "
            f"({e.samples} dialogs, v{e.version})")


def _audit(a: pb.Adapter) -> str:
    if not a.HasField("audit"):
        return f"none (tuneforge adapters audit {a.name})"
    u = a.audit
    return (f"{'passed' if u.passed else 'FAILED'}: {u.reproduced} reproduced scrubbed values, {u.verbatim} "
            f"verbatim spans in {u.probes} probes (v{u.version}, job {u.job_id})")


def conformance_line(r: pb.ConformanceReport) -> str:
    parity = f"{r.parity:.2f}" if r.HasField("parity") else "not measured"
    verdict = "passed" if r.passed else f"FAILED on {r.failed_metric} {r.failed_value:.2f}"
    return (f"{verdict}: parity {parity}, stop rate {r.stop_rate:.2f}, leakage {r.leak_rate:.2f} "
            f"({r.prompts} prompts via {r.served_name}, {_time(r.check_time)})")


def conformance_text(r: pb.ConformanceReport) -> str:
    t = r.thresholds
    parity = f"{r.parity:.2f}" if r.HasField("parity") else "not measured"
    rows = [
        ("adapter", f"{r.adapter_name} v{r.adapter_version} (checked as {r.served_name}"
                    f"{', staged' if r.staged else ''})"),
        ("parity", f"{parity} (first {t.parity_tokens} greedy tokens equal PEFT's; at least {t.min_parity:.2f})"),
        ("stop rate", f"{r.stop_rate:.2f} (replies ending with end-of-turn within {t.max_tokens} tokens; "
                      f"at least {t.min_stop_rate:.2f})"),
        ("leakage", f"{r.leak_rate:.2f} (replies with special tokens or role markers; at most {t.max_leak_rate:.2f})"
                    + (f": {', '.join(r.leaks)}" if r.leaks else "")),
        ("prompts", r.prompts),
        ("result", "passed" if r.passed else f"FAILED on {r.failed_metric} {r.failed_value:.2f}"),
    ]
    if r.parity_detail:
        rows.insert(2, ("parity detail", r.parity_detail))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# ------------------------------------------------------------- commands
def _check(args: argparse.Namespace) -> int:
    name, _, version = args.name.partition("@v")
    if version and not version.isdigit():
        raise SystemExit(f"NAME[@vN]: {args.name!r} has no version number after @v")
    report = connect(args).registry.check_adapter(name=name, version=int(version or 0))
    emit(args, report, conformance_text(report))
    return 0 if report.passed else 1


def _verify(args: argparse.Namespace) -> int:
    resp = connect(args).registry.verify_serving(reload=args.reload)
    rows = [[p.served_name, pb.ServingProbe.Outcome.Name(p.outcome).removeprefix("OUTCOME_"), p.detail or "-"]
            for p in resp.probes]
    emit(args, resp, table(rows, ["SERVED AS", "OUTCOME", "DETAIL"]) if rows else "no adapter served")
    bad = {pb.ServingProbe.OUTCOME_ROLLED_BACK, pb.ServingProbe.OUTCOME_UNSERVED, pb.ServingProbe.OUTCOME_FAILED}
    return 1 if any(p.outcome in bad for p in resp.probes) else 0


def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    adapters = list(client.iter_pages(client.registry.list_adapters, "adapters"))
    if args.json:
        emit(args, {"adapters": [to_dict(a) for a in adapters]})
        return 0
    if not adapters:
        print("no adapters")
        return 0
    rows = [
        ["*" if a.active else ("+" if a.served else ""), a.name + (" !" if a.HasField("data_retraction") else ""),
         f"v{a.version}", a.base_model or "-", _dataset(a),
         variant_name(a), a.rank, human_size(a.size_bytes), _time(a.create_time), _metrics(a.metrics), _evaluation(a, short=True)]
        for a in adapters
    ]
    print(table(rows, ["", "NAME", "VER", "BASE MODEL", "DATASET", "VARIANT", "RANK", "SIZE", "CREATED", "METRICS", "STYLE (vs base)"]))
    if any(a.HasField("data_retraction") for a in adapters):
        print("! trained on data since removed (dataset forget): activation needs --force; see adapters lineage NAME")
    return 0


def _show(args: argparse.Namespace) -> int:
    adapter = connect(args).registry.get_adapter(name=args.name)
    emit(args, adapter, adapter_text(adapter))
    return 0


def _activation_command(rpc: str, **fields: Any):
    def run(args: argparse.Namespace) -> int:
        values = {k: getattr(args, v) for k, v in fields.items() if getattr(args, v) is not None}
        activation = getattr(connect(args).registry, rpc)(**values)
        emit(args, activation, activation_line(activation))
        return 0
    return run


def _serve(args: argparse.Namespace) -> int:
    resp = connect(args).registry.serve_adapter(name=args.name, force=args.force)
    names = ", ".join(resp.served_adapter_names)
    emit(args, resp, f"serving {resp.adapter.name} as {resp.adapter.served_name} (served beside the active one: {names})")
    return 0


def _unserve(args: argparse.Namespace) -> int:
    resp = connect(args).registry.unserve_adapter(name=args.name)
    emit(args, resp, f"stopped serving {args.name} (still served: {', '.join(resp.served_adapter_names) or 'none'})")
    return 0


def _rm(args: argparse.Namespace) -> int:
    connect(args).registry.delete_adapter(name=args.name, force=args.force)
    emit(args, {"deleted": args.name}, f"deleted {args.name}")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.output or f"{args.name}.tar.gz")
    if out.is_dir():
        out = out / f"{args.name}.tar.gz"
    client = connect(args)
    client.download(client.registry.export_adapter(name=args.name), out)
    size = out.stat().st_size
    emit(args, {"name": args.name, "path": str(out), "size_bytes": size}, f"exported {args.name} to {out} ({human_size(size)})")
    return 0


def _import(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 1
    client = connect(args)
    with tempfile.TemporaryDirectory(prefix="tuneforge-import-") as tmp:
        name = args.name or ""
        if path.is_dir():
            if not (path / "adapter_config.json").is_file():
                print(f"error: {path} holds no adapter_config.json (not a PEFT adapter directory)", file=sys.stderr)
                return 1
            if not name:
                base = path.resolve()
                name = base.parent.name if base.name == "final" else base.name
            archive = pack_directory(path, Path(tmp) / "adapter.tar.gz")
        else:
            archive = path
        adapter = client.registry.import_adapter(_upload_requests(archive, name, args.replace))
    emit(args, adapter, f"imported {adapter.name} (v{adapter.version}, rank {adapter.rank}, {human_size(adapter.size_bytes)})")
    return 0


def pack_directory(src: Path, dest: Path) -> Path:
    """The adapter's top-level files (links followed, hidden files and sub-directories such
    as checkpoints skipped), as the registry imports them."""
    with tarfile.open(dest, "w:gz") as tar:
        for entry in sorted(src.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            info = tarfile.TarInfo(entry.name)
            info.size, info.mode, info.mtime = entry.stat().st_size, 0o644, int(entry.stat().st_mtime)
            with open(entry, "rb") as fh:
                tar.addfile(info, fh)
    return dest


def _upload_requests(archive: Path, name: str, replace: bool) -> Iterator[pb.ImportAdapterRequest]:
    digest = hashlib.sha256()
    with open(archive, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    upload = common_pb2.UploadMetadata(
        filename="adapter.tar.gz", size_bytes=archive.stat().st_size, sha256=digest.hexdigest()
    )
    yield pb.ImportAdapterRequest(metadata=pb.ImportAdapterMetadata(upload=upload, name=name, replace=replace))
    with open(archive, "rb") as fh:
        while block := fh.read(CHUNK):
            yield pb.ImportAdapterRequest(chunk=block)


def _watch(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        for activation in client.registry.watch_activations():
            if args.json:
                print(json.dumps(to_dict(activation), ensure_ascii=False), flush=True)
            else:
                print(f"{_time(activation.activate_time)}  {activation_line(activation)}", flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def _history(args: argparse.Namespace) -> int:
    client = connect(args)
    items = []
    for activation in client.iter_pages(client.registry.list_activations, "activations", page_size=min(args.limit, 1000)):
        items.append(activation)
        if len(items) >= args.limit:
            break
    if args.json:
        emit(args, {"activations": [to_dict(a) for a in items]})
        return 0
    rows = [
        [a.id, _time(a.activate_time), a.action, a.previous_adapter_name or "-", a.served_name or a.adapter_name or "-",
         _STATE_NAMES.get(a.vllm_state, "?"), a.vllm_message[:60]]
        for a in items
    ]
    print(table(rows, ["ID", "TIME", "ACTION", "FROM", "TO", "VLLM", "MESSAGE"]) if rows else "no activations yet")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    common = client_options()
    group = sub.add_parser("adapters", help="LoRA adapters: list, activate, export/import")
    cmds = group.add_subparsers(dest="adapters_command", required=True, metavar="COMMAND")

    cmds.add_parser("list", parents=[common], help="all adapters (* = active, + = served beside it)").set_defaults(
        func=_list)
    show = cmds.add_parser("show", parents=[common], help="one adapter in detail")
    show.add_argument("name")
    show.set_defaults(func=_show)
    activate = cmds.add_parser("activate", parents=[common], help="make NAME the active adapter (and tell vLLM)")
    activate.add_argument("name")
    activate.add_argument("--require-eval", action="store_true", default=None,
                          help="refuse unless NAME's evaluation says it is closer to the owner than its base")
    activate.add_argument("--force", action="store_true", help=FORCE_HELP)
    activate.set_defaults(func=_activation_command("activate_adapter", name="name", require_eval="require_eval",
                                                   force="force"), default_timeout=ACTIVATION_DEADLINE)
    cmds.add_parser("deactivate", parents=[common], help="serve no adapter").set_defaults(
        func=_activation_command("deactivate_adapter"), default_timeout=ACTIVATION_DEADLINE)
    rollback = cmds.add_parser("rollback", parents=[common], help="go back to the previously active adapter")
    rollback.add_argument("--force", action="store_true", help=FORCE_HELP)
    rollback.set_defaults(func=_activation_command("rollback_activation", force="force"),
                          default_timeout=ACTIVATION_DEADLINE)
    lineage = cmds.add_parser("lineage", parents=[common],
                              help="every version of NAME with the dataset version it was trained on")
    lineage.add_argument("name")
    lineage.set_defaults(func=_lineage)
    serve = cmds.add_parser("serve", parents=[common],
                            help="keep NAME loaded in vLLM under its served name beside the active adapter")
    serve.add_argument("name")
    serve.add_argument("--force", action="store_true", help=FORCE_HELP)
    serve.set_defaults(func=_serve, default_timeout=ACTIVATION_DEADLINE)
    unserve = cmds.add_parser("unserve", parents=[common], help="stop serving NAME beside the active adapter")
    unserve.add_argument("name")
    unserve.set_defaults(func=_unserve, default_timeout=ACTIVATION_DEADLINE)
    rm = cmds.add_parser("rm", parents=[common], help="delete an adapter (the active or a served one only with --force)")
    rm.add_argument("name")
    rm.add_argument("--force", action="store_true", help="also delete the active adapter (deactivates it first)")
    rm.set_defaults(func=_rm, default_timeout=ACTIVATION_DEADLINE)
    export = cmds.add_parser("export", parents=[common], help="download an adapter as a tar.gz")
    export.add_argument("name")
    export.add_argument("-o", "--output", help="file or directory (default ./NAME.tar.gz)")
    export.set_defaults(func=_export)
    imp = cmds.add_parser("import", parents=[common], help="upload an adapter directory or an exported archive")
    imp.add_argument("path")
    imp.add_argument("--name", help="adapter name (default: the directory's or the archive's)")
    imp.add_argument("--replace", action="store_true", help="replace an existing adapter of that name")
    imp.set_defaults(func=_import)
    cmds.add_parser("watch", parents=[common], help="print every activation change until Ctrl-C").set_defaults(func=_watch)
    check = cmds.add_parser("check", parents=[common],
                            help="run the conformance check on vLLM: parity with PEFT, stop rate, template leakage")
    check.add_argument("name", metavar="NAME[@vN]")
    check.set_defaults(func=_check, default_timeout=ACTIVATION_DEADLINE)
    verify = cmds.add_parser("verify", parents=[common],
                             help="probe every served adapter against its fingerprint (after a wake or reload)")
    verify.add_argument("--reload", action="store_true", help="load each again from its files first")
    verify.set_defaults(func=_verify, default_timeout=ACTIVATION_DEADLINE)
    history = cmds.add_parser("history", parents=[common], help="activation history, newest first")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(func=_history)
    add_commands(cmds, common)
