"""Chat with an adapter from the console: the trainer's Chat stream as server-sent events."""

from __future__ import annotations

import json

ASK = {"messages": [{"role": "user", "content": "hello"}], "max_new_tokens": 6}


def _untrained_adapter(tmp_path, tiny):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), LoraConfig(r=4, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "blank")
    return tmp_path / "blank"


def _events(response) -> list[tuple[str, dict]]:
    out, event = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[len("data: "):])))
    return out


def test_chat_streams_pieces_then_the_reply(browser_like, client, tmp_path, tiny_lm_dir):
    client.registry.register_adapter(name="blank", path=str(_untrained_adapter(tmp_path, tiny_lm_dir)),
                                     base_model=str(tiny_lm_dir))
    with browser_like.stream("POST", "/admin/finetune/adapters/blank/chat", json=ASK) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
    kinds = [kind for kind, _ in events]
    # first which path answers (issue 28: the trainer's chat job here, no vLLM), then the job
    assert kinds[:2] == ["path", "job"] and kinds[-1] == "end" and "piece" in kinds
    assert events[0][1] == {"type": "path", "via": "trainer"}
    (reply,) = [data for kind, data in events if kind == "reply"]
    assert reply["side"] == "adapter" and "".join(d["text"] for k, d in events if k == "piece") == reply["text"]


def test_chat_with_an_unknown_adapter_is_404(browser_like):
    response = browser_like.post("/admin/finetune/adapters/nope/chat", json=ASK)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_a_max_new_tokens_that_is_not_a_number_is_refused_at_its_field(browser_like):
    response = browser_like.post("/admin/finetune/adapters/any/chat", json={**ASK, "max_new_tokens": "lots"})
    assert response.status_code == 400
    assert response.json()["error"]["field_violations"] == [{"field": "max_new_tokens", "description": "expected an integer, got 'lots'"}]
