"""The serving check of an export: does the GGUF behave in llama.cpp as the trained model does?

The registry's conformance check (services/registry/conformance.py, docs/activation.md) asks
vLLM; an exported GGUF is served by llama.cpp (or Ollama, which is llama.cpp), so the export
worker asks llama.cpp itself (llama-cpp-python) the same questions, with the chat template
embedded in the GGUF:

* **greedy parity** — for each prompt, the first ``parity_tokens`` greedy tokens of llama.cpp
  (prompt formatted by the GGUF's embedded template and tokenized by llama.cpp) equal those of
  the PEFT model on the same base (transformers, float32, argmax with the KV cache, the merged
  model when the export made one) on the same prompt ids — raw argmax on both sides, through
  and past an end-of-turn; the share, and the first divergence;
* **stop rate** — the share of greedy replies (``create_chat_completion``, ``temperature 0``,
  ``max_tokens``) that end with the end-of-turn / EOS token (``finish_reason == "stop"``);
* **template leakage** — the share of replies whose text holds a special token or role marker;
* **template match** — whether the embedded template gives the same prompt ids as the HF
  tokenizer's chat template (a mismatch is named in ``parity_detail``).

Reported, never gated: the report is written beside the export (``SERVING_CHECK.json``, listed
in ``SHA256SUMS``) and is the export job's ``serving_check`` (a registry ``ConformanceReport``).
``passed`` says whether the conformance thresholds were met; quantised types (q8_0, q4_k_m)
change tokens, so for them parity is report-only and ``parity_detail`` says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPORT_FILE = "SERVING_CHECK.json"
# The registry's conformance PROBE_PROMPTS (the same list, so the same questions are asked).
PROBE_PROMPTS = (
    "Hello, who are you?",
    "What can you help me with today?",
    "Say something short about the weather.",
    "Thanks for the help!",
    "Can you answer one question for me?",
    "Tell me what you think.",
    "How was your day?",
    "Please reply briefly.",
)
LEAK_RE = re.compile(
    r"<\|[A-Za-z0-9_]+\|>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>|<\|?(?:im_start|im_end|eot_id)\|?>"
    r"|^\s*(?:user|assistant|system)\s*(?::|\n)",
    re.M | re.I,
)
# Types whose weights are those of the merged model (parity is expected to be exact).
EXACT_QUANTS = ("f32", "f16")


@dataclass(frozen=True)
class Thresholds:
    """The ``conformance_*`` settings the report is judged by (not gated on)."""

    prompts: int = 4
    max_tokens: int = 32
    parity_tokens: int = 8
    min_stop_rate: float = 0.75
    max_leak_rate: float = 0.0
    min_parity: float = 0.75

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Thresholds:
        raw = raw or {}
        return cls(**{k: type(getattr(cls, k))(raw[k]) for k in cls.__dataclass_fields__ if raw.get(k) is not None})


def prompts_from(data_file: str | Path | None, limit: int) -> list[str]:
    """The first user turns of a chat JSONL dataset (the adapter's training data), else the
    registry's probe prompts."""
    found: list[str] = []
    path = Path(data_file) if data_file else None
    if path is not None and path.is_file():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                messages = row.get("messages") if isinstance(row, dict) else None
                for m in messages or []:
                    text = m.get("content") if isinstance(m, dict) and m.get("role") == "user" else None
                    if isinstance(text, str) and text.strip() and text not in found:
                        found.append(text)
                        break
                if len(found) >= limit:
                    break
    return found[:limit] or list(PROBE_PROMPTS[:limit])


def leaked(text: str) -> list[str]:
    return sorted(set(LEAK_RE.findall(text or "")))


def _hf_reference(base_dir: Path, adapter: Path | None, merged: Path | None, prompt_ids: list[list[int]],
                  n: int) -> tuple[list[list[int]], Any]:
    """Greedy first ``n`` tokens of the PEFT model (or the merged directory) for each prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if merged is not None:
        model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(merged)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32),
                                          adapter)
        tok = AutoTokenizer.from_pretrained(adapter if (adapter / "tokenizer_config.json").is_file() else base_dir)
    model.eval()
    outs = []
    for ids in prompt_ids:  # raw argmax, end-of-turn included and nothing suppressed (as llama.cpp's)
        got: list[int] = []
        with torch.no_grad():
            step = model(input_ids=torch.tensor([ids]), use_cache=True)
            for _ in range(n):
                got.append(int(step.logits[0, -1].argmax()))
                step = model(input_ids=torch.tensor([[got[-1]]]), past_key_values=step.past_key_values,
                             use_cache=True)
        outs.append(got)
    return outs, tok


def _llama_greedy(llm, ids: list[int], n: int) -> list[int]:
    got: list[int] = []
    llm.reset()
    for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        got.append(int(token))
        if len(got) == n:
            break
    return got


def check_gguf(*, gguf: Path, lora: Path | None = None, base_dir: Path, adapter: Path | None,
               merged: Path | None = None, adapter_name: str, version: int = 0, quant: str,
               prompts: list[str], thresholds: Thresholds) -> dict[str, Any]:
    """Run ``prompts`` through llama.cpp on ``gguf`` (+ ``lora``) and the HF reference; the
    report (the registry's ConformanceReport fields, plus ``quant``, ``report_only`` and
    ``replies``)."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    kwargs = {"lora_path": str(lora)} if lora else {}
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False, seed=0, **kwargs)
    meta = llm.metadata
    template = meta.get("tokenizer.chat_template") or ""

    def token_text(key: str) -> str:
        idx = meta.get(key)
        return llm.detokenize([int(idx)], special=True).decode("utf-8", "replace") if idx is not None else ""

    conversations = [[{"role": "user", "content": p}] for p in prompts]
    exact = quant in EXACT_QUANTS
    report: dict[str, Any] = {
        "adapter_name": adapter_name, "adapter_version": int(version),
        "served_name": f"llama.cpp:{gguf.name}" + (f"+{lora.name}" if lora else ""), "staged": False,
        "prompts": len(prompts), "quant": quant, "report_only": True, "parity_exact_expected": exact,
        "thresholds": {"min_stop_rate": thresholds.min_stop_rate, "max_leak_rate": thresholds.max_leak_rate,
                       "min_parity": thresholds.min_parity, "max_tokens": thresholds.max_tokens,
                       "parity_tokens": thresholds.parity_tokens},
    }  # fmt: skip
    if not template:
        report.update(parity=None, parity_detail="the GGUF holds no chat template (tokenizer.chat_template)",
                      stop_rate=0.0, leak_rate=0.0, leaks=[], replies=[])
        return _judge(report, thresholds)
    formatter = Jinja2ChatFormatter(template, eos_token=token_text("tokenizer.ggml.eos_token_id"),
                                    bos_token=token_text("tokenizer.ggml.bos_token_id"))
    prompt_ids = [llm.tokenize(formatter(messages=c).prompt.encode(), add_bos=False, special=True)
                  for c in conversations]
    # stop rate and leakage: the chat endpoint llama-cpp-python serves, with the embedded template
    replies, stopped, leaks = [], 0, []
    for c in conversations:
        llm.reset()
        out = llm.create_chat_completion(messages=c, temperature=0.0, top_k=1, max_tokens=thresholds.max_tokens,
                                         seed=0)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        found = leaked(text)
        stopped += choice.get("finish_reason") == "stop"
        leaks += [x for x in found if x not in leaks]
        replies.append({"text": text, "finish_reason": choice.get("finish_reason"), "leaks": found})
    report.update(stop_rate=stopped / len(conversations),
                  leak_rate=sum(bool(r["leaks"]) for r in replies) / len(conversations), leaks=leaks[:10],
                  replies=replies)
    # parity: llama.cpp's greedy tokens vs the HF model's on the same prompt ids
    n = thresholds.parity_tokens
    reference, tok = _hf_reference(base_dir, adapter, merged, prompt_ids, n)
    same, first = 0, ""
    for i, (ids, ref) in enumerate(zip(prompt_ids, reference)):
        got = _llama_greedy(llm, ids, n)
        replies[i]["llama_tokens"], replies[i]["reference_tokens"] = got, ref
        if got == ref:
            same += 1
        elif not first:
            at = next((j for j, (a, b) in enumerate(zip(got, ref)) if a != b), min(len(got), len(ref)))
            first = f"prompt {i + 1}: token {at + 1} is {got[at:at + 1]} in llama.cpp, {ref[at:at + 1]} in transformers"
    report["parity"] = same / len(prompt_ids)
    hf_ids = [tok.apply_chat_template(c, tokenize=True, add_generation_prompt=True) for c in conversations]
    hf_ids = [list(x["input_ids"]) if isinstance(x, dict) or hasattr(x, "keys") else list(x) for x in hf_ids]
    report["template_match"] = hf_ids == prompt_ids
    detail = [first or f"first {n} greedy tokens equal on {same}/{len(prompt_ids)} prompts"]
    if not report["template_match"]:
        detail.append("the embedded chat template gives other prompt ids than the HF tokenizer's")
    report["parity_detail"] = "; ".join(detail)
    return _judge(report, thresholds)


