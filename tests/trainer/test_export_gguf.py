"""GGUF export, checked with llama.cpp itself (llama-cpp-python) against transformers.

Each architecture we train (Qwen2, Qwen3, Llama) gets a tiny head_dim-64 model and a LoRA
adapter with random B; the export worker merges and converts it, and llama.cpp must tokenize
the prompts and pick the same greedy tokens as transformers does for the merged model (f16).
"""

from __future__ import annotations

import hashlib

import pytest
from export_helpers import (
    PROMPTS,
    agreement,
    hf_greedy,
    llama_greedy,
    load_gguf,
    make_adapter,
    prompt_texts,
    run_export,
)
from trainer_helpers import of

from tuneforge.testing.tiny_archs import ARCHS, cached_tiny_arch


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """{arch: (base dir, adapter dir)}, built lazily."""
    made = {}

    def get(arch: str):
        if arch not in made:
            base = cached_tiny_arch(arch)
            made[arch] = (base, make_adapter(base, tmp_path_factory.mktemp(arch) / "adapter"))
        return made[arch]

    return get


@pytest.fixture(scope="module")
def qwen2_f16(adapters, tmp_path_factory):
    base, adapter = adapters("qwen2")
    code, events, out = run_export(tmp_path_factory.mktemp("q2f16"), adapter, "gguf", "f16")
    assert code == 0, out
    return base, adapter, of(events, "result")[-1]["data"]


@pytest.mark.parametrize("arch", ARCHS)
def test_gguf_f16_greedy_tokens_equal_transformers_merged_model(arch, adapters, tmp_path):
    base, adapter = adapters(arch)
    code, events, out = run_export(tmp_path, adapter, "gguf", "f16")
    assert code == 0, out
    result = of(events, "result")[-1]["data"]
    prompt_ids, hf_tokens = hf_greedy(base, adapter)
    llm = load_gguf(tmp_path / f"tiny-gguf-f16/{result['primary_file']}")
    assert [llm.tokenize(t.encode(), add_bos=False, special=True) for t in prompt_texts(base)] == prompt_ids
    got = llama_greedy(llm, prompt_ids)
    print(f"\n{arch} f16 llama.cpp vs transformers: {agreement(got, hf_tokens)} tokens agree")
    assert got == hf_tokens
    check = result["serving_check"]  # the export's own llama.cpp check agrees (every architecture)
    assert check["parity"] == 1.0 and check["template_match"], check["parity_detail"]


def test_gguf_differs_from_the_base_model_so_the_adapter_was_merged(qwen2_f16):
    base, _adapter, result = qwen2_f16
    prompt_ids, base_tokens = hf_greedy(base)
    got = llama_greedy(load_gguf(f"{result['output_dir']}/{result['primary_file']}"), prompt_ids)
    assert got != base_tokens


def test_gguf_embedded_chat_template_formats_a_conversation_as_the_hf_tokenizer(qwen2_f16):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    base, _adapter, result = qwen2_f16
    llm = load_gguf(f"{result['output_dir']}/{result['primary_file']}")
    template = llm.metadata["tokenizer.chat_template"]
    assert "generation %}" not in template  # training-only markers are gone
    formatter = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="")
    for messages, expected in zip(PROMPTS, prompt_texts(base)):
        assert formatter(messages=messages).prompt == expected


def test_gguf_export_writes_an_ollama_modelfile_with_template_and_stop_tokens(qwen2_f16):
    _base, _adapter, result = qwen2_f16
    text = open(f"{result['output_dir']}/Modelfile", encoding="utf-8").read()
    print("\n" + text)
    assert f"FROM ./{result['primary_file']}\n" in text
    assert 'TEMPLATE """' in text and "<|im_start|>{{ .Role }}" in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def test_gguf_export_lists_every_file_in_sha256sums(qwen2_f16):
    _base, _adapter, result = qwen2_f16
    out = result["output_dir"]
    lines = open(f"{out}/SHA256SUMS", encoding="utf-8").read().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    # (issue 26 adds SERVING_CHECK.json, the llama.cpp serving check, to the listed files)
    assert set(sums) == {result["primary_file"], "Modelfile", "SERVING_CHECK.json"}
    for name, digest in sums.items():
        assert hashlib.sha256(open(f"{out}/{name}", "rb").read()).hexdigest() == digest
    assert result["sha256"] == sums[result["primary_file"]]


