"""The best checkpoint, not the last, is what a training job hands over for registration
(issue 27 item 3): the real worker on the tiny model, with held-out data whose loss rises once
the model over-fits the training replies."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from trainer_helpers import FAST_CONFIG, learnable_records, of, run_worker, write_jsonl, write_spec

TRAIN = "tuneforge.services.trainer.train_worker"


def _contradicting(records: list[dict]) -> list[dict]:
    """Held-out chats with the training prompts but other replies: what the model learns from
    the training set first helps (the template, the words), then over-fitting hurts."""
    out = []
    for rec in records:
        user = rec["messages"][1]["content"]
        w, k = user.split()
        out.append({"messages": [rec["messages"][0], rec["messages"][1],
                                 {"role": "assistant", "content": f"{k} {w} no"}]})
    return out


def test_job_whose_eval_loss_rises_after_step_k_registers_the_checkpoint_at_k(tmp_path, tiny_model):
    records = learnable_records(8)
    train = write_jsonl(tmp_path / "train.jsonl", records)
    val = write_jsonl(tmp_path / "val.jsonl", _contradicting(records))
    out = tmp_path / "adapters" / "best"
    spec = write_spec(tmp_path, "best", base_model=str(tiny_model), train_file=str(train),
                      validation_file=str(val), output_dir=str(out), adapter_name="best",
                      config={**FAST_CONFIG, "epochs": 12, "save_steps": 2, "save_total_limit": 1})
    rc, events, output = run_worker(TRAIN, spec, timeout=300)
    assert rc == 0, output[-3000:]
    evals = {e["step"]: e["eval_loss"] for e in of(events, "metrics") if "eval_loss" in e}
    print(sorted(evals.items()))
    k = min(evals, key=evals.get)
    result = of(events, "result")[-1]["data"]
    last = result["global_step"]
    assert k < last and evals[last] > evals[k]  # the loss did rise after k
    best = result["best"]
    assert best["step"] == k == result["best_step"] and best["metric"] == "eval_loss"
    assert best["value"] == evals[k] and f"step {k}" in best["reason"]
    assert result["eval_loss"] == evals[k]  # the registered adapter's, not the last step's
    assert any(f"registered the checkpoint at step {k}" in e["message"] for e in of(events, "log"))
    ckpts = out / "checkpoints"
    assert Path(best["path"]) == (ckpts / f"checkpoint-{k}").resolve()
    assert best["last_step"] == last and Path(best["last_checkpoint"]).name == f"checkpoint-{last}"
    # save_total_limit=1 kept the best and the last, nothing else
    assert sorted(p.name for p in ckpts.glob("checkpoint-*")) == sorted({f"checkpoint-{k}", f"checkpoint-{last}"})
    registered = load_file(Path(result["adapter_dir"]) / "adapter_model.safetensors")
    at_k = load_file(ckpts / f"checkpoint-{k}" / "adapter_model.safetensors")
    at_last = load_file(ckpts / f"checkpoint-{last}" / "adapter_model.safetensors")
    assert registered.keys() == at_k.keys()
    assert all((registered[n] == at_k[n]).all() for n in at_k)
    assert any((registered[n] != at_last[n]).any() for n in at_last)
