"""Every training method and adapter variant trains, stops, resumes and saves on the tiny model.

The real worker as a subprocess (CPU): a long run is stopped with SIGTERM after its first
logged step (a checkpoint is saved, the result says stopped), then a second worker resumes from
that checkpoint and finishes, writing ``final/``. Registration through the service is tested
in test_methods_grpc.py.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from trainer_helpers import (
    FAST_CONFIG,
    learnable_records,
    of,
    parse_events,
    read_until,
    run_worker,
    start_worker,
    write_jsonl,
    write_spec,
)

TRAIN = "tuneforge.services.trainer.train_worker"


def preference_records(n: int) -> list[dict]:
    """The chosen reply follows the prompt's pattern; the rejected one does not."""
    out = []
    for rec in learnable_records(n):
        prompt, reply = rec["messages"][:-1], rec["messages"][-1]["content"]
        out.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": reply}],
                    "rejected": [{"role": "assistant", "content": "no idea"}]})
    return out


def kto_records(n: int) -> list[dict]:
    """Labelled answers, alternating: the right reply labelled true, a wrong one false."""
    out = []
    for i, rec in enumerate(learnable_records(n)):
        prompt, reply = rec["messages"][:-1], rec["messages"][-1]["content"]
        good = i % 2 == 0
        out.append({"prompt": prompt, "completion": [
            {"role": "assistant", "content": reply if good else "no idea"}], "label": good})
    return out


def _records(method: str | None, n: int) -> list[dict]:
    if method in ("dpo", "orpo"):
        return preference_records(n)
    return kto_records(n) if method == "kto" else learnable_records(n)


def _spec(tmp: Path, model: Path, name: str, config: dict, **extra) -> Path:
    records = _records(config.get("method"), 16)
    train = write_jsonl(tmp / f"{name}.jsonl", records)
    return write_spec(tmp, name, base_model=str(model), train_file=str(train),
                      output_dir=str(tmp / "adapters" / name), adapter_name=name,
                      job_dir=str(tmp / "jobs" / name), job_id=f"job-{name}",
                      config={**FAST_CONFIG, "save_steps": 1, **config}, **extra)


def _stop_after_first_step(spec: Path) -> tuple[dict, list[dict]]:
    """(the stopped result, every event) of a run stopped right after its first logged step."""
    proc = start_worker(TRAIN, spec)
    try:
        read_until(proc, lambda e: e["event"] == "metrics")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    events = parse_events(out.splitlines())
    return of(events, "result")[-1]["data"], events


# Each case also checks one tracking backend, so every run here pays for two behaviours.
METHODS = {
    "variants": {"use_dora": True, "use_rslora": True, "loraplus_lr_ratio": 16.0,
                 "report_to": "tensorboard"},
    "full": {"method": "full", "report_to": "mlflow"},
    "dpo": {"method": "dpo"},
    "orpo": {"method": "orpo"},
    "kto": {"method": "kto", "desirable_weight": 1.0, "undesirable_weight": 1.5},
    "grpo": {"method": "grpo", "num_generations": 2, "max_completion_length": 8,  # issue 27
             "rewards": [{"kind": "format"}, {"kind": "chrf", "weight": 2}]},
}
TRACKED = {"tensorboard": "tensorboard/events.out.tfevents", "mlflow": "mlruns/"}


class Runs(dict):
    """Each method's two runs, done the first time a test asks for that method: stopped after
    its first step, then resumed for two more steps."""

    def __init__(self, factory, model: Path) -> None:
        super().__init__()
        self.factory, self.model = factory, model

    def __missing__(self, name: str) -> dict:
        config, tmp = METHODS[name], self.factory.mktemp(name)
        stopped, stop_events = _stop_after_first_step(
            _spec(tmp, self.model, name, {**config, "epochs": 100}))
        resume = _spec(tmp, self.model, name, config, max_steps=stopped["global_step"] + 2,
                       resume_from_checkpoint=stopped["checkpoint"])
        rc, events, output = run_worker(TRAIN, resume)
        assert rc == 0, output[-3000:]
        self[name] = {"stopped": stopped, "stop_events": stop_events, "events": events,
                      "job_dir": tmp / "jobs" / name, "result": of(events, "result")[-1]["data"]}
        return self[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model) -> Runs:
    return Runs(tmp_path_factory, tiny_model)


