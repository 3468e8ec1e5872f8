"""Chat through the served model (served_chat.py) and the thinking policy (thinking.py), without
vLLM: the policy recorded at registration from a Qwen3-style template and shown by ``adapters
show``; the stream's bounds (deadline, size cap, the stable VLLM_* reasons) against small
misbehaving HTTP servers; the refusals. The chat itself runs against the real vLLM in
test_registry_serving_check.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from registry_helpers import make_adapter
from tuneforge.client.errors import FailedPrecondition, InvalidArgument
from tuneforge.services.registry.adapters import Adapter
from tuneforge.services.registry.served_chat import ChatEnd, chat_body, stream_chat
from tuneforge.services.registry.thinking import thinking_policy
from tuneforge.services.registry.vllm import VllmClient, VllmRejected, VllmUnreachable

# The part of Qwen3's template that holds the switch (the trainer's test has the whole one).
QWEN3_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)
PLAIN_TEMPLATE = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


def _adapter(path, dataset: str = "", metrics: dict | None = None) -> Adapter:
    return Adapter(name="bot", version=1, path=path, base_model="base", dataset=dataset, job_id="", source="directory",
                   rank=8, lora_alpha=16, target_modules=[], lora_modules=[], metrics=metrics or {}, size_bytes=0,
                   create_time="", update_time="")


def _with_template(path, template: str):
    make_adapter(path)
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return path


def test_the_thinking_policy_is_off_for_plain_replies_on_for_reasoning_data_and_unset_without_a_switch(tmp_path):
    qwen3 = _with_template(tmp_path / "q", QWEN3_TEMPLATE)
    assert thinking_policy(_adapter(qwen3), tmp_path) is False  # the trainer renders plain replies so
    data = tmp_path / "datasets" / "reasoning" / "data.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "2+2?"}, {
        "role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"}]}) + "\n")
    assert thinking_policy(_adapter(qwen3, dataset="reasoning"), tmp_path) is True
    assert thinking_policy(_adapter(qwen3, metrics={"enable_thinking": 1.0}), tmp_path) is True
    assert thinking_policy(_adapter(_with_template(tmp_path / "p", PLAIN_TEMPLATE)), tmp_path) is None
    assert thinking_policy(_adapter(make_adapter(tmp_path / "none")), tmp_path) is None


def test_a_chat_to_vllm_carries_the_policy_in_chat_template_kwargs():
    body = chat_body("bot@v1", [{"role": "user", "content": "hi"}], max_tokens=0, temperature=0, top_p=0, seed=0,
                     enable_thinking=False)
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["stream"] and body["max_tokens"] == 256
    assert "chat_template_kwargs" not in chat_body("bot@v1", [], max_tokens=8, temperature=0, top_p=0, seed=0,
                                                   enable_thinking=None)


def test_the_policy_is_recorded_at_registration_and_shown(client, server, tmp_path):
    src = _with_template(tmp_path / "var" / "incoming" / "bot", QWEN3_TEMPLATE)
    registered = client.registry.register_adapter(name="bot", path=str(src))
    assert registered.HasField("enable_thinking") and registered.enable_thinking is False
    plain = make_adapter(tmp_path / "var" / "incoming" / "plain")
    assert not client.registry.register_adapter(name="plain", path=str(plain)).HasField("enable_thinking")
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "adapters", "show", "bot", "--target",
                          server.target], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TUNEFORGE_TOKEN": ""})
    assert out.returncode == 0, out.stderr
    assert "enable_thinking=false" in out.stdout


def test_chat_through_vllm_is_refused_clearly_when_it_cannot_run(client, tmp_path):
    src = make_adapter(tmp_path / "var" / "incoming" / "bot")
    client.registry.register_adapter(name="bot", path=str(src))
    hi = [{"role": "user", "content": "hi"}]
    with pytest.raises(FailedPrecondition, match="VLLM_NOT_CONFIGURED"):
        list(client.registry.chat_served_adapter(name="bot", messages=hi))
    with pytest.raises(InvalidArgument) as err:
        list(client.registry.chat_served_adapter(name="bot", messages=[{"role": "robot", "content": "x"}]))
    assert err.value.field_violations[0].field == "messages[0].role"
    with pytest.raises(InvalidArgument, match="max_tokens"):
        list(client.registry.chat_served_adapter(name="bot", messages=hi, max_tokens=5000))


# --------------------------------------------------------- the stream's bounds
async def _serve(answer):
    """A one-connection HTTP server on a free port that reads the request and runs ``answer``."""
    seen: list[dict] = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
            b"content-length")))
        seen.append(json.loads(await reader.readexactly(length)))
        try:
            await answer(writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen


def _sse(*events) -> bytes:
    body = b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


CHUNKED = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


async def _collect(url: str, timeout: float = 5.0, max_bytes: int | None = None):
    body = chat_body("bot@v1", [{"role": "user", "content": "hi"}], max_tokens=8, temperature=0, top_p=0, seed=0,
                     enable_thinking=False)
    return [x async for x in stream_chat(VllmClient(url), body, timeout=timeout, max_bytes=max_bytes)]


async def test_the_stream_yields_pieces_then_the_whole_reply():
    async def answer(w):
        w.write(CHUNKED + _sse({"choices": [{"delta": {"role": "assistant", "content": ""}}]},
                               {"choices": [{"delta": {"content": "ye"}}]},
                               {"choices": [{"delta": {"content": "s"}, "finish_reason": "stop"}]},
                               {"choices": [], "usage": {"completion_tokens": 2}}, b"[DONE]"))
        await w.drain()

    server, url, seen = await _serve(answer)
    async with server:
        got = await _collect(url)
    assert got == ["ye", "s", ChatEnd("yes", 2, "stop")]
    assert seen[0]["model"] == "bot@v1" and seen[0]["chat_template_kwargs"] == {"enable_thinking": False}


async def test_a_vllm_that_hangs_floods_or_garbles_the_stream_gets_its_stable_reason():
    async def hang(w):
        w.write(CHUNKED)
        await w.drain()
        await asyncio.sleep(30)

    async def flood(w):
        w.write(CHUNKED)
        for _ in range(100):
            w.write(_sse({"choices": [{"delta": {"content": "x" * 1000}}]})[:-5])  # chunks, never the last
            await w.drain()

    async def garble(w):
        w.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await w.drain()

    async def refuse(w):
        body = json.dumps({"error": {"message": "The model `bot@v1` does not exist."}}).encode()
        w.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await w.drain()

    for answer, reason, kw in [(hang, "VLLM_TIMEOUT", {"timeout": 0.5}),
                               (flood, "VLLM_RESPONSE_TOO_LARGE", {"max_bytes": 20_000}),
                               (garble, "VLLM_PROTOCOL_ERROR", {})]:
        server, url, _ = await _serve(answer)
        async with server:
            with pytest.raises(VllmUnreachable) as err:
                await _collect(url, **kw)
        assert err.value.reason == reason, (answer.__name__, err.value)
    server, url, _ = await _serve(refuse)
    async with server:
        with pytest.raises(VllmRejected, match="does not exist"):
            await _collect(url)


# ------------------------------------------------------------- merge suggestion
def test_merging_is_suggested_only_for_an_adapter_served_alone_with_a_measured_high_lora_tax():
    from tuneforge.services.registry.servicer import merge_hint

    assert "0.57x" in merge_hint("bot", "bot", set(), 0.57) and "--format merged" in merge_hint("bot", "bot", set(), 0.57)
    assert merge_hint("bot", None, {"bot"}, 0.57)  # served beside no active one: alone too
    assert merge_hint("bot", "bot", {"other"}, 0.57) == ""  # several adapters share the LoRA path
    assert merge_hint("bot", "bot", set(), 0.0) == ""  # not measured: no suggestion
    assert merge_hint("bot", "bot", set(), 0.95) == ""  # a small tax
    assert merge_hint("bot", "other", set(), 0.57) == ""  # not served


def test_show_suggests_merging_the_active_adapter_when_the_setting_says_the_tax_is_high(server_factory, tmp_path):
    from tuneforge.client import Client

    srv = server_factory(serving_lora_throughput_ratio=0.57)
    src = make_adapter(tmp_path / "var" / "incoming" / "bot")
    with Client(srv.target, timeout=30) as client:
        client.registry.register_adapter(name="bot", path=str(src))
        assert client.registry.get_adapter(name="bot").merge_hint == ""
        client.registry.activate_adapter(name="bot")
        assert "0.57x" in client.registry.get_adapter(name="bot").merge_hint


async def test_the_conformance_check_sends_the_policy_in_its_chat_and_tokenize_requests(store, tmp_path):
    from tuneforge.services.registry.conformance import ConformanceChecker, ConformanceSettings, ConformanceStore
    from tuneforge.services.registry.thinking import ThinkingStore

    class Recording:  # stands in for VllmClient: records what the check sends
        def __init__(self):
            self.sent: list[tuple[str, dict]] = []

        async def models(self):
            raise VllmUnreachable("no models here")

        async def post_json(self, path, payload):
            self.sent.append((path, payload))
            if path == "/tokenize":
                return {"tokens": [1, 2]}
            if path == "/v1/completions":
                return {"choices": [{"token_ids": [3]}]}
            return {"choices": [{"finish_reason": "stop", "message": {"content": "fine"}}]}

    adapter = _adapter(_with_template(tmp_path / "q", QWEN3_TEMPLATE))
    thinking = ThinkingStore(store, tmp_path)
    assert thinking.record(adapter) is False
    client = Recording()
    checker = ConformanceChecker(client, ConformanceStore(store), ConformanceSettings(prompts=2), tmp_path, thinking)
    report = await checker.check(adapter, "bot@v1")
    assert report.passed and report.parity is None
    chats = [p for path, p in client.sent if path in ("/v1/chat/completions", "/tokenize") and "messages" in p]
    assert len(chats) == 4 and all(p["chat_template_kwargs"] == {"enable_thinking": False} for p in chats)
