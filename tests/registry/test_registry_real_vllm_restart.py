"""Restart mode against the REAL vLLM (CPU build 0.32.0): deploy/vllm/launch.py starts it
(``--vllm`` takes a wrapper: the CPU build's console script is broken), the registry's
restart command relaunches it, and the registry reports an activation applied only once vLLM
serves it. An adapter whose files went bad after registration makes vLLM exit at start
("Call to add_lora method failed" in init_static_loras): the registry puts the previous one
back, restarts vLLM again and reports FAILED with the tail of vLLM's output.

Each activation here is a real vLLM restart (~30 s each on 2 free cores); skipped only when
the vLLM virtualenv is absent.
"""

from __future__ import annotations

import pytest

from real_vllm_helpers import cli, cli_json, greedy_ids, peft_ids, require_venv, served, tokenize
from tuneforge.services.registry import marker
from tuneforge.testing import real_vllm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def base():
    require_venv()
    from tuneforge.testing.tiny_lm import cached_tiny_lm_vllm

    return cached_tiny_lm_vllm()


@pytest.fixture
def deployment(server_factory, base, tmp_path):
    """A registry in restart mode whose restart command relaunches vLLM through launch.py."""
    d = tmp_path / "vllm"
    d.mkdir()
    data_root = tmp_path / "var"
    port = real_vllm.free_port()
    script = real_vllm.write_restart_script(d, data_root, port)
    srv = server_factory(data_root, vllm_mode="restart", vllm_url=f"http://127.0.0.1:{port}",
                         vllm_restart_command=str(script), vllm_restart_timeout_seconds=150,
                         vllm_log_file=str(d / "vllm.log"))
    try:
        yield srv, f"http://127.0.0.1:{port}", d
    finally:
        real_vllm.stop_restarted(d)


def test_restart_mode_applies_only_once_vllm_serves_and_rolls_back_a_bad_adapter(deployment, base, tmp_path):
    from tuneforge.testing.tiny_lora import train_tiny_lora

    srv, url, d = deployment
    good = train_tiny_lora(base, tmp_path / "good" / "final", seed=3)
    cli(srv, "import", str(good), "--name", "good")
    act = cli_json(srv, "activate", "good")  # launch.py starts vLLM with --lora-modules good@v1=...
    assert act["vllm_state"] == "VLLM_STATE_APPLIED" and served(url) == {"good@v1"}
    prompt = tokenize(base)
    assert greedy_ids(url, "good@v1", prompt) == peft_ids(base, good, prompt)
    assert "--lora-modules good@v1=" in (d / "vllm.log").read_text()

    cli(srv, "import", str(train_tiny_lora(base, tmp_path / "bad" / "final", seed=4, steps=1)), "--name", "bad")
    weights = srv.config.root / "adapters" / "bad" / "final" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])  # the files went bad after registration
    from tuneforge.client import Client, Unavailable

    with Client(srv.target, timeout=900) as client, pytest.raises(Unavailable) as e:
        client.registry.activate_adapter(name="bad")
    assert e.value.reason == "VLLM_RESTART_FAILED" and "activation FAILED" in e.value.message
    # the tail of vLLM's own output says why it died
    assert "Call to add_lora method failed" in e.value.metadata["output_tail"]
    assert marker.read_active(srv.config.root / "adapters") == "good"
    assert served(url) == {"good@v1"}  # vLLM runs again, with the previous adapter
    entry = cli_json(srv, "history")["activations"][0]
    assert entry["vllm_state"] == "VLLM_STATE_FAILED" and "serves it again" in entry["vllm_message"]
    assert [a["name"] for a in cli_json(srv, "list")["adapters"] if a.get("active")] == ["good"]
