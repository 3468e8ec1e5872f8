"""The client SDK ships on its own: generated stubs included, no torch or ML stack needed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "faster_whisper", "qwen_tts")


def test_client_distribution_declares_only_grpc_dependencies():
    meta = tomllib.loads((REPO / "clients" / "python" / "pyproject.toml").read_text())
    deps = " ".join(meta["project"]["dependencies"]).lower()
    assert not any(name.replace("_", "-") in deps for name in HEAVY), deps


def test_client_wheel_holds_the_sdk_and_every_generated_stub(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO / "clients" / "python")],
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("tuneforge_client-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for service in ("common", "dataset", "trainer", "tts", "registry"):
        assert f"tuneforge/{service}/v1/{service}_pb2.py" in names
        assert f"tuneforge/{service}/v1/{service}_pb2_grpc.py" in names
    assert "tuneforge/client/client.py" in names
    assert "tuneforge/cli/main.py" in names  # the CLI ships with the SDK (clients/python)
    assert not any(n.startswith(("tuneforge/runtime", "tuneforge/services")) for n in names)


def test_importing_the_sdk_imports_no_ml_stack():
    code = (
        "import sys, tuneforge.client, tuneforge.cli.main\n"
        "from tuneforge.client import Client\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_service_process_never_imports_the_ml_stack(tmp_path):
    code = (
        "import asyncio, sys\n"
        "from tuneforge.runtime.config import load_config\n"
        "from tuneforge.runtime.server import TuneforgeServer\n"
        "async def main():\n"
        f"    cfg, _ = load_config(overrides={{'data_root': {str(tmp_path / 'var')!r}, 'port': 0}}, environ={{}})\n"
        "    server = TuneforgeServer(cfg)\n"
        "    await server.start()\n"
        "    await server.stop()\n"
        "asyncio.run(main())\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
