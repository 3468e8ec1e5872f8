"""`tuneforge demo` from nothing to an active adapter, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_ends_with_an_active_adapter(tmp_path):
    root = tmp_path / "var"
    out = subprocess.run(
        [sys.executable, "-m", "tuneforge.cli.main", "demo", "--data-root", str(root)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TUNEFORGE_HOME": str(root)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "active adapter: demo-support" in out.stdout
    active = (root / "adapters" / ".active").read_text().strip()
    assert active.startswith("demo-support")
    final = root / "adapters" / "demo-support" / "final"
    assert (final / "adapter_model.safetensors").stat().st_size > 0
    config = json.loads((final / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert (root / "datasets" / "demo-support" / "data.jsonl").read_text().count("\n") >= 20
