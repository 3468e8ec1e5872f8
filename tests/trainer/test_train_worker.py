"""The real training worker as a subprocess on the tiny Qwen2 model (CPU)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from trainer_helpers import (
    FAST_CONFIG,
    learnable_records,
    of,
    read_until,
    run_worker,
    start_worker,
    write_jsonl,
    write_spec,
)

TRAIN = "tuneforge.services.trainer.train_worker"


def test_loss_falls_on_learnable_data_and_final_adapter_is_saved(trained):
    events, out = trained["events"], trained["output_dir"]
    losses = [e["loss"] for e in of(events, "metrics") if "loss" in e]
    assert len(losses) >= 40
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.5, (first, last)
    assert any("eval_loss" in e for e in of(events, "metrics"))
    assert any("tokens_per_second" in e for e in of(events, "metrics"))
    phases = [e.get("phase") for e in of(events, "progress")]
    for phase in ("loading_model", "tokenizing", "training", "saving"):
        assert phase in phases
    ckpts = of(events, "checkpoint")
    assert [c["step"] for c in ckpts][:2] == [20, 40]
    assert (Path(ckpts[0]["path"]) / "training_config.json").is_file()
    final = out / "final"
    assert (final / "adapter_config.json").is_file()
    assert (final / "adapter_model.safetensors").is_file()
    result = of(events, "result")[-1]["data"]
    assert result["adapter_dir"] == str(final.resolve())
    assert result["stopped"] is False and result["dataset"] == "learnable"
    assert result["global_step"] == result["max_steps"] == 48
    assert result["tokens_per_second"] > 0 and result["eval_loss"] is not None
    saved = json.loads((out / "training_result.json").read_text())
    assert saved["config"]["target_modules"] == "all-linear"
    assert json.loads((out / "training_config.json").read_text())["dataset"] == "learnable"
    assert not [p for p in out.iterdir() if p.name.startswith(".final-")]


def test_adapter_loads_with_peft_and_changes_generation(trained, tiny_model):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": "Repeat twice."}, {"role": "user", "content": "cat 3"}],
        add_generation_prompt=True, return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    kw = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        before = base.generate(prompt, **kw)[0, prompt.shape[1]:].tolist()
        tuned = PeftModel.from_pretrained(base, trained["output_dir"] / "final")
        after = tuned.generate(input_ids=prompt, **kw)[0, prompt.shape[1]:].tolist()
    assert before != after
    # every reply in the data ends "... done<|im_end|>": the tuned model has picked that up
    assert "done" in tok.decode(after) and "done" not in tok.decode(before), tok.decode(after)


def _long_run_spec(tmp: Path, tiny_model: Path, name: str, **extra) -> Path:
    train = write_jsonl(tmp / "data.jsonl", learnable_records(32))
    return write_spec(tmp, name, base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp / "adapters" / name), adapter_name=name,
                      dataset_name="learnable",
                      config={**FAST_CONFIG, "epochs": 100}, **extra)


def test_sigterm_saves_checkpoint_and_resume_continues_at_its_step(tmp_path, tiny_model):
    proc = start_worker(TRAIN, _long_run_spec(tmp_path, tiny_model, "first"))
    try:
        read_until(proc, lambda e: e["event"] == "metrics" and e.get("step", 0) >= 3)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    from trainer_helpers import parse_events

    events = parse_events(rest.splitlines())
    assert proc.returncode == 0, rest[-2000:]
    ckpt = of(events, "checkpoint")[-1]
    step, path = ckpt["step"], Path(ckpt["path"])
    assert step >= 3 and path.name == f"checkpoint-{step}"
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth",
                 "trainer_state.json"):
        assert (path / name).is_file(), name
    assert json.loads((path / "trainer_state.json").read_text())["global_step"] == step
    result = of(events, "result")[-1]["data"]
    assert result["stopped"] is True and result["checkpoint"] == str(path)
    assert not (tmp_path / "adapters" / "first" / "final").exists()

    spec = _long_run_spec(tmp_path, tiny_model, "second", resume_from_checkpoint=str(path),
                          max_steps=step + 3)
    rc, events2, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    steps = [e["step"] for e in of(events2, "metrics") if "loss" in e]
    assert steps == [step + 1, step + 2, step + 3]
    final_state = of(events2, "checkpoint")[-1]
    assert final_state["step"] == step + 3
    assert json.loads((Path(final_state["path"]) / "trainer_state.json").read_text())[
        "global_step"] == step + 3
    assert (tmp_path / "adapters" / "second" / "final" / "adapter_model.safetensors").is_file()


def test_kill_9_ends_with_nonzero_exit(tmp_path, tiny_model):
    proc = start_worker(TRAIN, _long_run_spec(tmp_path, tiny_model, "killed"))
    try:
        read_until(proc, lambda e: e["event"] == "metrics")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "adapters" / "killed" / "final").exists()


def test_qlora_nf4_trains_on_cpu_with_a_plain_warning(tmp_path, tiny_model):
    spec = _long_run_spec(tmp_path, tiny_model, "qlora", max_steps=3)
    data = json.loads(spec.read_text())
    data["config"].update(quantization="nf4", target_modules="q_proj,v_proj",
                          gradient_checkpointing=True)
    spec.write_text(json.dumps(data))
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    warnings = [e["message"] for e in of(events, "log") if e.get("level") == "warning"]
    assert any("QLoRA on CPU" in w for w in warnings)
    result = of(events, "result")[-1]["data"]
    assert result["global_step"] == 3 and result["config"]["quantization"] == "nf4"
    cfg = json.loads((Path(result["adapter_dir"]) / "adapter_config.json").read_text())
    assert sorted(cfg["target_modules"]) == ["q_proj", "v_proj"]


def test_record_without_assistant_tokens_fails_naming_the_record(tmp_path, tiny_model):
    records = learnable_records(4)
    records.insert(2, {"messages": [{"role": "user", "content": "only a question"}]})
    train = write_jsonl(tmp_path / "data.jsonl", records)
    spec = write_spec(tmp_path, "empty", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"), config=FAST_CONFIG)
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 1
    err = of(events, "error")[-1]
    assert err["reason"] == "EMPTY_ASSISTANT_MASK"
    assert "record 2" in err["message"]
    assert not (tmp_path / "out" / "final").exists()


def test_bad_config_in_spec_fails_fast_with_field_reasons(tmp_path, tiny_model):
    train = write_jsonl(tmp_path / "data.jsonl", learnable_records(4))
    spec = write_spec(tmp_path, "bad", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"),
                      config={"lora_rank": 0, "learning_rate": -1, "bogus": 1})
    rc, events, _ = run_worker(TRAIN, spec, timeout=60)
    assert rc == 1
    err = of(events, "error")[-1]
    assert err["reason"] == "INVALID_TRAINING_CONFIG" and "bogus" in err["message"]
