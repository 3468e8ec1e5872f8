"""Activation against the REAL vLLM (CPU build 0.32.0), hot mode, through our gRPC API and
CLI: the served adapter's greedy tokens equal PeftModel's, deactivate/rollback, a vLLM
restarted by hand, several adapters at once, our pre-checks, sleep and wake around GPU work
with the served adapters re-applied (``VLLM_SERVER_DEV_MODE=1``: the CPU build serves the
sleep routes, without freeing memory), and the fake vLLM answering the same requests with the
same status and shape.

One vLLM start per module (~30 s on 2 free cores, more on a busy machine); skipped only when
the vLLM virtualenv is absent (scripts/setup_vllm_env.sh builds it; CI does).
"""

from __future__ import annotations

import pytest

from real_vllm_helpers import (
    cli,
    cli_json,
    greedy_ids,
    peft_ids,
    require_venv,
    served,
    tokenize,
    until,
)
from tuneforge.services.registry import marker
from tuneforge.testing import real_vllm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def base():
    require_venv()
    from tuneforge.testing.tiny_lm import cached_tiny_lm_vllm

    return cached_tiny_lm_vllm()


@pytest.fixture(scope="module")
def adapters(base, tmp_path_factory):
    """Trained PEFT adapters: two good ones, and ones vLLM refuses."""
    from tuneforge.testing.tiny_lora import train_tiny_lora

    root = tmp_path_factory.mktemp("adapters")
    return {
        "alice": train_tiny_lora(base, root / "alice" / "final", seed=1),
        "bob": train_tiny_lora(base, root / "bob" / "final", seed=2),
        "dora": train_tiny_lora(base, root / "dora" / "final", steps=1, use_dora=True),
        "r32": train_tiny_lora(base, root / "r32" / "final", r=32, steps=1),
        "emb": train_tiny_lora(base, root / "emb" / "final", steps=1, target_modules=("q_proj", "embed_tokens")),
    }


@pytest.fixture(scope="module")
def vllm(base, tmp_path_factory):
    server = real_vllm.RealVllm(log_dir=tmp_path_factory.mktemp("vllm"))
    try:
        server.start(base, ["--max-loras", "2"], env={"VLLM_SERVER_DEV_MODE": "1"})
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(server_factory, vllm):
    srv = server_factory(vllm_mode="hot", vllm_url=vllm.base_url, vllm_max_loras=2)
    yield srv
    # leave vLLM with no managed adapters for the next test
    cli(srv, "deactivate", check=False)
    for name in served(vllm.base_url):
        real_vllm.request_json("POST", vllm.base_url + "/v1/unload_lora_adapter", {"lora_name": name})


def test_hot_activation_serves_greedy_tokens_equal_to_peftmodel(registry, vllm, base, adapters):
    cli(registry, "import", str(adapters["alice"]), "--name", "alice")
    act = cli_json(registry, "activate", "alice")
    assert act["vllm_state"] == "VLLM_STATE_APPLIED" and act["served_name"] == "alice@v1"
    assert served(vllm.base_url) == {"alice@v1"}
    prompt = tokenize(base)
    got = greedy_ids(vllm.base_url, "alice@v1", prompt)
    assert got == peft_ids(base, adapters["alice"], prompt)
    assert got != greedy_ids(vllm.base_url, str(base), prompt) == peft_ids(base, None, prompt)


def test_deactivate_unloads_and_rollback_brings_the_previous_adapter_back(registry, vllm, adapters):
    for name in ("alice", "bob"):
        cli(registry, "import", str(adapters[name]), "--name", name)
    cli(registry, "activate", "alice")
    cli(registry, "activate", "bob")
    assert served(vllm.base_url) == {"bob@v1"}
    back = cli_json(registry, "rollback")
    assert back["adapter_name"] == "alice" and back["vllm_state"] == "VLLM_STATE_APPLIED"
    assert served(vllm.base_url) == {"alice@v1"}
    cli(registry, "deactivate")
    assert served(vllm.base_url) == set()


def test_served_adapters_answer_beside_the_active_one(registry, vllm, base, adapters):
    for name in ("alice", "bob"):
        cli(registry, "import", str(adapters[name]), "--name", name)
    cli(registry, "activate", "alice")
    assert cli_json(registry, "serve", "bob")["served_adapter_names"] == ["bob"]
    assert served(vllm.base_url) == {"alice@v1", "bob@v1"}
    prompt = tokenize(base)
    assert greedy_ids(vllm.base_url, "bob@v1", prompt) == peft_ids(base, adapters["bob"], prompt)
    assert greedy_ids(vllm.base_url, "alice@v1", prompt) == peft_ids(base, adapters["alice"], prompt)
    cli(registry, "unserve", "bob")
    assert served(vllm.base_url) == {"alice@v1"}


