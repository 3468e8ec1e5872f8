"""Training methods through the service: DPO from an imported preference dataset trains, stops,
resumes and registers; full fine-tuning makes a model; the pre-flight plan and its refusals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_training_methods import kto_records, preference_records
from trainer_helpers import FAST_TYPED as FAST
from trainer_helpers import make_dataset, write_jsonl
from tuneforge.client import InvalidArgument, ResourceExhausted, job_params, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2

Job = common_pb2.Job
Registration = trainer_pb2.Registration


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def _preference_dataset(client, tmp: Path, name: str, n: int) -> None:
    path = write_jsonl(tmp / f"{name}.jsonl", preference_records(n))
    up = client.upload_file("dataset", path)
    client.dataset.import_dataset(upload_id=up.id, dataset_name=name)


def _kto_dataset(client, tmp: Path, name: str, n: int) -> None:
    path = write_jsonl(tmp / f"{name}.jsonl", kto_records(n))
    up = client.upload_file("dataset", path)
    client.dataset.import_dataset(upload_id=up.id, dataset_name=name)


SLOW = 120  # the first create inspects the model in a worker interpreter: slow on a busy CPU


def _create(client, tiny, name, dataset, **config):
    return client.trainer.create_training_job(dataset=dataset, base_model=str(tiny), preset="quick",
                                              adapter_name=name, config={**FAST, **config},
                                              timeout=SLOW)


def test_dpo_trains_stops_resumes_and_registers(client, server, tiny_lm_dir, tmp_path):
    _preference_dataset(client, tmp_path, "pairs", 24)
    assert client.dataset.get_dataset_stats(name="pairs").preference_pairs == 24
    job = _create(client, tiny_lm_dir, "tone", "pairs", method="dpo", epochs=4, save_steps=1)
    for event in client.watch_job(job.id):
        if event.WhichOneof("kind") == "metrics" and "reward_margin" in event.metrics.extra:
            client.jobs.cancel_job(id=job.id)
            break
    stopped = client.wait_job(job.id)
    assert stopped.state == Job.STATE_CANCELLED, stopped.error_message
    resumed = client.trainer.create_training_job(
        dataset="pairs", base_model=str(tiny_lm_dir), adapter_name="tone", resume_from=job.id,
        config={**FAST, "method": "dpo", "epochs": 4}, timeout=SLOW)  # the same plan (issue 27)
    done = client.wait_job(resumed.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    result = job_result(done)
    assert result.method == trainer_pb2.TrainingConfig.METHOD_DPO and result.variant == "lora"
    assert result.registration.state == Registration.STATE_REGISTERED
    assert client.registry.get_adapter(name="tone").job_id == resumed.id


def test_orpo_with_dora_registers_its_variant_and_activation_refuses_it_before_vllm(
        server_factory, tiny_lm_dir, tmp_path):
    from tuneforge.client import Client, FailedPrecondition

    from tuneforge.testing.fake_vllm import FakeVllm

    with FakeVllm(str(tiny_lm_dir)) as vllm:
        srv = server_factory(vllm_mode="hot", vllm_url=vllm.url)
        with Client(srv.target, timeout=30) as client:
            _preference_dataset(client, tmp_path, "pairs", 12)
            done = client.wait_job(_create(client, tiny_lm_dir, "tone", "pairs", method="orpo",
                                           use_dora=True).id)
            assert done.state == Job.STATE_SUCCEEDED, done.error_message
            result = job_result(done)
            assert (result.method, result.variant) == (trainer_pb2.TrainingConfig.METHOD_ORPO, "dora")
            assert result.registration.state == Registration.STATE_REGISTERED, result.registration.message
            assert client.registry.get_adapter(name="tone").variant == registry_pb2.Adapter.VARIANT_DORA
            with pytest.raises(FailedPrecondition) as info:
                client.registry.activate_adapter(name="tone")
        assert info.value.reason == "ADAPTER_INCOMPATIBLE" and "merge" in info.value.message + str(info.value.field_violations)
        assert vllm.calls("/v1/load_lora_adapter") == []


def test_full_fine_tuning_registers_its_model_directory_as_a_model_not_an_adapter(
        client, server, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 8)
    done = client.wait_job(_create(client, tiny_lm_dir, "whole", "chats", method="full").id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    result = job_result(done)
    assert result.artifact == "model" and result.variant == "full"
    assert (Path(result.adapter_dir) / "model.safetensors").is_file()
    assert result.registration.state == Registration.STATE_REGISTERED, result.registration.message
    model = client.registry.get_model(id=result.registration.name)
    assert (model.format, model.adapter_name, model.job_id) == (registry_pb2.EXPORT_FORMAT_FULL, "whole", done.id)
    assert Path(model.path) == Path(result.adapter_dir).resolve() and result.registration.version == model.version
    assert "model.safetensors" in {f.name for f in model.files}
    assert not client.registry.list_adapters().adapters
    assert job_params(done).full_max_parameters == server.config.full_max_parameters


def test_full_fine_tune_registration_waits_for_a_down_registry_then_enters_the_model_catalog(
        server_factory, tiny_lm_dir, tmp_path, monkeypatch):
    from test_trainer_cli import closed_port
    from tuneforge.client import Client

    from tuneforge.services.trainer import registration
    from tuneforge.testing.server import ServerThread

    monkeypatch.setattr(registration, "RETRY_MIN_SECONDS", 0.5)
    monkeypatch.setattr(registration, "RETRY_MAX_SECONDS", 1.0)
    port = closed_port()
    # the registry runs apart, on the same data root (one server per service on a data root)
    srv = server_factory(registry_target=f"127.0.0.1:{port}", services=("dataset", "trainer", "tts"))
    with Client(srv.target, timeout=30) as client:
        make_dataset(client, tmp_path, "chats", 8)
        done = client.wait_job(_create(client, tiny_lm_dir, "whole", "chats", method="full").id)
        assert job_result(done).registration.state == Registration.STATE_PENDING
        with ServerThread(srv.config.root, services=("registry",), port=port) as registry:
            deadline = time.monotonic() + 30
            while (reg := job_result(client.jobs.get_job(id=done.id)).registration).state == Registration.STATE_PENDING:
                assert time.monotonic() < deadline, reg
                time.sleep(0.5)
            assert reg.state == Registration.STATE_REGISTERED, reg.message
            with Client(registry.target) as rc:
                assert rc.registry.get_model(id=reg.name).job_id == done.id


def test_plan_estimates_memory_at_the_longest_record_without_starting_a_job(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 8)
    plan = client.trainer.plan_training(dataset="chats", base_model=str(tiny_lm_dir),
                                            config={**FAST, "max_seq_length": 1024}, timeout=SLOW)
    assert plan.fits and plan.device_kind in ("cpu", "cuda")
    assert 0 < plan.seq_len < 1024 and plan.seq_len_source == "longest record"
    assert plan.memory.total_bytes == sum((plan.memory.weights_bytes, plan.memory.runtime_bytes,
                                           plan.memory.trainable_state_bytes,
                                           plan.memory.activations_bytes, plan.memory.logits_bytes))
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_job_that_cannot_fit_is_refused_before_queueing_with_what_to_change(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 8)
    with pytest.raises(ResourceExhausted) as info:
        _create(client, tiny_lm_dir, "huge", "chats", batch_size=2_000_000)
    assert info.value.reason == "INSUFFICIENT_MEMORY" and "--set batch_size=1" in info.value.message
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_dpo_on_a_chat_dataset_is_refused_before_queueing(client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 8)
    with pytest.raises(InvalidArgument) as info:
        _create(client, tiny_lm_dir, "wrong", "chats", method="dpo")
    assert info.value.reason == "DATASET_METHOD_MISMATCH"
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_kto_job_streams_kl_and_rewards_and_registers_an_adapter_that_loads_in_peft(
        client, server, tiny_lm_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _kto_dataset(client, tmp_path, "thumbs", 16)
    job = _create(client, tiny_lm_dir, "liked", "thumbs", method="kto", undesirable_weight=1.5)
    streamed, speeds = {}, []
    for event in client.watch_job(job.id):
        if event.WhichOneof("kind") == "metrics":
            streamed.update(event.metrics.extra)
        elif event.WhichOneof("kind") == "progress" and event.progress.phase == "training" and event.progress.step:
            speeds.append(event.progress.tokens_per_second)  # issue 27: tokens/s on the wire
    done = client.wait_job(job.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    assert {"kl", "reward_chosen", "reward_rejected", "reward_margin"} <= set(streamed), streamed
    assert speeds and all(s > 0 for s in speeds)
    assert job_result(done).num_tokens == streamed["num_tokens"] and job_result(done).tokens_per_second > 0
    result = job_result(done)
    assert (result.method, result.variant) == (trainer_pb2.TrainingConfig.METHOD_KTO, "lora")
    assert result.config.undesirable_weight == 1.5 and result.config.desirable_weight == 1.0
    assert result.registration.state == Registration.STATE_REGISTERED, result.registration.message
    assert client.registry.get_adapter(name="liked").job_id == job.id
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_lm_dir)), result.adapter_dir)


def test_kto_data_is_refused_for_sft_and_chats_for_kto_before_queueing(client, tiny_lm_dir, tmp_path):
    _kto_dataset(client, tmp_path, "thumbs", 4)
    make_dataset(client, tmp_path, "chats", 4)
    with pytest.raises(InvalidArgument) as sft:
        _create(client, tiny_lm_dir, "wrong", "thumbs", method="lora")
    assert sft.value.reason == "DATASET_METHOD_MISMATCH" and "method=kto" in sft.value.message
    with pytest.raises(InvalidArgument) as kto:
        _create(client, tiny_lm_dir, "wrong", "chats", method="kto")
    assert kto.value.reason == "DATASET_METHOD_MISMATCH" and "labelled true/false" in kto.value.message
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_cli_train_start_with_method_kto_on_chats_says_why_it_is_refused(server, client, tiny_lm_dir,
                                                                           tmp_path):
    from test_trainer_cli import cli

    make_dataset(client, tmp_path, "chats", 4)
    run = cli(server.target, "start", "--dataset", "chats", "--base-model", str(tiny_lm_dir),
              "--set", "method=kto", "--set", "batch_size=2", "--name", "x")
    assert run.returncode == 3 and "method=kto" in run.stderr and "labelled" in run.stderr, run.stderr


def test_plan_of_a_kto_job_warms_up_on_its_labelled_answers(client, tiny_lm_dir, tmp_path):
    _kto_dataset(client, tmp_path, "thumbs", 16)
    plan = client.trainer.plan_training(dataset="thumbs", base_model=str(tiny_lm_dir),
                                        config={**FAST, "method": "kto"}, warmup="WARMUP_RUN",
                                        warmup_batches=3, timeout=SLOW)
    assert plan.fits and plan.config.method == trainer_pb2.TrainingConfig.METHOD_KTO
    assert plan.time.measured and plan.time.seconds_per_batch > 0, plan.time.note
