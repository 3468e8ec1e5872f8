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


def _long_run_spec(tmp: Path, tiny_model: Path, name: str, **extra) -> Path:
    train = write_jsonl(tmp / "data.jsonl", learnable_records(32))
    return write_spec(tmp, name, base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp / "adapters" / name), adapter_name=name,
                      dataset_name="learnable",
                      config={**FAST_CONFIG, "epochs": 100}, **extra)


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