@pytest.mark.parametrize("name", list(METHODS))
def test_method_stop_saves_a_resumable_checkpoint(runs, name):
    stopped = runs[name]["stopped"]
    assert stopped["stopped"] is True
    assert (Path(stopped["checkpoint"]) / "trainer_state.json").is_file()


@pytest.mark.parametrize("name", list(METHODS))
def test_method_resume_continues_from_the_checkpoint_to_a_final_result(runs, name):
    result, stopped = runs[name]["result"], runs[name]["stopped"]
    assert result["stopped"] is False
    assert result["global_step"] == stopped["global_step"] + 2
    assert result["method"] == METHODS[name].get("method", "lora")


@pytest.mark.parametrize("name", list(METHODS))
def test_method_streams_tokens_per_second_and_reports_its_real_token_count(runs, name):
    # issue 27 item 5; the count against the data itself: test_throughput.py and below (KTO)
    run = runs[name]
    for events, first in ((run["stop_events"], 1), (run["events"], run["stopped"]["global_step"] + 1)):
        steps = [e for e in of(events, "progress")
                 if e["phase"] == "training" and e.get("step", 0) >= first]  # the steps it trained
        assert steps and all(e["tokens_per_second"] > 0 for e in steps)
        counted = [e["num_tokens"] for e in of(events, "metrics") if "num_tokens" in e]
        assert counted and counted[0] > 0 and counted == sorted(counted)
        result = of(events, "result")[-1]["data"]
        assert result["num_tokens"] == counted[-1] and result["tokens_per_second"] > 0


def test_full_fine_tuning_saves_a_model_directory_not_an_adapter(runs):
    result = runs["full"]["result"]
    final = Path(result["adapter_dir"])
    assert result["artifact"] == "model" and result["variant"] == "full"
    assert (final / "model.safetensors").is_file() and (final / "config.json").is_file()
    assert not (final / "adapter_config.json").exists()


