"""`tuneforge dataset prefer NAME --from-eval REPORT`: the correction loop after a first SFT pass.

An evaluation report's samples hold, per held-out dialog, the owner's real reply and the
adapter's; where they differ, the owner's becomes ``chosen`` and the adapter's ``rejected``
(``tuneforge.client.preferences.pairs_from_evaluation``). The pairs are uploaded and
imported as preference dataset NAME, with the same per-record checks as any import, ready for
``tuneforge train start --set method=dpo``. With ``--kto`` the samples become labelled answers
instead (the owner's reply ``label: true``, the adapter's and the base's where they differ
``label: false``; ``labelled_from_evaluation``), imported as a ``kto`` dataset for
``--set method=kto``.

``--from-eval`` takes a report saved as JSON (``{"samples": [...]}``, or a list of samples)
or, on a server that keeps evaluation reports in the registry, an adapter name.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tuneforge.client.preferences import labelled_from_evaluation, pairs_from_evaluation

from tuneforge.cli.common import connect, emit, to_dict


def _samples(client: Any, source: str) -> list[dict[str, Any]]:
    path = Path(source).expanduser()
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        get = getattr(client.registry, "get_evaluation", None)
        if get is None:
            raise SystemExit(f"error: {source} is not a file, and this server keeps no evaluation "
                             f"reports; save a report as JSON and pass its path")
        data = to_dict(get(adapter_name=source))
    data = data.get("report", data) if isinstance(data, dict) else data
    samples = data.get("samples") if isinstance(data, dict) else data
    if not isinstance(samples, list):
        raise SystemExit("error: the evaluation report has no samples list")
    return samples


def _prefer(args: argparse.Namespace) -> int:
    client = connect(args)
    samples = _samples(client, args.from_eval)
    records = (labelled_from_evaluation if args.kto else pairs_from_evaluation)(samples)
    if not records:
        print(f"no {'labelled answers' if args.kto else 'pairs'}: in all {len(samples)} samples "
              f"the adapter already answered as the owner did (or nothing was generated)",
              file=sys.stderr)
        return 1
    fmt = "kto" if args.kto else "preference"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.name}.{fmt}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
        upload = client.upload_file("dataset", path, filename=path.name)
    resp = client.dataset.import_dataset(upload_id=upload.id, dataset_name=args.name, format=fmt)
    if args.kto:
        good = sum(1 for r in records if r["label"])
        said = (f"{len(records)} labelled answers ({good} desirable: the owner's, "
                f"{len(records) - good} undesirable: the adapter's/base's) from {len(samples)} "
                f"samples; train with --set method=kto")
    else:
        said = (f"{len(records)} preference pairs from {len(samples)} samples (owner = chosen, "
                f"adapter = rejected); train with --set method=dpo")
    emit(args, resp, f"dataset {args.name}: {said}")
    return 0


def add_command(cmds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = cmds.add_parser("prefer", parents=[common],
                        help="preference pairs (or, --kto, labelled answers) from an evaluation "
                             "report (owner = chosen / desirable)")
    p.add_argument("name", help="preference dataset to create")
    p.add_argument("--from-eval", required=True, metavar="REPORT",
                   help="evaluation report JSON file, or an adapter whose report the registry keeps")
    p.add_argument("--kto", action="store_true",
                   help="labelled answers for method=kto instead of pairs: the owner's reply "
                        "true, the adapter's/base's false")
    p.set_defaults(func=_prefer)
