"""`tuneforge models ...`: exported models (GGUF, GGUF LoRA, AWQ, merged) from the registry.

    tuneforge models list [--adapter A] [--json]
    tuneforge models show ID [--json]
    tuneforge models download ID [-o DIR] [--file NAME]   (default: every file, each verified)

Models come from ``tuneforge train export`` (docs/export.md). A download writes each file
atomically and checks its size and SHA-256 against what the registry recorded, so a copy that
arrives is the copy that was exported; ``sha256sum -c SHA256SUMS`` in the directory checks it again.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuneforge.registry.v1 import registry_pb2 as pb

from tuneforge.cli.common import client_options, connect, emit, human_size, table


def format_name(value: int) -> str:
    return pb.ExportFormat.Name(value).removeprefix("EXPORT_FORMAT_").lower().replace("_", "-")


def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    models = list(client.iter_pages(client.registry.list_models, "models", adapter_name=args.adapter or ""))
    if args.json:
        emit(args, {"models": [_dict(m) for m in models]})
        return 0
    rows = [[m.id, m.adapter_name, format_name(m.format), m.quant, m.version, human_size(m.size_bytes),
             m.primary_file or "-"] for m in models]  # fmt: skip
    print(table(rows, ["ID", "ADAPTER", "FORMAT", "QUANT", "VERSION", "SIZE", "MAIN FILE"]) if rows else "no models")
    return 0


def _dict(model: Any) -> dict[str, Any]:
    from tuneforge.cli.common import to_dict

    return to_dict(model)


def _show(args: argparse.Namespace) -> int:
    model = connect(args).registry.get_model(id=args.id)
    lines = [f"{model.id}: {format_name(model.format)} {model.quant} of adapter {model.adapter_name} "
             f"(version {model.version}) on {model.base_model}", f"path: {model.path}"]
    lines += [f"  {f.sha256}  {f.name} ({human_size(f.size_bytes)})" for f in model.files]
    emit(args, model, "\n".join(lines))
    return 0


def _download(args: argparse.Namespace) -> int:
    client = connect(args)
    model = client.registry.get_model(id=args.id)
    out = Path(args.output or model.id)
    names = [args.file] if args.file else [f.name for f in model.files]
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download(client.registry.download_model(id=model.id, file=name), target)
        print(f"{target}  (sha256 verified)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    common = client_options()
    group = sub.add_parser("models", help="exported models (GGUF, AWQ, merged): list, show, download")
    cmds = group.add_subparsers(dest="models_cmd", required=True)
    p = cmds.add_parser("list", parents=[common], help="exported models, newest version first")
    p.add_argument("--adapter", default="", help="only the models of this adapter")
    p.set_defaults(func=_list)
    p = cmds.add_parser("show", parents=[common], help="one model with its files and checksums")
    p.add_argument("id")
    p.set_defaults(func=_show)
    p = cmds.add_parser("download", parents=[common], help="download a model's files, checking each SHA-256")
    p.add_argument("id")
    p.add_argument("-o", "--output", default="", help="local directory (default ./ID)")
    p.add_argument("--file", default="", help="only this file of the model")
    p.set_defaults(func=_download)