def _judge(report: dict[str, Any], t: Thresholds) -> dict[str, Any]:
    """``passed`` / ``failed_metric`` as the conformance check has them, and a statement when
    parity is below the threshold (never a failure of the export)."""
    parity = report.get("parity")
    misses = [("stop_rate", report["stop_rate"], report["stop_rate"] < t.min_stop_rate),
              ("leak_rate", report["leak_rate"], report["leak_rate"] > t.max_leak_rate),
              ("parity", parity or 0.0, parity is not None and parity < t.min_parity)]
    failed = next(((m, v) for m, v, miss in misses if miss), None)
    report["passed"] = failed is None
    report["failed_metric"], report["failed_value"] = failed or ("", 0.0)
    if parity is not None and parity < t.min_parity:
        why = ("a quantised type changes tokens, so parity is report-only"
               if not report.get("parity_exact_expected") else "the export does not answer as the trained model does")
        report["parity_detail"] = (f"parity {parity:.2f} is below the threshold {t.min_parity:.2f} "
                                   f"({report.get('quant')}: {why}); " + report.get("parity_detail", ""))
    report["check_time"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return report


def skipped(adapter_name: str, version: int, quant: str, why: str) -> dict[str, Any]:
    """A report that says the check did not run, and why (AWQ, merged, a failing check)."""
    return {"adapter_name": adapter_name, "adapter_version": int(version), "quant": quant, "report_only": True,
            "skipped": True, "parity": None, "parity_detail": why, "passed": False, "prompts": 0,
            "check_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
