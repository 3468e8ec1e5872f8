"""PeftModel's greedy tokens, for the conformance check's parity (conformance.py).

Run by the registry as a child process under an interpreter that has the ML stack (the
registry itself stays torch-free): reads ``{"base", "adapter", "prompts": [[ids]...],
"max_new_tokens"}`` as JSON on stdin, writes ``{"tokens": [[ids]...]}`` on stdout —
``PeftModel.generate(do_sample=False)`` on the same base, never stopping before
``max_new_tokens`` (vLLM is asked the same with ``ignore_eos``).

    echo '{"base": "...", "adapter": "...", "prompts": [[1, 2]], "max_new_tokens": 8}' | \\
        python -m tuneforge.services.registry.peft_reference
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    spec = json.loads(sys.stdin.read())
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["base"], torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(model, spec["adapter"]).eval()
    n = int(spec["max_new_tokens"])
    out = []
    with torch.no_grad():
        for prompt in spec["prompts"]:
            ids = torch.tensor([prompt])
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n,
                                 min_new_tokens=n, eos_token_id=None,
                                 pad_token_id=model.config.pad_token_id or 0)
            out.append(gen[0, ids.shape[1]:].tolist())
    sys.stdout.write(json.dumps({"tokens": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