@pytest.mark.parametrize("quant", ["q8_0", "q4_k_m"])
def test_gguf_quantized_exports_load_in_llama_cpp(quant, adapters, tmp_path, qwen2_f16):
    _base, adapter = adapters("qwen2")
    code, events, out = run_export(tmp_path, adapter, "gguf", quant)
    assert code == 0, out
    result = of(events, "result")[-1]["data"]
    f16 = load_gguf(f"{qwen2_f16[2]['output_dir']}/{qwen2_f16[2]['primary_file']}")
    llm = load_gguf(f"{result['output_dir']}/{result['primary_file']}")
    ids = [llm.tokenize(t.encode(), add_bos=False, special=True) for t in prompt_texts(_base)]
    same, total = agreement(llama_greedy(llm, ids), llama_greedy(f16, ids))
    print(f"\nqwen2 {quant} vs f16 greedy: {same}/{total} tokens agree")
    assert result["size_bytes"] < qwen2_f16[2]["size_bytes"]
    check = result["serving_check"]  # quantised: measured and reported, never gated
    print(f"{quant} serving check: parity {check['parity']}, stop rate {check['stop_rate']}: {check['parity_detail']}")
    assert check["report_only"] and not check["parity_exact_expected"] and check["parity"] is not None
    if check["parity"] < check["thresholds"]["min_parity"]:
        assert "below the threshold" in check["parity_detail"] and "report-only" in check["parity_detail"]


def test_gguf_lora_adapter_on_the_base_gguf_equals_the_peft_model(adapters, tmp_path):
    base, adapter = adapters("qwen2")
    code, events, out = run_export(tmp_path, adapter, "gguf-lora", "f16")
    assert code == 0, out
    result = of(events, "result")[-1]["data"]
    folder = result["output_dir"]
    prompt_ids, hf_tokens = hf_greedy(base, adapter)
    llm = load_gguf(f"{folder}/base-f16.gguf", lora=f"{folder}/{result['primary_file']}")
    got = llama_greedy(llm, prompt_ids)
    print(f"\nqwen2 gguf-lora vs PeftModel: {agreement(got, hf_tokens)} tokens agree")
    assert got == hf_tokens
    modelfile = open(f"{folder}/Modelfile", encoding="utf-8").read()
    assert f"FROM ./base-f16.gguf\nADAPTER ./{result['primary_file']}\n" in modelfile
    check = result["serving_check"]  # llama.cpp with the adapter GGUF on the base GGUF vs PeftModel
    assert check["served_name"] == f"llama.cpp:base-f16.gguf+{result['primary_file']}"
    assert check["parity"] == 1.0 and check["template_match"], check["parity_detail"]


