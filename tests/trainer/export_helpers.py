"""Helpers for the export tests: a LoRA adapter that changes the model, the reference greedy
tokens from transformers, and llama.cpp (llama-cpp-python) on the exported GGUF."""

from __future__ import annotations

import json
from pathlib import Path

from trainer_helpers import learnable_records, run_worker, write_jsonl, write_spec

from tuneforge.services.trainer import export as ex

EXPORT = "tuneforge.services.trainer.export_worker"
PROMPTS = [
    [{"role": "user", "content": "red 3"}],
    [{"role": "system", "content": "Repeat twice."}, {"role": "user", "content": "Привет, мир 42"}],
    [{"role": "user", "content": "the model train loss data 12345"}],
    [{"role": "user", "content": "cat dog house"}, {"role": "assistant", "content": "tree water"},
     {"role": "user", "content": "fire code?"}],
]
NEW_TOKENS = 12


def make_adapter(base_dir: Path, out: Path) -> Path:
    """A rank-8 LoRA on every linear layer with random (non-zero) B, so it visibly changes the
    model's output — what export must preserve — without spending time training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                            init_lora_weights=False, task_type="CAUSAL_LM"))
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    cfg = json.loads((out / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(base_dir)
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    write_jsonl(out.parent / "train.jsonl", learnable_records(48))
    return out


def prompt_texts(model_dir: Path) -> list[str]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in PROMPTS]


def hf_greedy(model_dir: Path, adapter_dir: Path | None = None) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, greedy new ids) from transformers for the base (+ adapter, merged)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    prompts, outs = [], []
    for text in prompt_texts(model_dir):
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = model.generate(ids, do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                 pad_token_id=tok.pad_token_id)
        prompts.append(ids[0].tolist())
        outs.append(gen[0, ids.shape[1]:].tolist())
    return prompts, outs


def llama_greedy(llm, prompt_ids: list[list[int]]) -> list[list[int]]:
    """Greedy tokens from llama.cpp, the same count as transformers (end-of-turn not stopping)."""
    outs = []
    for ids in prompt_ids:
        llm.reset()
        got = []
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            got.append(int(token))
            if len(got) == NEW_TOKENS:
                break
        outs.append(got)
    return outs


def load_gguf(path: Path, lora: Path | None = None):
    from llama_cpp import Llama

    kwargs = {"lora_path": str(lora)} if lora else {}
    return Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False, seed=0, **kwargs)


def run_export(tmp: Path, adapter: Path, fmt: str, quant: str = "", name: str = "tiny", **extra):
    spec = ex.export_spec(adapter_dir=adapter, adapter_name=name, base_model="", fmt=fmt, quant=quant,
                          output_dir=tmp / f"{name}-{fmt}-{quant or 'default'}",
                          llama_cpp_dir=str(ex.DEFAULT_LLAMA_CPP_DIR), awq_python=str(ex.DEFAULT_AWQ_PYTHON),
                          calibration_file=str(adapter.parent / "train.jsonl"), calibration_samples=16)
    spec.update(extra)
    return run_worker(EXPORT, write_spec(tmp, f"export-{fmt}-{quant}", **spec), timeout=600)


def agreement(a: list[list[int]], b: list[list[int]]) -> tuple[int, int]:
    """(equal tokens at the same positions, total) — how far two greedy runs agree."""
    same = sum(x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    return same, sum(len(r) for r in a)
