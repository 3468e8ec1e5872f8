"""The SDK has real signatures (generated wrappers) and leaves retries to the channel."""

from __future__ import annotations

import inspect
import json

from tuneforge.client import AsyncClient, Client
from tuneforge.client.client import service_config


def test_methods_have_the_request_fields_as_keywords_and_the_response_as_return_type():
    with Client("127.0.0.1:1") as tf:
        sig = inspect.signature(tf.trainer.create_training_job)
        watch = inspect.signature(tf.jobs.watch_job).return_annotation
    assert {"dataset", "base_model", "config", "request_id", "timeout"} <= set(sig.parameters)
    assert sig.parameters["config"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "TrainingConfig" in str(sig.parameters["config"].annotation)
    assert sig.return_annotation == "common_pb2.Job"
    assert watch == "Iterator[common_pb2.JobEvent]"


async def test_async_methods_say_they_are_awaitable():
    async with AsyncClient("127.0.0.1:1") as tf:
        returns = inspect.signature(tf.jobs.get_job).return_annotation
    assert returns == "Awaitable[common_pb2.Job]"


def test_reads_are_retried_by_the_channel_and_creates_are_not():
    config = json.loads(service_config(3))["methodConfig"][0]
    names = {(n["service"].rsplit(".", 1)[-1], n["method"]) for n in config["name"]}
    assert ("JobService", "GetJob") in names and ("DatasetService", "GetDataset") in names
    assert ("TrainerService", "CreateTrainingJob") not in names and ("JobService", "CancelJob") not in names
    assert config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
