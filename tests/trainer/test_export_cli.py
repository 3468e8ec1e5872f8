"""`tuneforge train export` and `tuneforge models list|show|download` in subprocesses against a
real server: the export lands in the catalog and downloads into files `sha256sum -c` accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from export_helpers import make_adapter
from trainer_helpers import REPO
from tuneforge.client import Client

from tuneforge.testing.tiny_archs import cached_tiny_arch


def cli(target: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNEFORGE_TARGET": target}
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", *args], check=False, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)  # fmt: skip


def test_cli_export_follow_then_list_show_and_download_with_checksums(server, tmp_path):
    adapter = make_adapter(cached_tiny_arch("qwen2"), tmp_path / "adapter")
    with Client(server.target, timeout=30) as client:
        client.registry.register_adapter(name="bot", path=str(adapter), base_model=str(cached_tiny_arch("qwen2")))

    run = cli(server.target, "train", "export", "bot", "--format", "gguf", "--quant", "f16", "--follow")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "model: bot-gguf-f16-v1" in run.stdout and "converting" in run.stderr

    listed = cli(server.target, "models", "list", "--adapter", "bot")
    assert "bot-gguf-f16-v1" in listed.stdout and "bot-f16.gguf" in listed.stdout
    shown = json.loads(cli(server.target, "models", "show", "bot-gguf-f16-v1", "--json").stdout)
    assert shown["format"] == "EXPORT_FORMAT_GGUF" and len(shown["files"]) == 4  # + SERVING_CHECK.json (issue 26)

    out = tmp_path / "download"
    got = cli(server.target, "models", "download", "bot-gguf-f16-v1", "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "SERVING_CHECK.json", "SHA256SUMS", "bot-f16.gguf"]
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_cli_export_of_an_unknown_adapter_prints_the_reason(server):
    run = cli(server.target, "train", "export", "nope", "--format", "awq")
    assert run.returncode == 4 and "not found" in run.stderr