def test_gguf_export_stores_the_llama_cpp_serving_check_parity_and_stop_rate(qwen2_f16):
    """Issue 26 item 5: llama.cpp answers the conformance prompts with the GGUF's embedded
    template; parity vs the merged HF model and the stop rate go beside the export and into the
    job's typed result (a registry ConformanceReport)."""
    import json

    from tuneforge.trainer.v1 import trainer_pb2

    from tuneforge.runtime.job_rpcs import to_message
    from tuneforge.services.registry import conformance
    from tuneforge.services.trainer import export_check

    _base, _adapter, result = qwen2_f16
    check = result["serving_check"]
    stored = json.loads(open(f"{result['output_dir']}/SERVING_CHECK.json", encoding="utf-8").read())
    assert stored == check
    print(f"\nqwen2 f16 serving check: parity {check['parity']}, stop rate {check['stop_rate']}, "
          f"leak rate {check['leak_rate']}: {check['parity_detail']}")
    assert check["prompts"] == len(check["replies"]) == 4  # conformance_prompts, from the training data
    assert check["thresholds"]["parity_tokens"] == 8 and check["thresholds"]["max_tokens"] == 32
    assert check["parity"] == 1.0 and check["parity_exact_expected"]  # f16 = the merged model's tokens
    assert all(r["llama_tokens"] == r["reference_tokens"] and len(r["llama_tokens"]) == 8 for r in check["replies"])
    assert check["template_match"]  # the embedded template gives the HF tokenizer's prompt ids
    stops = [r["finish_reason"] for r in check["replies"]]
    assert set(stops) <= {"stop", "length"} and check["stop_rate"] == stops.count("stop") / 4
    assert check["passed"] == (check["stop_rate"] >= 0.75 and check["leak_rate"] <= 0.0)
    assert check["served_name"] == f"llama.cpp:{result['primary_file']}"
    typed = to_message(result, trainer_pb2.ExportJobResult).serving_check
    assert typed.parity == 1.0 and typed.stop_rate == check["stop_rate"] and typed.prompts == 4
    assert typed.thresholds.min_parity == 0.75 and typed.check_time.seconds > 0
    # the same questions as the registry's conformance check on vLLM
    assert export_check.PROBE_PROMPTS == conformance.PROBE_PROMPTS
    assert export_check.LEAK_RE.pattern == conformance.LEAK_RE.pattern


def _train_to_stop(base, out, reply: str = "yes", steps: int = 30):
    """A LoRA trained on the probe prompts to answer ``reply`` and then the end-of-turn token
    (as tests/registry/test_registry_serving_check.py's "yes" adapter), so its export stops."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuneforge.services.trainer.export_check import PROBE_PROMPTS

    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                           LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM", target_modules="all-linear"))
    end = tok.convert_tokens_to_ids("<|im_end|>")
    rows = []
    for prompt in PROBE_PROMPTS[:4]:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        rows.append((tok(text).input_ids, tok(reply).input_ids + [end]))
    width = max(len(a) + len(b) for a, b in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (a, b) in enumerate(rows):
        ids[i, :len(a) + len(b)] = torch.tensor(a + b)
        mask[i, :len(a) + len(b)] = 1
        labels[i, len(a):len(a) + len(b)] = torch.tensor(b)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(steps):
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    return out


def test_gguf_serving_check_of_an_adapter_that_stops_has_stop_rate_one(tmp_path):
    """The stop rate counts llama.cpp's end-of-turn: an adapter trained to answer "yes" and end
    its turn stops on every probe prompt (no training data beside it: the probe prompts)."""
    adapter = _train_to_stop(cached_tiny_arch("qwen2"), tmp_path / "yes" / "adapter")
    code, events, out = run_export(tmp_path, adapter, "gguf", "f16", name="yes")
    assert code == 0, out
    check = of(events, "result")[-1]["data"]["serving_check"]
    print(f"\nstopping adapter: stop rate {check['stop_rate']}, parity {check['parity']}, "
          f"replies {[r['text'] for r in check['replies']]}")
    assert check["stop_rate"] == 1.0 and check["leak_rate"] == 0.0 and check["parity"] == 1.0
    assert all(r["finish_reason"] == "stop" and r["text"].strip() == "yes" for r in check["replies"])
    assert check["passed"] and check["failed_metric"] == ""


def test_awq_export_serving_check_is_a_report_only_skip_that_says_why(tmp_path):
    """AWQ is not asked by llama.cpp: its report says it is report-only and needs vLLM's W4A16
    kernel (tests/trainer/test_export_awq.py skips serving where this CPU lacks it)."""
    import json

    from tuneforge.services.trainer import export_worker as w

    p = w.Plan(adapter=tmp_path, adapter_name="bot", base="b", base_dir=tmp_path, fmt="awq", quant="w4a16",
               out=tmp_path / "out", architecture="Qwen2ForCausalLM", spec={"adapter_version": 3})
    w._serving_check(p, tmp_path, "model.safetensors")
    check = json.loads((tmp_path / "SERVING_CHECK.json").read_text())
    assert check == p.serving_check and check["skipped"] and check["report_only"] and check["adapter_version"] == 3
    assert check["parity"] is None and "W4A16" in check["parity_detail"] and "report-only" in check["parity_detail"]
