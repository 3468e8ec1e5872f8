#!/usr/bin/env python3
"""Start vLLM serving the adapter named by ``<data_root>/adapters/.active``.

    launch.py [--data-root DIR] [--base-model M] [--mode hot|restart|none] [--dry-run] [-- VLLM ARGS...]

Builds ``vllm serve BASE --enable-lora --max-lora-rank R [--lora-modules NAME=PATH]`` and
execs it (so systemd/docker signal vLLM itself). BASE is ``--base-model``, else
``$TUNEFORGE_VLLM_BASE_MODEL``, else the active adapter's ``base_model_name_or_path``. The
adapter is served under the registry's versioned name (``name@v3``, read from
``state.db``) so the registry finds it in ``/v1/models``; R is the adapter's rank rounded
up to a value vLLM accepts, at least ``--max-lora-rank`` (default 16) so later hot-loads of
rank ≤ R fit. In hot mode ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` is set. No active
adapter: the base model is served with ``--enable-lora``. Arguments after ``--`` go to
vLLM unchanged. ``--dry-run`` prints the environment change and the command, one JSON
object, and exits.

Standalone on purpose (stdlib only): it runs inside a vLLM image without tuneforge.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import sys
from pathlib import Path

VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # values vLLM's --max-lora-rank accepts


def read_active(data_root: Path) -> str | None:
    try:
        text = (data_root / "adapters" / ".active").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text.splitlines()[0].strip() if text else None


def served_name(data_root: Path, name: str) -> str:
    db = data_root / "state.db"
    if db.exists():
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                row = conn.execute("SELECT version FROM registry_adapters WHERE name=?", (name,)).fetchone()
            finally:
                conn.close()
            if row:
                return f"{name}@v{row[0]}"
        except sqlite3.Error as exc:
            print(f"launch.py: cannot read {db}: {exc}; serving as {name!r}", file=sys.stderr)
    return name


def round_rank(rank: int) -> int:
    for r in VLLM_RANKS:
        if r >= rank:
            return r
    raise SystemExit(f"launch.py: adapter rank {rank} is above vLLM's largest max LoRA rank {VLLM_RANKS[-1]}")


def build(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    data_root = Path(args.data_root).resolve()
    name = read_active(data_root)
    base = args.base_model or os.environ.get("TUNEFORGE_VLLM_BASE_MODEL") or ""
    rank = args.max_lora_rank
    lora: list[str] = []
    if name:
        path = data_root / "adapters" / name / "final"
        try:
            config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"launch.py: active adapter {name!r} is unreadable: {exc}")
        adapter_rank = max([int(config.get("r", 0)), *map(int, (config.get("rank_pattern") or {}).values())])
        rank = max(rank, adapter_rank)
        adapter_base = config.get("base_model_name_or_path") or ""
        if not base:
            base = adapter_base
        elif adapter_base and adapter_base != base:
            print(f"launch.py: warning: adapter {name!r} was trained on {adapter_base!r}, serving {base!r}",
                  file=sys.stderr)
        lora = ["--lora-modules", f"{served_name(data_root, name)}={path}"]
    if not base:
        raise SystemExit("launch.py: no base model: pass --base-model or set TUNEFORGE_VLLM_BASE_MODEL")
    cmd = [args.vllm, "serve", base, "--enable-lora", "--max-lora-rank", str(round_rank(rank)), *lora]
    if args.host:
        cmd += ["--host", args.host]
    if args.port:
        cmd += ["--port", str(args.port)]
    cmd += args.vllm_args
    env = {}
    if args.mode == "hot":
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    return cmd, env


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description="Start vLLM with the active tuneforge adapter.")
    ap.add_argument("--data-root", default=os.environ.get("TUNEFORGE_HOME", "./var"))
    ap.add_argument("--base-model", default=None)
    ap.add_argument("--mode", default=os.environ.get("TUNEFORGE_VLLM_MODE", "none"), choices=["hot", "restart", "none"])
    ap.add_argument("--max-lora-rank", type=int, default=int(os.environ.get("TUNEFORGE_VLLM_MAX_LORA_RANK", "16")))
    ap.add_argument("--host", default=None)
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--vllm", default=os.environ.get("TUNEFORGE_VLLM_BIN", "vllm"), help="the vllm executable")
    ap.add_argument("--dry-run", action="store_true", help="print the command as JSON and exit")
    args = ap.parse_args(argv)
    args.vllm_args = extra
    cmd, env = build(args)
    if args.dry_run:
        print(json.dumps({"env": env, "argv": cmd, "shell": shlex.join(cmd)}))
        return
    os.environ.update(env)
    print(f"launch.py: exec {shlex.join(cmd)}", file=sys.stderr, flush=True)
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        raise SystemExit(f"launch.py: {cmd[0]!r} not found; pass --vllm /path/to/vllm") from None


if __name__ == "__main__":
    main()