def test_adapter_variants_are_written_into_the_adapter_config_and_the_result(runs):
    result = runs["variants"]["result"]
    adapter = json.loads((Path(result["adapter_dir"]) / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True and adapter["use_rslora"] is True
    assert result["variant"] == "dora"


@pytest.mark.parametrize("backend", list(TRACKED))
def test_report_to_writes_offline_tracking_under_the_job_directory(runs, backend):
    name = next(n for n, c in METHODS.items() if c.get("report_to") == backend)
    job_dir = runs[name]["job_dir"]
    files = [str(p.relative_to(job_dir)) for p in job_dir.rglob("*") if p.is_file()]
    assert any(f.startswith(TRACKED[backend]) for f in files), files
    if backend == "mlflow":
        assert any(f.endswith("metrics/loss") for f in files), files


@pytest.mark.parametrize("name", ["dpo", "orpo"])
def test_preference_methods_stream_reward_margin_chosen_rejected_and_accuracy(runs, name):
    metrics = of(runs[name]["stop_events"], "metrics")[0]
    for key in ("reward_margin", "reward_chosen", "reward_rejected", "reward_accuracy"):
        assert isinstance(metrics.get(key), float), key


def test_kto_streams_its_rewards_and_kl_and_saves_a_peft_adapter(runs):
    metrics = of(runs["kto"]["stop_events"], "metrics")[0]
    for key in ("loss", "kl", "reward_chosen", "reward_rejected", "reward_margin"):
        assert isinstance(metrics.get(key), float), key
    result = runs["kto"]["result"]
    assert (result["method"], result["artifact"], result["variant"]) == ("kto", "adapter", "lora")
    assert result["config"]["undesirable_weight"] == 1.5
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(result["adapter_dir"]).peft_type == "LORA"


@pytest.fixture(scope="module")
def kto_held_out(tmp_path_factory, tiny_model) -> tuple[list[dict], list[dict]]:
    """(the records, the events) of a KTO run over 12 answers, evaluated on 4 at every step."""
    tmp = tmp_path_factory.mktemp("kto-eval")
    records = kto_records(16)
    train = write_jsonl(tmp / "kto.jsonl", records)
    spec = write_spec(tmp, "kto-eval", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp / "out"),
                      config={**FAST_CONFIG, "method": "kto", "validation_split": 0.25,
                              "eval_steps": 1})
    rc, events, output = run_worker(TRAIN, spec)
    assert rc == 0, output[-3000:]
    return records, events


def test_kto_with_held_out_answers_streams_eval_loss_kl_and_reward_margin(kto_held_out):
    _, events = kto_held_out
    evaluated = [m for m in of(events, "metrics") if "eval_loss" in m]
    assert evaluated and all(isinstance(m.get(k), float) for m in evaluated
                             for k in ("eval_kl", "eval_reward_margin"))
    assert of(events, "result")[-1]["data"]["eval_loss"] == evaluated[-1]["eval_loss"]


def test_kto_counts_prompt_and_completion_of_each_trained_answer_and_not_the_held_out_ones(
        kto_held_out, tiny_model):
    from transformers import AutoTokenizer

    from tuneforge.services.trainer.chat_data import split_validation
    from tuneforge.services.trainer.config import TrainingConfig

    records, events = kto_held_out
    trained, _ = split_validation(records, 0.25, TrainingConfig().seed)  # as the worker holds out
    tok = AutoTokenizer.from_pretrained(tiny_model)
    expected = sum(len(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=True))
                   for r in trained)  # one epoch; KTO's KL pairs are cost, not trained tokens
    result = of(events, "result")[-1]["data"]
    assert result["global_step"] == 3 and result["num_tokens"] == expected


def test_kto_on_chat_records_fails_naming_the_record_and_the_fix(tmp_path, tiny_model):
    train = write_jsonl(tmp_path / "chats.jsonl", learnable_records(4))
    spec = write_spec(tmp_path, "wrong", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"), config={**FAST_CONFIG, "method": "kto"})
    rc, events, _ = run_worker(TRAIN, spec)
    assert rc == 1
    err = of(events, "error")[-1]
    assert err["reason"] == "INVALID_TRAINING_RECORD"
    assert "record 0" in err["message"] and "method=kto" in err["message"]


def test_dpo_on_chat_records_fails_naming_the_record_and_the_fix(tmp_path, tiny_model):
    train = write_jsonl(tmp_path / "chats.jsonl", learnable_records(4))
    spec = write_spec(tmp_path, "wrong", base_model=str(tiny_model), train_file=str(train),
                      output_dir=str(tmp_path / "out"), config={**FAST_CONFIG, "method": "dpo"})
    rc, events, _ = run_worker(TRAIN, spec)
    assert rc == 1
    err = of(events, "error")[-1]
    assert err["reason"] == "INVALID_TRAINING_RECORD"
    assert "record 0" in err["message"] and "method=lora" in err["message"]


def test_full_fine_tuning_above_the_parameter_limit_is_refused_with_the_alternative(
        tmp_path, tiny_model):
    spec = _spec(tmp_path, tiny_model, "big", {"method": "full"}, full_max_parameters=1000)
    rc, events, _ = run_worker(TRAIN, spec)
    assert rc == 1
    err = of(events, "error")[-1]
    assert err["reason"] == "FULL_FINETUNE_TOO_LARGE"
    assert "method=lora" in err["message"] and "full_max_parameters" in err["message"]
    assert not (tmp_path / "adapters" / "big" / "final").exists()