@pytest.mark.parametrize("name, field", [
    ("dora", "adapter_config.json.use_dora"),
    ("r32", "adapter_config.json.r"),
    ("emb", "target_modules"),
])
def test_what_vllm_refuses_is_refused_before_vllm_is_touched(registry, vllm, adapters, name, field):
    cli(registry, "import", str(adapters[name]), "--name", name)  # registration accepts it
    out = cli(registry, "activate", name, check=False)
    assert out.returncode != 0 and "FAILED_PRECONDITION" in out.stderr and field in out.stderr, out.stderr
    assert served(vllm.base_url) == set() and marker.read_active(registry.config.root / "adapters") is None


def test_vllm_restarted_by_hand_gets_the_adapters_again(registry, vllm, adapters):
    for name in ("alice", "bob"):
        cli(registry, "import", str(adapters[name]), "--name", name)
    cli(registry, "activate", "alice")
    cli(registry, "serve", "bob")
    vllm.restart()  # runtime-loaded adapters are gone
    # the registry's periodic reconcile (every 30 s) loads them again
    until(lambda: served(vllm.base_url) == {"alice@v1", "bob@v1"}, 120, "adapters re-applied")
    assert cli_json(registry, "history")["activations"][0]["vllm_state"] == "VLLM_STATE_APPLIED"


def _shape(status: int, body) -> tuple:
    """What a client may rely on: status, text or JSON, the error keys, type and code, and
    the message's start (paths and set orders differ)."""
    if not isinstance(body, dict):
        return status, "text", str(body).split("'")[0]
    if "error" in body:
        err = body["error"]
        return status, sorted(body), sorted(err), err["type"], err["code"], err["message"][:40]
    return status, sorted(body)


def test_fake_vllm_answers_like_the_real_one(vllm, base, adapters, tmp_path):
    from tuneforge.testing.fake_vllm import FakeVllm

    missing = str(tmp_path / "nowhere")
    requests = [
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp", "lora_path": str(adapters["alice"])}),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp", "lora_path": str(adapters["alice"])}),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp-missing", "lora_path": missing}),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp-r32", "lora_path": str(adapters["r32"])}),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp-dora", "lora_path": str(adapters["dora"])}),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "cmp-emb", "lora_path": str(adapters["emb"])}),
        ("POST", "/v1/load_lora_adapter", {"lora_path": str(adapters["alice"])}),
        ("POST", "/v1/unload_lora_adapter", {"lora_name": "cmp"}),
        ("POST", "/v1/unload_lora_adapter", {"lora_name": "cmp"}),
        ("POST", "/v1/unload_lora_adapter", {}),
        ("GET", "/v1/no-such-route", None),
    ]
    with FakeVllm(str(base), root=str(base), max_lora_rank=16) as fake:
        for method, path, payload in requests:
            real = real_vllm.request_json(method, vllm.base_url + path, payload)
            ours = real_vllm.request_json(method, fake.url + path, payload)
            assert _shape(*ours) == _shape(*real), (method, path, payload, real)
        real_models = real_vllm.get_json(vllm.base_url + "/v1/models")[1]["data"][0]
        fake_models = fake.models()[1]["data"][0]
        assert {k: real_models[k] for k in ("id", "root", "parent", "object")} == \
            {k: fake_models[k] for k in ("id", "root", "parent", "object")}


def test_real_vllm_sleeps_and_wakes_with_its_adapters_served_again(registry, vllm, base, adapters):
    import asyncio

    from tuneforge.runtime.vllm_sleep import VllmSleeper

    cli(registry, "import", str(adapters["alice"]), "--name", "alice")
    cli(registry, "activate", "alice")
    sleeper = VllmSleeper(vllm.base_url)
    asyncio.run(sleeper.sleep())
    assert asyncio.run(sleeper.is_sleeping()) and set(sleeper.served) == {"alice@v1"}
    asyncio.run(sleeper.wake())
    assert not asyncio.run(sleeper.is_sleeping())
    assert served(vllm.base_url) == {"alice@v1"}
    prompt = tokenize(base)
    assert greedy_ids(vllm.base_url, "alice@v1", prompt) == peft_ids(base, adapters["alice"], prompt)


def test_fake_vllm_sleep_routes_answer_like_the_real_ones(vllm, base):
    from tuneforge.testing.fake_vllm import FakeVllm

    requests = [("GET", "/is_sleeping"), ("POST", "/sleep?level=1"), ("POST", "/sleep?level=1"),
                ("GET", "/is_sleeping"), ("POST", "/sleep?level=3"), ("POST", "/sleep?level=x"),
                ("POST", "/sleep?level=2"), ("POST", "/wake_up"), ("POST", "/wake_up"),
                ("GET", "/is_sleeping")]
    with FakeVllm(str(base), root=str(base), sleep_mode=True) as fake:
        for method, path in requests:
            payload = None if method == "GET" else {}
            real = real_vllm.request_json(method, vllm.base_url + path, payload)
            ours = real_vllm.request_json(method, fake.url + path, payload)
            assert _shape(*ours) == _shape(*real), (method, path, real)
            if real[0] == 200:
                assert ours[1] == real[1], (method, path)


def alice_loads(vllm) -> int:
    """How often the real vLLM logged loading ``alice@v1`` (vllm/entrypoints/openai/models/serving.py)."""
    return vllm.log_path.read_text(encoding="utf-8", errors="replace").count("Loaded new LoRA adapter: name 'alice@v1'")


