"""tuneforge.jobs.v1.JobService: one place for every kind of job, typed params and results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from tuneforge.client import Client, InvalidArgument, NotFound, job_params, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.runtime.job_rpcs import to_message
from tuneforge.runtime.jobs import JobKind
from tuneforge.testing.server import ServerThread
from tuneforge.trainer.v1 import trainer_pb2
from tuneforge.tts.v1 import tts_pb2

WORKER = Path(__file__).with_name("worker_script.py")
State = common_pb2.Job


def add_kind(srv, name, service, params_type=None, result_type=tts_pb2.TtsTrainingJobResult):
    srv.engine.register_kind(JobKind(
        name=name, service=service, params_type=params_type, result_type=result_type,
        command=lambda job: [sys.executable, str(WORKER), "--spec", str(job.spec_path)],
    ))


def test_list_jobs_filters_by_service_kind_and_state(server, client):
    add_kind(server, "t-data", "dataset")
    add_kind(server, "t-train", "trainer")
    done = server.call(server.engine.create("t-data", {"steps": 0}))
    client.wait_job(done.id)
    server.call(server.engine.create("t-train", {"steps": 0}))
    assert client.jobs.list_jobs().total_size == 2
    assert [j.id for j in client.jobs.list_jobs(service="dataset").jobs] == [done.id]
    assert [j.service for j in client.jobs.list_jobs(kind="t-train").jobs] == ["trainer"]
    succeeded = client.jobs.list_jobs(state=State.STATE_SUCCEEDED).jobs
    assert done.id in [j.id for j in succeeded] and all(j.state == State.STATE_SUCCEEDED for j in succeeded)


def test_list_jobs_refuses_a_service_not_hosted_here(client):
    with pytest.raises(InvalidArgument) as err:
        client.jobs.list_jobs(service="nope")
    assert err.value.field_violations[0].field == "service"


def test_a_page_token_is_bound_to_its_filters(server, client):
    add_kind(server, "t-data", "dataset")
    for _ in range(3):
        server.call(server.engine.create("t-data", {"steps": 0}))
    first = client.jobs.list_jobs(page_size=2)
    with pytest.raises(InvalidArgument):
        client.jobs.list_jobs(page_size=2, kind="t-data", page_token=first.next_page_token)


def test_a_job_of_a_service_hosted_elsewhere_is_not_found(server_factory, tmp_path):
    root = tmp_path / "shared"
    dataset = server_factory(root, services=("dataset",))
    add_kind(dataset, "t-data", "dataset")
    job = dataset.call(dataset.engine.create("t-data", {"steps": 0}))
    with ServerThread(root, services=("registry",)) as registry, Client(registry.target) as c:
        with pytest.raises(NotFound):
            c.jobs.get_job(id=job.id)
        assert c.jobs.list_jobs().total_size == 0


def test_wire_job_packs_typed_params_and_result_and_names_its_service(server, client):
    add_kind(server, "t-data", "dataset", params_type=tts_pb2.TtsTrainingJobResult)
    job = server.call(server.engine.create("t-data", {"steps": 2, "internal_path": "/x"}))
    final = client.wait_job(job.id)
    assert final.service == "dataset"
    assert job_params(final).steps == 2  # unknown keys (internal paths) are dropped
    result = job_result(final)
    assert isinstance(result, tts_pb2.TtsTrainingJobResult) and result.steps == 2


def test_a_kind_without_types_sends_empty_params_and_result(server, client):
    add_kind(server, "t-untyped", "dataset", result_type=None)
    final = client.wait_job(server.call(server.engine.create("t-untyped", {"steps": 1})).id)
    assert final.state == State.STATE_SUCCEEDED
    assert job_params(final) is None and job_result(final) is None


def test_cancel_metrics_and_checkpoints_go_through_the_job_service(server, client):
    add_kind(server, "t-data", "dataset")
    job = server.call(server.engine.create("t-data", {"steps": 3}))
    final = client.wait_job(job.id)
    assert [m.step for m in client.jobs.list_job_metrics(id=job.id).metrics] == [1, 2, 3]
    points = client.jobs.list_job_checkpoints(id=job.id).checkpoints
    assert points and points[-1].path == final.last_checkpoint
    with pytest.raises(Exception) as err:  # noqa: PT011 - the typed error is FailedPrecondition
        client.jobs.cancel_job(id=job.id)
    assert err.value.reason == "JOB_FINISHED"


# ------------------------------------------------------------ stored dict -> typed message
# One row per job kind: what its worker reports (abridged) and what the client reads.
RESULTS = [
    (trainer_pb2.TrainingJobResult,
     {"global_step": 8, "precision": "fp32", "train_loss": 1.5, "eval_loss": None, "config": {"target_modules": "all-linear", "precision": "auto"},
      "registration": {"state": "PENDING", "attempts": 2}, "stopped": False, "checkpoint": None},
     lambda r: (r.global_step == 8 and r.precision == trainer_pb2.TrainingConfig.PRECISION_FP32 and not r.HasField("eval_loss")
                and list(r.config.target_modules) == ["all-linear"] and r.registration.state == trainer_pb2.Registration.STATE_PENDING)),
    (trainer_pb2.MergeJobResult, {"output_dir": "/m", "parameters": 12345, "size_bytes": 9},
     lambda r: r.parameters == 12345),
    (trainer_pb2.ExportJobResult,
     {"output_dir": "/x", "format": "gguf-lora", "quant": "f16", "files": ["a.gguf", "SHA256SUMS"], "size_bytes": 7,
      "calibration_samples": 0, "registration": {"state": "REGISTERED", "attempts": 1, "name": "a-gguf-lora-f16-v1", "version": 1}},
     lambda r: r.format == registry_pb2.EXPORT_FORMAT_GGUF_LORA and list(r.files) == ["a.gguf", "SHA256SUMS"]
                and r.registration.name == "a-gguf-lora-f16-v1"),
    (trainer_pb2.EvaluationJobResult,
     {"report": {"adapter_name": "bob", "adapter_version": 2, "create_time": "2026-12-01T15:09:03.709Z",
                 "base": {"eval_loss": 7.3, "style_score": 0.1}, "adapter": {"eval_loss": 6.1, "style_score": 0.9},
                 "samples": [{"messages": [{"role": "user", "content": "hi"}], "reference": "hey",
                              "base": "", "adapter": "hey", "base_stopped": False, "adapter_stopped": True}],
                 "settings": {"samples": 1, "max_new_tokens": 64, "seed": 0, "greedy": True}},
      "recorded": True, "record_message": ""},
     lambda r: r.report.adapter.style_score == 0.9 and r.report.samples[0].messages[0].role == "user" and r.recorded),
    (trainer_pb2.ChatJobResult,
     {"replies": [{"side": "base", "text": "a", "tokens": 3, "stopped": False, "finish_reason": "length"},
                  {"side": "adapter", "text": "b", "tokens": 2, "stopped": True, "finish_reason": "stop"}]},
     lambda r: [x.side for x in r.replies] == [trainer_pb2.CHAT_SIDE_BASE, trainer_pb2.CHAT_SIDE_ADAPTER]),
    (trainer_pb2.WarmupJobResult,
     {"stopped": False, "time": {"measured": True, "note": "n", "total_steps": 36, "warmup_batches": 8, "timed_batches": 7,
                                 "seconds_per_step": 0.845, "load_seconds": 9.0, "estimated_seconds": 39.4,
                                 "tokens_per_second": 2100.5, "measured_peak_bytes": 635310080, "device": "cpu"}},
     lambda r: r.time.measured and r.time.total_steps == 36 and r.time.measured_peak_bytes == 635310080),
    (dataset_pb2.TelegramJobResult,
     {"dataset": {"name": "d", "record_count": 3, "create_time": "2026-12-01T10:00:00+00:00", "report": {"x": 1}},
      "report": {"messages_dropped": {"service": 2}, "balance": 0.5}},
     lambda r: r.dataset.name == "d" and r.report.messages_dropped["service"] == 2 and r.dataset.create_time.seconds > 0),
    (dataset_pb2.GenerateJobResult, {"dataset": {"name": "g"}, "report": {"records_by_source": {"docs": 2}, "file_errors": ["a: bad"]}},
     lambda r: r.report.records_by_source["docs"] == 2 and list(r.report.file_errors) == ["a: bad"]),
    (tts_pb2.TranscribeJobResult,
     {"model": "/w", "transcribed": [{"name": "a.wav", "text": "hi", "language": "en", "duration_seconds": 1.5}],
      "skipped": [{"name": "b.wav", "reason": "TOO_SHORT", "detail": "0.2 s"}], "stopped": False},
     lambda r: r.transcribed[0].text == "hi" and r.skipped[0].reason == "TOO_SHORT"),
    (tts_pb2.PrepareJobResult, {"clips": 4, "skipped": [{"line": 3, "reason": "INVALID_JSON", "detail": "x"}], "frame_rate": 12.5},
     lambda r: r.clips == 4 and r.skipped[0].line == 3),
    (tts_pb2.TtsTrainingJobResult, {"checkpoints": ["checkpoint-epoch-1"], "final_loss": None, "steps": 4},
     lambda r: list(r.checkpoints) == ["checkpoint-epoch-1"] and not r.HasField("final_loss")),
    (tts_pb2.SynthesizeJobResult, {"path": "/p.wav", "sample_rate": 24000, "duration_seconds": 1.2},
     lambda r: r.sample_rate == 24000),
]


@pytest.mark.parametrize(("cls", "stored", "check"), RESULTS, ids=[r[0].__name__ for r in RESULTS])
def test_a_stored_result_converts_to_its_typed_message(cls, stored, check):
    assert check(to_message(stored, cls))


def test_a_stored_value_of_the_wrong_type_is_an_error_not_a_guess():
    with pytest.raises(json_format.ParseError):
        to_message({"global_step": "many"}, trainer_pb2.TrainingJobResult)
