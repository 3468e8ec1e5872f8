"""The trainer service end to end: real server, dataset + registry services, real workers on
the tiny Qwen2 model (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainer_helpers import FAST_TYPED as FAST
from trainer_helpers import make_dataset
from tuneforge.client import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    job_params,
    job_result,
)
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

Job = common_pb2.Job


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def train(client, tiny, name, dataset="learn", **config):
    return client.trainer.create_training_job(
        dataset=dataset, base_model=str(tiny), preset="quick", adapter_name=name,
        config={**FAST, **config})  # fmt: skip


def test_train_stop_resume_register_and_merge(client, server, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "learn", 32, validation=4)
    job = train(client, tiny_lm_dir, "learned", epochs=6)  # ~8 steps per epoch
    assert job.kind == "train" and job.state in (Job.STATE_QUEUED, Job.STATE_RUNNING)
    assert job_params(job).config.lora_rank == 8 and job_params(job).dataset_name == "learn"
    with pytest.raises(AlreadyExists):  # a pending job already makes this adapter
        train(client, tiny_lm_dir, "learned")

    # stop mid-run: the worker saves a checkpoint, the job ends CANCELLED with it
    for event in client.watch_job(job.id):
        if event.WhichOneof("kind") == "metrics" and event.metrics.step >= 3:
            client.jobs.cancel_job(id=job.id)
            break
    stopped = client.wait_job(job.id)
    assert stopped.state == Job.STATE_CANCELLED, stopped.error_message
    points = client.jobs.list_job_checkpoints(id=job.id).checkpoints
    assert points and stopped.last_checkpoint == points[-1].path
    step, ckpt = points[-1].step, Path(points[-1].path)
    assert step >= 3 and ckpt.name == f"checkpoint-{step}"
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"):
        assert (ckpt / name).is_file(), name
    assert not (server.config.root / "adapters" / "learned" / "final").exists()

    # resume from the job: continues at the checkpoint's step, finishes, registers itself
    resumed = client.trainer.create_training_job(
        dataset="learn", base_model=str(tiny_lm_dir), adapter_name="learned", resume_from=job.id,
        config=job_params(stopped).config)  # fmt: skip
    assert job_params(resumed).resume_from_checkpoint == str(ckpt.resolve())
    events = list(client.watch_job(resumed.id, include_logs=True))
    done = client.jobs.get_job(id=resumed.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    phases = {e.progress.phase for e in events if e.WhichOneof("kind") == "progress"}
    assert {"loading_model", "tokenizing", "training", "saving"} <= phases
    progress = [e.progress for e in events if e.WhichOneof("kind") == "progress" and e.progress.total]
    total = int(job_result(done).max_steps)
    assert progress[-1].step == progress[-1].total == total >= 40
    assert any(f"resuming from {ckpt}" in e.log.message for e in events if e.WhichOneof("kind") == "log")

    first = [m for m in client.jobs.list_job_metrics(id=job.id).metrics if m.HasField("loss")]
    series = [m for m in client.jobs.list_job_metrics(id=resumed.id).metrics if m.HasField("loss")]
    # the resumed job's chart continues the original curve: its steps first (issue 27), then its own
    assert [m.step for m in series] == list(range(1, total + 1))
    assert [m.loss for m in series[:step]] == [m.loss for m in first[:step]]
    assert job_result(done).resumed_from_job == job.id and job_params(done).resumed_from_job == job.id
    before = sum(m.loss for m in first[:3]) / 3
    after = sum(m.loss for m in series[-3:]) / 3
    assert after < before - 0.5, (before, after)
    assert job_result(done).HasField("eval_loss") and job_result(done).tokens_per_second > 0
    everything = client.jobs.list_job_metrics(id=resumed.id).metrics
    assert any(m.HasField("eval_loss") for m in everything) and any(m.HasField("tokens_per_second") for m in everything)

    final = server.config.root / "adapters" / "learned" / "final"
    assert (final / "adapter_config.json").is_file() and (final / "adapter_model.safetensors").is_file()
    assert job_result(done).adapter_dir == str(final.resolve())
    assert job_result(done).registration.state == trainer_pb2.Registration.STATE_REGISTERED
    adapter = client.registry.get_adapter(name="learned")
    assert adapter.job_id == resumed.id and adapter.base_model == str(tiny_lm_dir.resolve())
    assert adapter.dataset == "learn" and adapter.metrics["train_loss"] > 0
    best = job_result(done).best  # held-out data: the checkpoint with the lowest eval loss (issue 27)
    assert best.metric == "eval_loss" and best.step > 0 and adapter.metrics["best_step"] == best.step
    assert adapter.metrics["eval_loss"] == pytest.approx(best.value)
    with pytest.raises(AlreadyExists):
        train(client, tiny_lm_dir, "learned")
    assert client.jobs.list_jobs(service="trainer", kind="train").total_size == 2  # none for the refusal
    assert client.jobs.list_jobs(service="trainer", kind="evaluate").total_size == 1  # held-out data: evaluated

    # merge the registered adapter into a standalone model
    merge = client.wait_job(client.trainer.merge_adapter(adapter_name="learned").id)
    assert merge.state == Job.STATE_SUCCEEDED, merge.error_message
    out = server.config.root / "merged" / "learned"
    assert job_result(merge).output_dir == str(out.resolve())
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    check_adapter_and_merged_model(tiny_lm_dir, final, out)
    with pytest.raises(AlreadyExists):
        client.trainer.merge_adapter(adapter_name="learned")
    with pytest.raises(NotFound):
        client.trainer.merge_adapter(adapter_name="nope")


def test_bad_requests_get_field_violations_and_queue_nothing(client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "small", 4)

    def fields(exc_type, **kw):
        args = {"dataset": "small", "base_model": str(tiny_lm_dir), "adapter_name": "a", **kw}
        with pytest.raises(exc_type) as info:
            client.trainer.create_training_job(**args)
        return {v.field: v.description for v in info.value.field_violations}, info.value

    got, _ = fields(InvalidArgument, config={"lora_rank": 0, "learning_rate": -1.0})
    assert set(got) == {"config.lora_rank", "config.learning_rate"}
    with pytest.raises(TypeError, match="bogus"):  # the typed contract has no such field
        client.trainer.create_training_job(dataset="small", base_model=str(tiny_lm_dir), adapter_name="a",
                                           config={"bogus": 1})  # fmt: skip
    got, _ = fields(InvalidArgument, config={"target_modules": ["q_proj", "nope_proj"]})
    assert "nope_proj" in got["config.target_modules"] and "o_proj" in got["config.target_modules"]
    got, _ = fields(InvalidArgument, config={"max_seq_length": 100000})
    assert "2048" in got["config.max_seq_length"]
    got, _ = fields(InvalidArgument, preset="huge")
    assert set(got) == {"preset"}
    got, _ = fields(InvalidArgument, adapter_name="../x")
    assert set(got) == {"adapter_name"}
    got, _ = fields(NotFound, dataset="missing")
    assert set(got) == {"dataset"}
    got, err = fields(FailedPrecondition, base_model=str(tmp_path / "no-model"))
    assert set(got) == {"base_model"} and err.reason == "MODEL_NOT_AVAILABLE"
    got, err = fields(FailedPrecondition, base_model="nobody/not-cached-model")
    assert "cache" in got["base_model"] and err.reason == "MODEL_NOT_AVAILABLE"
    got, _ = fields(InvalidArgument, resume_from="/etc")
    assert set(got) == {"resume_from"}
    with pytest.raises(NotFound):
        client.trainer.create_training_job(dataset="small", base_model=str(tiny_lm_dir), adapter_name="a",
                                           resume_from="job-000000000000")  # fmt: skip
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_stored_config_defaults_update_and_reset(client):
    info = client.trainer.get_training_config()
    assert info.config.lora_rank == 8 and info.default_preset == "standard"
    assert info.config.precision == trainer_pb2.TrainingConfig.PRECISION_AUTO
    assert [p.name for p in info.presets] == ["quick", "standard", "thorough"]
    assert info.presets[0].config.max_seq_length == 512 and "LoRA rank" in info.help["lora_rank"]
    assert not info.presets[0].config.HasField("seed")  # a preset sets only its own fields
    info = client.trainer.update_training_config(config={"target_modules": ["all-linear"], "save_steps": 50})
    assert list(info.config.target_modules) == ["all-linear"] and info.config.save_steps == 50
    with pytest.raises(InvalidArgument) as exc:
        client.trainer.update_training_config(config={"lora_rank": 0}, update_mask=["lora_rank", "nope"])
    assert {v.field for v in exc.value.field_violations} == {"update_mask"}
    with pytest.raises(InvalidArgument) as exc:
        client.trainer.update_training_config(config={"lora_rank": 0})
    assert {v.field for v in exc.value.field_violations} == {"config.lora_rank"}
    with pytest.raises(InvalidArgument) as exc:  # masked but unset: not silently zeroed
        client.trainer.update_training_config(config={"lora_rank": 4}, update_mask=["lora_rank", "seed"])
    assert {v.field for v in exc.value.field_violations} == {"config.seed"}
    assert client.trainer.get_training_config().config.save_steps == 50  # unchanged
    info = client.trainer.update_training_config(config={"lora_rank": 4, "seed": 7}, update_mask=["lora_rank"])
    assert (info.config.lora_rank, info.config.seed) == (4, 42)  # only the masked field changed
    info = client.trainer.update_training_config(reset=True)
    assert info.config.save_steps == 200 and list(info.config.target_modules) == ["q_proj", "k_proj", "v_proj"]


def check_adapter_and_merged_model(tiny: Path, adapter: Path, merged_dir: Path) -> None:
    """The adapter loads with PeftModel and has learnt the data's pattern; the merged model
    loads with plain transformers and gives the PeftModel's logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(merged_dir)
    kw = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": tok.pad_token_id}
    base = AutoModelForCausalLM.from_pretrained(tiny)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), adapter)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    before, after, base_nll, tuned_nll = [], [], [], []
    with torch.no_grad():
        for user in ("cat 3", "dog 5", "red 1"):
            chat = [{"role": "system", "content": "Repeat twice."}, {"role": "user", "content": user}]
            prompt = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
            before.append(tok.decode(base.generate(prompt, **kw)[0, prompt.shape[1]:]))
            after.append(tok.decode(tuned.generate(input_ids=prompt, **kw)[0, prompt.shape[1]:]))
            peft_logits = tuned(prompt).logits
            torch.testing.assert_close(merged(prompt).logits, peft_logits, atol=1e-5, rtol=1e-4)
            assert not torch.allclose(peft_logits, base(prompt).logits, atol=1e-3)
            # the data's reply for this prompt: its loss under each model (teacher forcing)
            full = tok.apply_chat_template(chat + [{"role": "assistant", "content": f"{user} {user} done"}], return_tensors="pt")
            labels = full.clone()
            labels[:, : prompt.shape[1]] = -100
            base_nll.append(base(full, labels=labels).loss.item())
            tuned_nll.append(tuned(input_ids=full, labels=labels).loss.item())
    # the adapter changes generations and has learnt the pattern: the data's replies are far
    # more likely under it than under the base model (deterministic, unlike a greedy sample)
    assert before != after, (before, after)
    assert sum(tuned_nll) / 3 < sum(base_nll) / 3 - 0.3, (base_nll, tuned_nll)
