"""Load an AWQ export with transformers + compressed-tensors and compare its greedy tokens with
the unquantized merged model. Run by test_export_awq.py under the AWQ virtualenv's interpreter
(transformers 5 with compressed-tensors), since our training env cannot load that format.

    python awq_check.py QUANTIZED_DIR MERGED_DIR NEW_TOKENS PROMPTS_JSON

Prints one JSON object: {"quant_method", "format", "prompt_ids", "quantized", "reference"}.
"""

import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def greedy(model, tok, messages_list, new_tokens):
    prompts, outs = [], []
    for messages in messages_list:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = model.generate(ids, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                 pad_token_id=tok.pad_token_id)
        prompts.append(ids[0].tolist())
        outs.append(gen[0, ids.shape[1]:].tolist())
    return prompts, outs


def main() -> None:
    quantized_dir, merged_dir, new_tokens, prompts_json = sys.argv[1:5]
    messages_list = json.loads(prompts_json)
    tok = AutoTokenizer.from_pretrained(merged_dir)
    quantized = AutoModelForCausalLM.from_pretrained(quantized_dir)
    qcfg = quantized.config.quantization_config
    qcfg = qcfg if isinstance(qcfg, dict) else qcfg.to_dict()
    reference = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    prompt_ids, q_tokens = greedy(quantized, tok, messages_list, int(new_tokens))
    _, r_tokens = greedy(reference, tok, messages_list, int(new_tokens))
    print(json.dumps({"quant_method": qcfg.get("quant_method"), "format": qcfg.get("format"),
                      "prompt_ids": prompt_ids, "quantized": q_tokens, "reference": r_tokens}))


if __name__ == "__main__":
    main()