def test_training_on_a_shared_gpu_sleeps_the_real_vllm_and_wakes_it_with_its_adapter(
        server_factory, vllm, base, adapters, tmp_path):
    import json

    from tuneforge.client import Client
    from tuneforge.common.v1 import common_pb2

    srv = server_factory(vllm_mode="hot", vllm_url=vllm.base_url, vllm_max_loras=2, vllm_share_gpu=True)
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"count {i}"},
        {"role": "assistant", "content": f"{i} {i + 1} {i + 2}"}]}) + "\n" for i in range(8)))
    try:
        cli(srv, "import", str(adapters["alice"]), "--name", "alice")
        cli(srv, "activate", "alice")
        loads_before = alice_loads(vllm)
        with Client(srv.target, timeout=60) as c:
            up = c.upload_file("dataset", chats)
            c.dataset.import_dataset(upload_id=up.id, dataset_name="chats")
            job = c.trainer.create_training_job(
                dataset="chats", base_model=str(base), adapter_name="meanwhile", register=False,
                config={"max_seq_length": 64, "epochs": 500, "batch_size": 4,
                        "target_modules": ["q_proj"], "save_steps": 100000}, timeout=300)
            asleep_while_training = None
            for event in c.watch_job(job.id):
                if event.WhichOneof("kind") == "progress" and event.progress.phase == "training":
                    asleep_while_training = real_vllm.get_json(vllm.base_url + "/is_sleeping")[1]
                    c.jobs.cancel_job(id=job.id)  # a stopped job must wake vLLM too
                    break
            done = c.wait_job(job.id)
        assert done.state == common_pb2.Job.STATE_CANCELLED, done.error_message
        assert asleep_while_training == {"is_sleeping": True}
        # the job's end wakes vLLM, then unloads and loads again what it served before: wait
        # for that load (vLLM's own log line), or a request can fall in the moment between
        until(lambda: alice_loads(vllm) > loads_before, 60, "alice@v1 loaded again after the wake")
        until(lambda: served(vllm.base_url) == {"alice@v1"}, 60, "awake with alice@v1 again")
        assert real_vllm.get_json(vllm.base_url + "/is_sleeping")[1] == {"is_sleeping": False}
        prompt = tokenize(base)
        assert greedy_ids(vllm.base_url, "alice@v1", prompt) == peft_ids(base, adapters["alice"], prompt)
    finally:
        cli(srv, "deactivate", check=False)
        for name in served(vllm.base_url):
            real_vllm.request_json("POST", vllm.base_url + "/v1/unload_lora_adapter", {"lora_name": name})


def test_kto_and_grpo_adapters_trained_by_the_service_are_served_like_peft(server_factory, vllm, base, tmp_path):
    """Issue 27: the adapters the new methods register are ordinary LoRA adapters to vLLM:
    trained through the API on the served base, activated, and answering through the real
    vLLM with PeftModel's greedy tokens."""
    import json
    from pathlib import Path

    from tuneforge.client import Client
    from tuneforge.common.v1 import common_pb2

    srv = server_factory(vllm_mode="hot", vllm_url=vllm.base_url, vllm_max_loras=2)
    turns = [[{"role": "user", "content": f"count {i}"}, {"role": "assistant", "content": f"{i} {i + 1} {i + 2}"}]
             for i in range(8)]
    files = {"chats": [{"messages": t} for t in turns],
             "answers": [{"messages": t, "label": i % 3 != 0} for i, t in enumerate(turns)]}
    small = {"max_seq_length": 64, "epochs": 1, "batch_size": 2, "gradient_accumulation_steps": 1,
             "target_modules": ["q_proj"]}
    jobs = {"kto-bot": ("answers", {**small, "method": "kto"}),
            "grpo-bot": ("chats", {**small, "method": "grpo", "num_generations": 2, "max_completion_length": 8,
                                   "rewards": [{"kind": "format"}, {"kind": "length", "max_chars": 20}]})}
    prompt = tokenize(base)
    try:
        with Client(srv.target, timeout=60) as c:
            for name, records in files.items():
                path = tmp_path / f"{name}.jsonl"
                path.write_text("".join(json.dumps(r) + "\n" for r in records))
                c.dataset.import_dataset(upload_id=c.upload_file("dataset", path).id, dataset_name=name)
            for name, (dataset, config) in jobs.items():
                job = c.trainer.create_training_job(dataset=dataset, base_model=str(base), adapter_name=name,
                                                    config=config, timeout=300)
                done = c.wait_job(job.id)
                assert done.state == common_pb2.Job.STATE_SUCCEEDED, (name, done.error_message)
                cli(srv, "activate", name)
                adapter = Path(c.registry.get_adapter(name=name).path)
                assert greedy_ids(vllm.base_url, f"{name}@v1", prompt) == peft_ids(base, adapter, prompt), name
    finally:
        cli(srv, "deactivate", check=False)
        for name in served(vllm.base_url):
            real_vllm.request_json("POST", vllm.base_url + "/v1/unload_lora_adapter", {"lora_name": name})
