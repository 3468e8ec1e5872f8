"""The serving path checked against the REAL vLLM (CPU build 0.32.0), through our gRPC API and
CLI: an adapter is staged under ``NAME@vN~staging`` beside production, checked (stop rate,
template leakage, greedy parity with PEFT) and promoted; one that cannot stop is refused
while production keeps the previous adapter; files swapped on disk behind vLLM's back are
caught by the fingerprint after a reload and rolled back; a sleep/wake cycle is followed by a
probe of every served adapter.

The adapters are trained here on chat turns in the tiny model's template: ``yes`` ends every
reply with ``<|im_end|>`` (it stops), ``runner`` repeats a word and never emits the
end-of-turn token (it cannot stop). One vLLM per module (dev mode, for the sleep routes).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from real_vllm_helpers import cli, cli_json, require_venv, served
from tuneforge.services.registry import marker
from tuneforge.services.registry.conformance import PROBE_PROMPTS
from tuneforge.testing import real_vllm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
PROMPTS = 4  # conformance_prompts: the check's default prompts are PROBE_PROMPTS[:4]


def train_chat_lora(base: Path, out: Path, reply: str, *, stop: bool, steps: int = 30, lr: float = 1e-2) -> Path:
    """A LoRA trained on ``PROBE_PROMPTS`` answered by ``reply`` in the chat template — with
    the end-of-turn token after it when ``stop``, without it (the reply runs on) when not."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
        LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM",
                   target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    end = [tok.convert_tokens_to_ids("<|im_end|>")] if stop else []
    rows = []
    for prompt in PROBE_PROMPTS[:PROMPTS]:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        rows.append((tok(text).input_ids, tok(reply).input_ids + end))
    width = max(len(a) + len(b) for a, b in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (a, b) in enumerate(rows):
        ids[i, :len(a) + len(b)] = torch.tensor(a + b)
        mask[i, :len(a) + len(b)] = 1
        labels[i, len(a):len(a) + len(b)] = torch.tensor(b)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def base():
    require_venv()
    from tuneforge.testing.tiny_lm import cached_tiny_lm_vllm

    return cached_tiny_lm_vllm()


@pytest.fixture(scope="module")
def adapters(base, tmp_path_factory):
    root = tmp_path_factory.mktemp("chat-adapters")
    return {
        "yes": train_chat_lora(base, root / "yes" / "final", "yes", stop=True),
        "runner": train_chat_lora(base, root / "runner" / "final", " ".join(["yes"] * 48), stop=False),
    }


@pytest.fixture(scope="module")
def vllm(base, tmp_path_factory):
    server = real_vllm.RealVllm(log_dir=tmp_path_factory.mktemp("vllm"))
    try:
        # three LoRAs at once: production, one served beside it, and a staged one
        server.start(base, ["--max-loras", "3"], env={"VLLM_SERVER_DEV_MODE": "1"})
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(server_factory, vllm):
    srv = server_factory(vllm_mode="hot", vllm_url=vllm.base_url, vllm_max_loras=2, vllm_timeout_seconds=60,
                         activation_requires_conformance=True, conformance_prompts=PROMPTS)
    yield srv
    cli(srv, "deactivate", check=False)
    for name in served(vllm.base_url):
        real_vllm.request_json("POST", vllm.base_url + "/v1/unload_lora_adapter", {"lora_name": name})


def _import(srv, adapters, *names: str, **aliases: str) -> None:
    for name in names:
        cli(srv, "import", str(adapters[name]), "--name", name)
    for alias, source in aliases.items():
        cli(srv, "import", str(adapters[source]), "--name", alias)


def test_a_good_adapter_is_staged_checked_and_promoted(registry, vllm, adapters):
    _import(registry, adapters, "yes", prod="yes")
    cli(registry, "activate", "prod")
    assert served(vllm.base_url) == {"prod@v1"}

    out = cli(registry, "check", "yes@v1")  # not live: staged beside production, then unloaded
    assert "parity" in out.stdout and "stop rate" in out.stdout and "leakage" in out.stdout, out.stdout
    report = cli_json(registry, "check", "yes")
    assert report["passed"] and report["staged"] and report["served_name"] == "yes@v1~staging", report
    assert report["stop_rate"] == 1.0 and report.get("leak_rate", 0.0) == 0.0 and report["parity"] == 1.0, report
    assert served(vllm.base_url) == {"prod@v1"}  # production untouched, nothing staged left

    act = cli_json(registry, "activate", "yes")
    assert act["vllm_state"] == "VLLM_STATE_APPLIED" and act["served_name"] == "yes@v1"
    assert served(vllm.base_url) == {"yes@v1"}
    shown = cli_json(registry, "show", "yes")
    assert shown["conformance"]["passed"] and shown["conformance"]["adapter_version"] == 1


def test_an_adapter_that_cannot_stop_is_refused_and_production_keeps_the_previous_one(registry, vllm, adapters):
    _import(registry, adapters, "yes", "runner")
    cli(registry, "activate", "yes")
    out = cli(registry, "activate", "runner", check=False)
    assert out.returncode != 0 and "FAILED_PRECONDITION" in out.stderr and "CONFORMANCE_FAILED" in out.stderr, out.stderr
    assert "stop_rate 0.00" in out.stderr, out.stderr
    assert served(vllm.base_url) == {"yes@v1"}
    assert marker.read_active(registry.config.root / "adapters") == "yes"
    report = cli_json(registry, "show", "runner")["conformance"]
    assert report["failed_metric"] == "stop_rate" and report.get("stop_rate", 0.0) == 0.0 and not report.get("passed")
    assert cli(registry, "serve", "runner", check=False).returncode != 0  # serving beside it is checked too
    assert served(vllm.base_url) == {"yes@v1"}


def test_files_swapped_on_disk_are_caught_by_the_fingerprint_after_a_reload_and_rolled_back(
        registry, vllm, adapters):
    _import(registry, adapters, "yes", bot="yes")
    cli(registry, "activate", "yes")
    cli(registry, "activate", "bot")
    bot = Path(cli_json(registry, "show", "bot")["path"])
    shutil.copyfile(adapters["runner"] / "adapter_model.safetensors", bot / "adapter_model.safetensors")

    out = cli(registry, "verify", "--reload", check=False)  # what a hot reload or a wake does
    assert out.returncode == 1 and "ROLLED_BACK" in out.stdout and "changed on disk" in out.stdout, out.stdout
    assert served(vllm.base_url) == {"yes@v1"}
    assert marker.read_active(registry.config.root / "adapters") == "yes"
    history = cli_json(registry, "history")["activations"][0]
    assert history["action"] == "rollback" and history["adapter_name"] == "yes"


def test_a_sleep_wake_cycle_is_followed_by_a_probe_of_every_served_adapter(registry, vllm, adapters):
    """The GPU-job hooks (vllm_share_gpu): sleep before the job, wake after — which re-loads
    every adapter vLLM served — then the registry's VerifyServing (what the trainer wires)."""
    from tuneforge.client import Client
    from tuneforge.runtime.vllm_sleep import VllmSleeper, job_hooks

    _import(registry, adapters, "yes", bot="yes")
    cli(registry, "activate", "yes")
    cli(registry, "serve", "bot")
    probes = []

    async def verify_serving() -> None:
        def call():
            with Client(registry.target, timeout=600) as tf:
                return list(tf.registry.verify_serving().probes)
        probes.extend(await asyncio.to_thread(call))

    before_start, on_end = job_hooks(VllmSleeper(vllm.base_url), after_wake=verify_serving)

    async def gpu_job() -> None:
        await before_start(None)
        await on_end(None)

    asyncio.run(gpu_job())
    assert sorted((p.served_name, p.Outcome.Name(p.outcome)) for p in probes) == [
        ("bot@v1", "OUTCOME_OK"), ("yes@v1", "OUTCOME_OK")]
    assert served(vllm.base_url) == {"yes@v1", "bot@v1"}


def _sse(response) -> list[tuple[str, dict]]:
    assert response.status_code == 200, response.text
    out = []
    for block in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines.get("data", "{}"))))
    return out


