#!/usr/bin/env python3
"""Generate the Python gRPC code from protos/ into clients/python/ (committed).

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 if the committed code is stale (CI)

Besides the protoc output it writes the typed SDK wrappers (scripts/gen_sdk.py →
clients/python/tuneforge/client/services.py), checked the same way.

The proto paths start with the Python package name (protos/tuneforge/...), so the generated
imports (``from tuneforge.common.v1 import common_pb2``) need no rewriting.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "clients" / "python"), str(Path(__file__).resolve().parent)]
import gen_sdk  # noqa: E402 - after the path set-up
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "python"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc

    wkt = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p.relative_to(PROTOS)) for p in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    made = []
    for proto in sources:
        pkg_dir = out / proto.parent.relative_to(PROTOS)
        # Every generated directory is a regular package below the `tuneforge` namespace.
        rel = proto.parent.relative_to(PROTOS)
        for depth in range(1, len(rel.parts)):
            init = out.joinpath(*rel.parts[: depth + 1]) / "__init__.py"
            if not init.exists():
                init.write_text("")
            made.append(init)
        made.extend(sorted(pkg_dir.glob(f"{proto.stem}_pb2*")))
    return made


def generated_files(base: Path) -> set[Path]:
    files = set()
    for proto in PROTOS.rglob("*.proto"):
        rel = proto.parent.relative_to(PROTOS)
        for suffix in GENERATED_SUFFIXES:
            files.add(rel / f"{proto.stem}{suffix}")
        for depth in range(1, len(rel.parts)):
            files.add(Path(*rel.parts[: depth + 1]) / "__init__.py")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if not args.check:
        generate(OUT)
        (OUT / gen_sdk.RELATIVE_PATH).write_text(gen_sdk.render(), encoding="utf-8")
        print(f"generated into {OUT}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [
            str(rel)
            for rel in sorted(generated_files(Path(tmp)))
            if not (OUT / rel).exists() or not filecmp.cmp(Path(tmp) / rel, OUT / rel, shallow=False)
        ]
    sdk = OUT / gen_sdk.RELATIVE_PATH
    if not sdk.exists() or sdk.read_text(encoding="utf-8") != gen_sdk.render():
        stale.append(gen_sdk.RELATIVE_PATH)
    if stale:
        print("generated code is stale; run: python scripts/gen_protos.py", file=sys.stderr)
        for name in stale:
            print(f"  {name}", file=sys.stderr)
        return 1
    print("generated code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
