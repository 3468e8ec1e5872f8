"""One GPU shared with vLLM: vLLM sleeps before a GPU job and wakes after it, however it ends,
and the adapters it served are loaded again. Against the vLLM stand-in's sleep routes, which
answer as vllm 0.32's do (compared with the real CPU build, in dev mode, in
tests/registry/test_registry_real_vllm.py, which also sleeps and wakes the real server)."""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from pathlib import Path

import pytest

from tuneforge.common.v1 import common_pb2
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.jobs import JobKind
from tuneforge.runtime.vllm_sleep import VllmSleeper, gpu_job_hooks
from tuneforge.testing.fake_vllm import FakeVllm

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job


def _adapter(path: Path) -> str:
    """A minimal PEFT LoRA directory (config + a safetensors header with q_proj A/B)."""
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny-base",
        "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    header = {f"{prefix}.lora_A.weight": {"dtype": "F32", "shape": [8, 16], "data_offsets": [0, 512]},
              f"{prefix}.lora_B.weight": {"dtype": "F32", "shape": [16, 8],
                                          "data_offsets": [512, 1024]}}
    raw = json.dumps(header).encode()
    (path / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw
                                                     + bytes(1024))
    return str(path)


@pytest.fixture
def vllm(tmp_path):
    with FakeVllm("tiny-base", sleep_mode=True) as fake:
        fake.loras["chats-v1"] = _adapter(tmp_path / "chats-v1")
        yield fake


def test_sleep_then_wake_leaves_vllm_awake_with_its_adapters_loaded_again(vllm, tmp_path):
    sleeper = VllmSleeper(vllm.url)
    asyncio.run(sleeper.sleep())
    assert vllm.sleep.sleeping and vllm.sleep.level == 1
    asyncio.run(sleeper.wake())
    assert not vllm.sleep.sleeping and vllm.sleep.history == ["sleep:1", "wake_up"]
    path = str(tmp_path / "chats-v1")
    assert [r.body for r in vllm.calls("/v1/unload_lora_adapter")] == [{"lora_name": "chats-v1"}]
    assert [r.body for r in vllm.calls("/v1/load_lora_adapter")] == [
        {"lora_name": "chats-v1", "lora_path": path}]
    assert vllm.loras == {"chats-v1": path}


def test_vllm_without_sleep_mode_is_refused_with_how_to_start_it():
    with FakeVllm("tiny-base") as plain:
        with pytest.raises(TuneforgeError) as info:
            asyncio.run(VllmSleeper(plain.url).sleep())
    assert info.value.reason == "VLLM_SLEEP_UNSUPPORTED"
    assert "VLLM_SERVER_DEV_MODE=1" in info.value.message
    assert "--enable-sleep-mode" in info.value.message


def test_unreachable_vllm_is_unavailable():
    with pytest.raises(TuneforgeError) as info:
        asyncio.run(VllmSleeper("http://127.0.0.1:9", timeout=2).is_sleeping())
    assert info.value.code.name == "UNAVAILABLE"


def _gpu_kind(server) -> None:
    before, after = gpu_job_hooks(server.config)
    server.engine.register_kind(JobKind(
        name="gpu_test", service="dataset", gpu=True, before_start=before, on_end=after,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)]))


def _wait_awake(vllm, timeout: float = 30) -> None:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and vllm.sleep.history[-1:] != ["wake_up"]:
        time.sleep(0.05)


@pytest.mark.parametrize("params,state", [
    ({"steps": 2}, State.STATE_SUCCEEDED),
    ({"steps": 3, "fail_at": 2}, State.STATE_FAILED),
])  # fmt: skip
def test_gpu_job_runs_while_vllm_sleeps_and_wakes_it_whatever_the_outcome(
        server_factory, client_for, vllm, params, state):
    server = server_factory(vllm_share_gpu=True, vllm_url=vllm.url)
    _gpu_kind(server)
    job = server.call(server.engine.create("gpu_test", params))
    final = client_for(server).wait_job(job.id)
    assert final.state == state
    _wait_awake(vllm)
    assert vllm.sleep.history == ["sleep:1", "wake_up"] and not vllm.sleep.sleeping


def test_stopped_gpu_job_wakes_vllm(server_factory, client_for, vllm):
    server = server_factory(vllm_share_gpu=True, vllm_url=vllm.url)
    _gpu_kind(server)
    client = client_for(server)
    job = server.call(server.engine.create("gpu_test", {"steps": 200, "sleep": 0.1}))
    for _ in client.watch_job(job.id):
        if vllm.sleep.sleeping and client.jobs.get_job(id=job.id).progress.step >= 1:
            break
    client.jobs.cancel_job(id=job.id)
    assert client.wait_job(job.id).state == State.STATE_CANCELLED
    _wait_awake(vllm)
    assert vllm.sleep.history == ["sleep:1", "wake_up"]


def test_gpu_job_fails_before_its_worker_when_vllm_cannot_sleep(server_factory, client_for):
    with FakeVllm("tiny-base") as plain:
        server = server_factory(vllm_share_gpu=True, vllm_url=plain.url)
        _gpu_kind(server)
        job = server.call(server.engine.create("gpu_test", {"steps": 1}))
        final = client_for(server).wait_job(job.id)
    assert final.state == State.STATE_FAILED and final.error_reason == "WORKER_START_FAILED"
    assert "--enable-sleep-mode" in final.error_message


@pytest.fixture
def client_for():
    from tuneforge.client import Client

    opened = []

    def make(server):
        opened.append(Client(server.target, timeout=30))
        return opened[-1]

    yield make
    for c in opened:
        c.close()
