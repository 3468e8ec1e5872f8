"""Shared by the tests against the real vLLM: the module-scoped server, trained adapters,
the CLI, and greedy completions by token id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneforge.testing import real_vllm

PROMPT = "Hello world, the model answers"
NEW_TOKENS = 8


def require_venv() -> None:
    if real_vllm.venv_python() is None:
        pytest.skip(real_vllm.skip_reason())


def tokenize(base: Path, text: str = PROMPT) -> list[int]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base)(text).input_ids


def greedy_ids(url: str, model: str, prompt_ids: list[int]) -> list[int]:
    """vLLM's greedy new tokens for ``prompt_ids`` through ``model`` (a served name)."""
    status, body = real_vllm.request_json("POST", url + "/v1/completions", {
        "model": model, "prompt": prompt_ids, "max_tokens": NEW_TOKENS, "temperature": 0,
        "ignore_eos": True, "return_token_ids": True,
    }, timeout=120)
    assert status == 200, body
    return body["choices"][0]["token_ids"]


def peft_ids(base: Path, adapter: Path | None, prompt_ids: list[int]) -> list[int]:
    """PeftModel.generate(do_sample=False)'s new tokens (the base model's without adapter)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.eval().generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                    pad_token_id=model.config.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def served(url: str) -> set[str]:
    status, body = real_vllm.get_json(url + "/v1/models")
    assert status == 200, body
    return {m["id"] for m in body["data"] if m.get("parent")}


def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:g}s: {what}")
        time.sleep(0.5)


def cli(srv, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "adapters", *args, "--target", srv.target],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TUNEFORGE_TOKEN": ""})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def cli_json(srv, *args: str) -> dict:
    return json.loads(cli(srv, *args, "--json").stdout)
