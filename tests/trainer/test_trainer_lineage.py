"""A trained adapter records the dataset version it learned from (set by the trainer at
registration), and `forget --retrain` queues that job's config on the new version (issue 25
items 6 and 7). One tiny training run on the CPU."""

from __future__ import annotations

import contextlib

import pytest
from trainer_helpers import FAST_TYPED as FAST

from tests.dataset.test_dataset_forget import write_export
from tuneforge.client import FailedPrecondition, job_params
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

Job = common_pb2.Job


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def test_trained_adapter_records_its_dataset_version_and_forget_retrain_reuses_its_config(
        client, tiny_lm_dir, tmp_path):
    up = client.upload_file("dataset", write_export(tmp_path / "result.json"))
    made = client.wait_job(client.dataset.process_telegram_export(
        upload_id=up.id, dataset_name="chats",
        config={"owner_name": "Olga Owner", "include_groups": True, "no_validation_split": True}).id)
    assert made.state == Job.STATE_SUCCEEDED, made.error_message
    v1 = client.dataset.get_dataset(name="chats")

    job = client.trainer.create_training_job(dataset="chats", base_model=str(tiny_lm_dir), preset="quick",
                                             adapter_name="bot", config=FAST)
    done = client.wait_job(job.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    adapter = client.registry.get_adapter(name="bot")
    assert (adapter.dataset, adapter.dataset_version, adapter.dataset_sha256) == ("chats", 1, v1.sha256)

    outcome = client.forget_contact("chats", "user501", retrain=True)
    assert [(e.adapter_name, e.version, e.job_id) for e in outcome.retract.marked] == [("bot", 1, job.id)]
    ((replaced, retrain),) = outcome.retrain_jobs
    try:
        params = job_params(retrain, trainer_pb2.TrainingJobParams)
        assert replaced == "bot" and params.adapter_name == "bot-ds2" and params.dataset_name == "chats"
        assert params.config == job_params(done, trainer_pb2.TrainingJobParams).config
        assert client.dataset.get_dataset(name="chats").version == 2
    finally:  # the retraining itself is not what this test is about
        with contextlib.suppress(FailedPrecondition):
            client.jobs.cancel_job(id=retrain.id)
        client.wait_job(retrain.id)
