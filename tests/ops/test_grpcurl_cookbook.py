"""docs/grpcurl.md cannot rot: its ```bash blocks run, in order, in one bash session against a
real server, with `grpcurl` answered by a reflection-only client (tests/ops/grpcurl_shim.py:
no proto files, no generated code). Every grpcurl call must end with the status the doc
writes next to it (``# → NOT_FOUND``; no comment = OK), and every RPC the server lists
through reflection must appear in the doc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "grpcurl.md"
EXPECT = re.compile(r"#\s*→\s*([A-Z_]+)")
METHOD = re.compile(r"\b((?:grpc|tuneforge)\.[\w.]+)/(\w+)")

JQ_FALLBACK = r'''
import json, sys
args = [a for a in sys.argv[1:] if a != "-r"]
value = json.load(sys.stdin)
for part in args[0].lstrip(".").split("."):
    if part:
        value = value[part]
print(value if isinstance(value, str) else json.dumps(value))
'''


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def grpcurl_lines(block: str) -> list[str]:
    block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
    return [line for line in block.splitlines() if re.search(r"(^|[\s($])grpcurl\s", line) and not line.lstrip().startswith("#")]


def expected_calls(text: str) -> list[tuple[str, str]]:
    """(method or command, expected code) for every grpcurl call, in document order."""
    calls = []
    for block in bash_blocks(text):
        for line in grpcurl_lines(block):
            found = EXPECT.search(line)
            method = METHOD.search(line)
            target = f"/{method.group(1)}/{method.group(2)}" if method else ("describe" if " describe " in line else "list")
            calls.append((target, found.group(1) if found else "OK"))
    return calls


def test_every_rpc_the_server_offers_is_in_the_cookbook(server):
    text = DOC.read_text(encoding="utf-8")
    documented = {method for method, _ in expected_calls(text)}
    channel = grpc.insecure_channel(server.target)
    db = ProtoReflectionDescriptorDatabase(channel)
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool(db)
    missing = []
    for service in db.get_services():
        if service.startswith("grpc.reflection."):
            continue  # grpcurl itself speaks it (list, describe)
        for method in pool.FindServiceByName(service).methods:
            if f"/{service}/{method.name}" not in documented:
                missing.append(f"{service}/{method.name}")
    channel.close()
    assert not missing, f"docs/grpcurl.md has no example for: {missing}"


def test_cookbook_examples_run_against_a_real_server(server, tmp_path, monkeypatch):
    sys.path.insert(0, str(HERE))
    try:
        import grpcurl_shim
    finally:
        sys.path.remove(str(HERE))
    text = DOC.read_text(encoding="utf-8")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "grpcurl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S -c \'{grpcurl_shim.CLIENT}\' "$@"\n')
    shim.chmod(0o755)
    if shutil.which("jq") is None:  # a minimal `jq -r .field` for machines without jq
        jq = bindir / "jq"
        jq.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c \'{JQ_FALLBACK}\' "$@"\n')
        jq.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GRPCURL_TARGET", server.target)
    monkeypatch.setenv("GRPCURL_LOG", str(log))
    sock = f"/tmp/grpcurl-{os.getpid()}-{id(log)}.sock"  # short: unix socket paths max ~107 bytes
    resident = grpcurl_shim.serve(sock)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "GRPCURL_SOCKET": sock}
    script = "\n".join(bash_blocks(text))
    try:
        out = subprocess.run(["bash", "-c", script], check=False, cwd=work, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120)
    finally:
        resident.shutdown()
        resident.server_close()
        os.unlink(sock)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if os.environ.get("GRPCURL_KEEP_LOG"):
        shutil.copy(log, os.environ["GRPCURL_KEEP_LOG"])
    got = [(c.get("method") or c["command"], c["code"]) for c in calls]
    expected = expected_calls(text)
    diff = [f"{i}: doc {e} got {g}" for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    assert len(got) == len(expected) and not diff, (
        f"{diff or 'call count differs'}\nexpected {len(expected)}, got {len(got)}\n"
        f"stderr:\n{out.stderr[-4000:]}"
    )
    for call in calls:
        if call["code"] == "OK" and "method" in call:
            assert call["responses"] >= 1, call


@pytest.mark.parametrize("line, expected", [
    ("grpcurl -plaintext -d '{}' localhost:50051 tuneforge.jobs.v1.JobService/GetJob  # → NOT_FOUND", ("/tuneforge.jobs.v1.JobService/GetJob", "NOT_FOUND")),
    ("X=$(grpcurl -plaintext -d @ localhost:50051 grpc.health.v1.Health/Check <<EOF | jq -r .status", ("/grpc.health.v1.Health/Check", "OK")),
])
def test_expected_outcome_parsing(line, expected):
    assert expected_calls(f"```bash\n{line}\n```") == [expected]