def test_chat_answers_through_vllm_when_served_and_through_the_trainer_otherwise(server_factory, vllm, adapters):
    """``adapters chat``: a live adapter's reply streams through vLLM's chat endpoint under its
    served name and is vLLM's own greedy answer; one that is not served falls back to the
    trainer's chat job — and each says which path answered."""
    srv = server_factory(vllm_mode="hot", vllm_url=vllm.base_url, vllm_max_loras=2, vllm_timeout_seconds=60)
    try:
        _import(srv, adapters, "yes", idle="yes")
        cli(srv, "activate", "yes")
        prompt = PROBE_PROMPTS[0]
        out = cli(srv, "chat", "yes", prompt, "--max-new-tokens", "12")
        first, _, reply = out.stdout.partition("\n")
        assert first == "via vLLM (served as yes@v1)", out.stdout
        status, own = real_vllm.request_json("POST", vllm.base_url + "/v1/chat/completions", {
            "model": "yes@v1", "messages": [{"role": "user", "content": prompt}], "max_tokens": 12,
            "temperature": 0}, timeout=120)
        assert status == 200, own
        assert reply.strip() == own["choices"][0]["message"]["content"].strip() and reply.strip(), (reply, own)

        out = cli(srv, "chat", "idle", prompt, "--max-new-tokens", "2", check=False)
        assert out.stdout.startswith("via the trainer (not served)\n"), (out.stdout, out.stderr)
        assert out.returncode == 0, out.stderr

        # the console's chat takes the same path: the served adapter's column streams from vLLM
        # (and says so), the base's column from the trainer; an unserved one says "trainer"
        from tuneforge.testing.web import WebThread

        web = WebThread(srv.target, "").start()
        try:
            with httpx.Client(base_url=web.url, timeout=300) as http:
                http.headers["x-csrf-token"] = http.get("/auth/session").json()["csrf_token"]
                body = {"messages": [{"role": "user", "content": prompt}], "compare": True, "max_new_tokens": 12}
                events = _sse(http.post("/admin/finetune/adapters/yes/chat", json=body))
                assert events[0] == ("path", {"type": "path", "via": "vllm", "served_name": "yes@v1"}), events
                replies = {data["side"]: data["text"] for kind, data in events if kind == "reply"}
                assert replies["adapter"].strip() == own["choices"][0]["message"]["content"].strip(), events
                assert "base" in replies, events
                events = _sse(http.post("/admin/finetune/adapters/idle/chat", json={**body, "max_new_tokens": 2}))
                assert events[0] == ("path", {"type": "path", "via": "trainer"}), events
                assert {data["side"] for kind, data in events if kind == "reply"} == {"base", "adapter"}, events
        finally:
            web.stop()
    finally:
        cli(srv, "deactivate", check=False)
        for name in served(vllm.base_url):
            real_vllm.request_json("POST", vllm.base_url + "/v1/unload_lora_adapter", {"lora_name": name})
