"""deploy/vllm/launch.py (dry run), the fake vLLM's command line, and vLLM wire details."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from registry_helpers import make_adapter
from tuneforge.services.registry import marker
from tuneforge.services.registry.vllm import (
    VllmClient,
    VllmRejected,
    VllmUnreachable,
    _rejection,
    is_transient,
    same_model,
)

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "deploy" / "vllm" / "launch.py"


def _launch(*args: str, env: dict | None = None) -> dict:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, str(LAUNCH), "--dry-run", *args], capture_output=True, text=True,
                         env=full_env, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_launch_serves_active_adapter_under_versioned_name_with_rounded_rank(catalog, data_root, tmp_path):
    a = catalog.import_directory("support", make_adapter(tmp_path / "s", r=24, base="Org/Base"))
    catalog.import_directory("support", make_adapter(tmp_path / "s2", r=24, base="Org/Base"), replace=True)
    marker.write_active(catalog.adapters_dir, "support", "support@v2")
    got = _launch("--data-root", str(data_root), "--mode", "hot", "--port", "8001", "--", "--dtype", "half")
    path = data_root.resolve() / "adapters" / "support" / "final"
    assert got["argv"] == ["vllm", "serve", "Org/Base", "--enable-lora", "--max-lora-rank", "32", "--max-loras", "4",
                           "--lora-modules", f"support@v2={path}", "--port", "8001", "--dtype", "half"]
    assert got["env"] == {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    assert a.version == 1


def test_launch_without_active_adapter_serves_base_with_lora_enabled(data_root):
    got = _launch("--data-root", str(data_root), env={"TUNEFORGE_VLLM_BASE_MODEL": "Org/Base",
                                                      "TUNEFORGE_VLLM_MODE": "restart"})
    assert got["argv"] == ["vllm", "serve", "Org/Base", "--enable-lora", "--max-lora-rank", "16", "--max-loras", "4"]
    assert got["env"] == {}


def test_launch_passes_served_adapters_without_opening_state_db(tmp_path):
    """A copy of adapters/ alone (no state.db: a read-only mount of part of the data root)."""
    root = tmp_path / "mount"
    for name, r in (("personal", 8), ("support", 64)):
        make_adapter(root / "adapters" / name / "final", r=r, base="Org/Base")
    marker.write_active(root / "adapters", "personal", "personal@v3")
    marker.write_serving(root / "adapters", [("support", "support@v2")])
    got = _launch("--data-root", str(root), "--mode", "restart", "--max-loras", "1")
    a = root.resolve() / "adapters"
    assert not (root / "state.db").exists()
    assert got["argv"] == ["vllm", "serve", "Org/Base", "--enable-lora", "--max-lora-rank", "64", "--max-loras", "2",
                           "--lora-modules", f"personal@v3={a / 'personal' / 'final'}",
                           f"support@v2={a / 'support' / 'final'}"]


@pytest.mark.parametrize("args", [["--data-parallel-size", "2"], ["-dp=2"], ["--api-server-count", "4"]])
def test_launch_refuses_several_api_servers_in_hot_mode(data_root, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")}
    out = subprocess.run([sys.executable, str(LAUNCH), "--data-root", str(data_root), "--base-model", "Org/Base",
                          "--mode", "hot", "--dry-run", "--", *args], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode != 0 and "refuses runtime LoRA updates" in out.stderr and "restart mode" in out.stderr
    assert _launch("--data-root", str(data_root), "--base-model", "Org/Base", "--mode", "restart", "--", *args)


def test_launch_without_base_model_fails_clearly(data_root):
    out = subprocess.run([sys.executable, str(LAUNCH), "--data-root", str(data_root), "--dry-run"],
                         capture_output=True, text=True, timeout=30,
                         env={k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")})
    assert out.returncode != 0 and "no base model" in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fake_vllm_command_line_serves_models(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tuneforge.testing.fake_vllm", "--port", str(port),
                             "--model", "Org/Base"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert "fake vLLM serving" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as r:
            data = json.load(r)["data"]
        assert data[0]["id"] == "Org/Base" and data[0]["parent"] is None
    finally:
        proc.terminate()
        proc.wait(10)


async def test_client_speaks_the_wire_contract(fake_vllm, tmp_path):
    client = VllmClient(fake_vllm.url)
    path = make_adapter(tmp_path / "a")
    await client.load("x@v1", str(path))
    with pytest.raises(VllmRejected) as e:
        await client.load("x@v1", str(path))
    assert e.value.status == 400 and "already been loaded" in e.value.message
    with pytest.raises(VllmRejected) as e:
        await client.load("y@v1", str(tmp_path / "missing"))
    assert e.value.status == 404 and e.value.reason == "ADAPTER_PATH_NOT_FOUND"
    models = await client.models()
    assert models.base_id == "tiny-base" and models.loras == {"x@v1": str(path)}
    assert await client.unload("x@v1") is True
    assert await client.unload("x@v1") is False  # 404: unknown name
    fake_vllm.stop()
    with pytest.raises(VllmUnreachable):
        await client.models()


def test_both_error_body_shapes_are_understood():
    old = json.dumps({"object": "error", "message": "LoRA rank 32 is greater than max_lora_rank 16.",
                      "type": "BadRequestError", "param": None, "code": 400}).encode()
    new = json.dumps({"error": {"message": "LoRA rank 32 is greater than max_lora_rank 16.",
                                "type": "BadRequestError", "param": None, "code": 400}}).encode()
    for body in (old, new):
        assert _rejection(400, body).reason == "LORA_RANK_TOO_HIGH"
    assert _rejection(404, b'{"detail":"Not Found"}').reason == "VLLM_RUNTIME_LORA_DISABLED"
    assert _rejection(500, b"Internal Server Error").message == "Internal Server Error"


def test_engine_refusal_500_is_unwrapped_and_not_transient():
    body = json.dumps({"error": {"message": "Call to add_lora method failed: Worker failed with error 'LoRA rank 32"
                                 " is greater than max_lora_rank 16.', please check the stack trace above for the"
                                 " root cause", "type": "InternalServerError", "param": None, "code": 500}}).encode()
    err = _rejection(500, body)
    assert err.reason == "LORA_RANK_TOO_HIGH" and err.message == "LoRA rank 32 is greater than max_lora_rank 16."
    assert not is_transient(500, body)
    timeout = json.dumps({"error": {"message": "Call to add_lora method failed: RPC call to add_lora timed out.",
                                    "type": "InternalServerError", "param": None, "code": 500}}).encode()
    assert is_transient(500, timeout) and not is_transient(400, timeout)


def test_same_model_matches_paths_and_hub_ids():
    assert same_model("Qwen/Qwen2.5-7B", "/models/Qwen/Qwen2.5-7B")
    assert same_model("/a/tiny", "tiny")
    assert not same_model("Qwen/Qwen2.5-7B", "Other/Qwen2.5-7B")
    assert not same_model("Qwen/Qwen2.5-7B", "meta-llama/Llama-3-8B")
