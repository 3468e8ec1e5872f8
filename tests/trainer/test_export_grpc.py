"""CreateExportJob through gRPC: a real server, a registered adapter, the real export worker;
the result lands in the registry's model catalog and downloads with a verified checksum."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from export_helpers import make_adapter
from trainer_helpers import make_dataset
from tuneforge.client import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted, job_params, job_result
from tuneforge.common.v1.common_pb2 import Job
from tuneforge.registry.v1 import registry_pb2 as rpb
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.testing.tiny_archs import cached_tiny_arch

GGUF, AWQ, MERGED = rpb.EXPORT_FORMAT_GGUF, rpb.EXPORT_FORMAT_AWQ, rpb.EXPORT_FORMAT_MERGED


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    return make_adapter(cached_tiny_arch("qwen2"), tmp_path_factory.mktemp("adapter") / "adapter")


@pytest.fixture
def registered(client, adapter_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 24)
    client.registry.register_adapter(name="bot", path=str(adapter_dir), dataset="chats",
                                     base_model=str(cached_tiny_arch("qwen2")))
    return client


REGISTERED, SKIPPED = trainer_pb2.Registration.STATE_REGISTERED, trainer_pb2.Registration.STATE_SKIPPED


def test_gguf_export_job_registers_a_model_version_that_downloads_with_its_checksum(registered, server, tmp_path):
    client = registered
    job = client.wait_job(client.trainer.create_export_job(adapter_name="bot", format=GGUF,
                                                                       quant="q8_0", request_id="exp-1").id)
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    result = job_result(job)
    assert result.registration.state == REGISTERED and result.format == GGUF
    model = client.registry.get_model(id=result.registration.name)
    assert (model.id, model.format, model.quant) == ("bot-gguf-q8_0-v1", GGUF, "q8_0")
    assert Path(model.path).parent == server.config.root / "models" / "bot"
    got = client.download(client.registry.download_model(id=model.id), tmp_path / "bot.gguf")
    assert got.read_bytes() == (Path(model.path) / "bot-q8_0.gguf").read_bytes()
    # issue 26: the llama.cpp serving check is stored beside the export and in the typed result
    assert {f.name for f in model.files} == {"bot-q8_0.gguf", "Modelfile", "SERVING_CHECK.json", "SHA256SUMS"}
    check = result.serving_check
    assert check.adapter_name == "bot" and check.adapter_version == 1 and check.HasField("parity"), check
    assert check.prompts == server.config.conformance_prompts and 0.0 <= check.stop_rate <= 1.0
    assert client.trainer.create_export_job(adapter_name="bot", format=GGUF, quant="q8_0", request_id="exp-1").id == job.id


def test_awq_export_job_calibrates_on_the_adapters_own_dataset(registered, server):
    client = registered
    job = client.wait_job(client.trainer.create_export_job(adapter_name="bot", format=AWQ,
                                                                       calibration_samples=8).id)
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    result = job_result(job)
    assert result.calibration_samples == 8 and result.registration.state == REGISTERED
    assert job_params(job).calibration_file.endswith("data.jsonl")  # the adapter's own dataset
    config = json.loads((Path(result.output_dir) / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "compressed-tensors"
    assert [m.id for m in client.registry.list_models(adapter_name="bot").models] == ["bot-awq-w4a16-v1"]


def test_export_outside_the_models_directory_is_written_but_not_catalogued(registered, tmp_path):
    client = registered
    out = tmp_path / "elsewhere"
    job = client.wait_job(client.trainer.create_export_job(adapter_name="bot", format=MERGED,
                                                                       output_dir=str(out)).id)
    assert job.state == Job.STATE_SUCCEEDED, job.error_message
    assert job_result(job).registration.state == SKIPPED
    assert (out / "model.safetensors").is_file() and client.registry.list_models().total_size == 0


def test_export_of_an_unknown_adapter_is_not_found(client):
    with pytest.raises(NotFound) as info:
        client.trainer.create_export_job(adapter_name="nope", format=GGUF)
    assert info.value.reason == "ADAPTER_NOT_FOUND"


@pytest.mark.parametrize(("kw", "field"), [({"format": rpb.EXPORT_FORMAT_UNSPECIFIED}, "format"),
                                           ({"format": GGUF, "quant": "w4a16"}, "quant"),
                                           ({"format": AWQ, "calibration_samples": 0}, "calibration_samples")])
def test_bad_export_requests_name_the_field_and_queue_nothing(registered, kw, field):
    client = registered
    with pytest.raises(InvalidArgument) as info:
        client.trainer.create_export_job(adapter_name="bot", **kw)
    assert info.value.field_violations[0].field == field
    assert client.jobs.list_jobs().total_size == 0


def test_export_of_an_unsupported_architecture_names_it(registered, tmp_path):
    base = tmp_path / "gpt2-like"
    shutil.copytree(cached_tiny_arch("qwen2"), base)
    cfg = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(FailedPrecondition) as info:
        registered.trainer.create_export_job(adapter_name="bot", format=GGUF, base_model=str(base))
    assert info.value.reason == "UNSUPPORTED_ARCHITECTURE" and "GPT2LMHeadModel" in str(info.value)


def test_export_whose_base_is_not_available_offline_fails_before_queuing(registered):
    with pytest.raises(FailedPrecondition) as info:
        registered.trainer.create_export_job(adapter_name="bot", format=GGUF, base_model="nobody/uncached")
    assert info.value.reason == "MODEL_NOT_AVAILABLE"


def test_awq_export_of_an_adapter_whose_dataset_is_gone_says_so(client, adapter_dir):
    client.registry.register_adapter(name="orphan", path=str(adapter_dir), dataset="deleted",
                                     base_model=str(cached_tiny_arch("qwen2")))
    with pytest.raises(FailedPrecondition) as info:
        client.trainer.create_export_job(adapter_name="orphan", format=AWQ)
    assert info.value.reason == "CALIBRATION_DATA_MISSING"


def test_export_without_the_disk_space_it_needs_is_resource_exhausted(server_factory, adapter_dir):
    from tuneforge.client import Client

    srv = server_factory(export_reserve_bytes=10**18)
    with Client(srv.target, timeout=30) as client:
        client.registry.register_adapter(name="bot", path=str(adapter_dir), base_model=str(cached_tiny_arch("qwen2")))
        with pytest.raises(ResourceExhausted) as info:
            client.trainer.create_export_job(adapter_name="bot", format=GGUF)
    assert info.value.reason == "DISK_FULL"


def test_export_into_a_non_empty_directory_is_refused(registered, server):
    out = server.config.root / "models" / "taken"
    out.mkdir(parents=True)
    (out / "x").write_text("x")
    with pytest.raises(Exception) as info:
        registered.trainer.create_export_job(adapter_name="bot", format=GGUF, output_dir="taken")
    assert info.value.reason == "OUTPUT_EXISTS"
