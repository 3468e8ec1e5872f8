"""`tuneforge adapters ...` in a subprocess against a real server (marker-only vLLM mode)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile

from registry_helpers import make_adapter

from tuneforge.services.registry import marker


def _cli(srv, *args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "tuneforge.cli.main", "adapters", *args, "--target", srv.target],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "TUNEFORGE_TOKEN": ""},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _json(srv, *args):
    return json.loads(_cli(srv, *args, "--json").stdout)


def test_cli_import_list_activate_export_rm(server, tmp_path):
    root = server.config.root
    src = make_adapter(tmp_path / "support-bot" / "final", r=4)
    (src / "checkpoint-9").mkdir()  # sub-directories are not packed
    imported = _json(server, "import", str(src))
    assert imported["name"] == "support-bot" and imported["rank"] == 4

    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuneforge.cli.main", "adapters", "watch", "--json", "--target", server.target],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        snapshot = json.loads(watcher.stdout.readline())
        assert snapshot.get("adapter_name", "") == ""
        act = _json(server, "activate", "support-bot")
        assert act["adapter_name"] == "support-bot" and act["vllm_state"] == "VLLM_STATE_NOT_CONFIGURED"
        assert json.loads(watcher.stdout.readline())["adapter_name"] == "support-bot"
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(10) == 0

    listed = _json(server, "list")["adapters"]
    assert [(a["name"], a.get("active", False)) for a in listed] == [("support-bot", True)]
    table = _cli(server, "list").stdout
    assert "* " in table and "support-bot" in table and "KB" in table
    assert "rank / alpha" in _cli(server, "show", "support-bot").stdout
    assert "VARIANT" in table and " lora " in table
    assert re.search(r"^variant +lora$", _cli(server, "show", "support-bot").stdout, re.M)

    out = tmp_path / "exported.tar.gz"
    assert _json(server, "export", "support-bot", "-o", str(out))["size_bytes"] == out.stat().st_size
    with tarfile.open(out) as tar:
        assert not any("checkpoint" in n for n in tar.getnames())
    copy = _json(server, "import", str(out), "--name", "copy")
    assert copy["name"] == "copy" and copy["rank"] == 4

    refused = _cli(server, "rm", "support-bot", check=False)
    assert refused.returncode == 6 and "ADAPTER_ACTIVE" in refused.stderr
    history = _json(server, "history")["activations"]
    assert [h["action"] for h in history] == ["activate"]
    assert _json(server, "rm", "support-bot", "--force") == {"deleted": "support-bot"}
    assert [a["name"] for a in _json(server, "list")["adapters"]] == ["copy"]
    assert marker.read_active(root / "adapters") is None


def test_cli_failures_exit_non_zero_with_the_reason(server, tmp_path):
    missing = _cli(server, "activate", "ghost", check=False)
    assert missing.returncode == 4 and "ADAPTER_NOT_FOUND" in missing.stderr
    bad = _cli(server, "show", "../etc", check=False)
    assert bad.returncode == 3 and "name:" in bad.stderr
    not_adapter = tmp_path / "plain"
    not_adapter.mkdir()
    (not_adapter / "notes.txt").write_text("hi")
    refused = _cli(server, "import", str(not_adapter), check=False)
    assert refused.returncode == 1 and "adapter_config.json" in refused.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(4096))
    refused = _cli(server, "import", str(junk), "--name", "junk", check=False)
    assert refused.returncode == 3 and "ARCHIVE_FORMAT" in refused.stderr
    assert _json(server, "list") == {"adapters": []}
    assert "no adapters" in _cli(server, "list").stdout
