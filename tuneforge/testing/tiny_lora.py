"""A real PEFT LoRA adapter for a tiny base model, trained for a few steps (tests, bench).

A few optimisation steps on random tokens move ``lora_B`` away from zero, so the adapter
changes the model's greedy output — what a test needs to tell "served with the adapter"
from "served without it".
"""

from __future__ import annotations

from pathlib import Path

PROMPTS = ("Hello world", "The model answers", "Привет мир", "one two three")


def train_tiny_lora(base_dir: Path | str, out_dir: Path | str, *, r: int = 8, seed: int = 0, steps: int = 4,
                    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
                    lr: float = 3e-2, **config) -> Path:
    """Train and ``save_pretrained`` into ``out_dir``; extra ``config`` goes to LoraConfig."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32),
        LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(target_modules), task_type="CAUSAL_LM", **config),
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    ids = torch.randint(3, 1000, (4, 24), generator=torch.Generator().manual_seed(seed))
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out_dir)
    return Path(out_dir)


def peft_greedy_ids(base_dir: Path | str, adapter_dir: Path | str | None, prompt: str,
                    max_new_tokens: int = 8) -> list[int]:
    """``PeftModel.generate(do_sample=False)``'s new token ids (the base model's without an
    adapter). Stops only at ``max_new_tokens`` (vLLM is asked for the same with
    ``ignore_eos``)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    ids = tok(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                             eos_token_id=None, pad_token_id=tok.pad_token_id)
    return out[0, ids.shape[1]:].tolist()
