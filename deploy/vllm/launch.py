#!/usr/bin/env python3
"""Start vLLM serving the adapter named by ``<data_root>/adapters/.active``.

    launch.py [--data-root DIR] [--base-model M] [--mode hot|restart|none] [--vllm EXE] [--dry-run]
              [-- VLLM ARGS...]

Builds ``vllm serve BASE --enable-lora --max-lora-rank R --max-loras N [--lora-modules
NAME=PATH ...]`` and execs it (so systemd/docker signal vLLM itself). BASE is
``--base-model``, else ``$TUNEFORGE_VLLM_BASE_MODEL``, else the active adapter's
``base_model_name_or_path``. The active adapter (``adapters/.active``) and the adapters
served beside it (``adapters/.serving``, ``tuneforge adapters serve``) are passed under the
registry's versioned names (``name@v3``, written by the registry into those files, so
``state.db`` is never opened: a read-only mount or another user works) so the registry
finds them in ``/v1/models``. R is the largest of their ranks rounded up to a value vLLM
accepts, at least ``--max-lora-rank`` (default 16) so later hot-loads of rank ≤ R fit; N is
``--max-loras`` (default 4), at least the number of adapters passed. In hot mode
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` is set, and data-parallel or multi-API-server
arguments are refused (vLLM refuses runtime LoRA updates with more than one API server).
No active adapter: the base model is served with ``--enable-lora``. Arguments after ``--``
go to vLLM unchanged. ``--vllm`` names the executable (a wrapper for builds whose console
script is broken, e.g. the CPU build: ``WRAPPER serve MODEL ARGS...``). ``--dry-run``
prints the environment change and the command, one JSON object, and exits.

Standalone on purpose (stdlib only): it runs inside a vLLM image without tuneforge.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # values vLLM's --max-lora-rank accepts


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except PermissionError as exc:
        raise SystemExit(f"launch.py: cannot read {path}: {exc} (the registry writes it 0644; check the mount)")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_active(data_root: Path) -> tuple[str, str] | None:
    """(name, served name) from adapters/.active; a marker of an older registry has no
    second line: the adapter is then served under its plain name."""
    lines = _lines(data_root / "adapters" / ".active")
    if not lines:
        return None
    return lines[0], lines[1] if len(lines) > 1 else lines[0]


def read_serving(data_root: Path) -> list[tuple[str, str]]:
    out = []
    for line in _lines(data_root / "adapters" / ".serving"):
        name, _, served = line.partition(" ")
        out.append((name, served.strip() or name))
    return out


def _int_option(args: list[str], *names: str) -> int | None:
    """The value of ``--opt N`` / ``--opt=N`` among vLLM's arguments (the last one wins)."""
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
    try:
        return int(found) if found is not None else None
    except ValueError:
        return None


def refuse_multi_server_in_hot_mode(mode: str, vllm_args: list[str]) -> None:
    """vLLM 0.32 (entrypoints/cli/serve.py) raises "VLLM_ALLOW_RUNTIME_LORA_UPDATING cannot be
    used with api_server_count > 1", and the API server count follows the data-parallel
    size unless given: say so before vLLM spends minutes loading the model."""
    if mode != "hot":
        return
    dp = _int_option(vllm_args, "--data-parallel-size", "-dp") or 1
    servers = _int_option(vllm_args, "--api-server-count", "-asc")
    if (servers or dp) > 1:
        what = f"--api-server-count {servers}" if servers else f"--data-parallel-size {dp}"
        raise SystemExit(
            f"launch.py: {what} runs several API servers, and vLLM refuses runtime LoRA updates"
            " (hot mode) there. Use restart mode (TUNEFORGE_VLLM_MODE=restart) or one API server"
            " (--api-server-count 1)."
        )


def round_rank(rank: int) -> int:
    for r in VLLM_RANKS:
        if r >= rank:
            return r
    raise SystemExit(f"launch.py: adapter rank {rank} is above vLLM's largest max LoRA rank {VLLM_RANKS[-1]}")


def _adapter(data_root: Path, name: str) -> tuple[Path, dict]:
    path = data_root / "adapters" / name / "final"
    try:
        return path, json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"launch.py: adapter {name!r} is unreadable: {exc}")


def build(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    data_root = Path(args.data_root).resolve()
    refuse_multi_server_in_hot_mode(args.mode, args.vllm_args)
    active = read_active(data_root)
    wanted = ([active] if active else []) + [p for p in read_serving(data_root) if not active or p[0] != active[0]]
    base = args.base_model or os.environ.get("TUNEFORGE_VLLM_BASE_MODEL") or ""
    rank = args.max_lora_rank
    lora: list[str] = []
    for i, (name, served) in enumerate(wanted):
        path, config = _adapter(data_root, name)
        rank = max(rank, int(config.get("r", 0)), *map(int, (config.get("rank_pattern") or {}).values()))
        adapter_base = config.get("base_model_name_or_path") or ""
        if not base and i == 0:
            base = adapter_base
        elif adapter_base and adapter_base != base:
            print(f"launch.py: warning: adapter {name!r} was trained on {adapter_base!r}, serving {base!r}",
                  file=sys.stderr)
        lora.append(f"{served}={path}")
    if not base:
        raise SystemExit("launch.py: no base model: pass --base-model or set TUNEFORGE_VLLM_BASE_MODEL")
    cmd = [args.vllm, "serve", base, "--enable-lora", "--max-lora-rank", str(round_rank(rank)),
           "--max-loras", str(max(args.max_loras, len(lora), 1))]
    if lora:
        cmd += ["--lora-modules", *lora]
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
    ap.add_argument("--max-loras", type=int, default=int(os.environ.get("TUNEFORGE_VLLM_MAX_LORAS", "4")),
                    help="adapters served at once (vLLM's --max-loras)")
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
