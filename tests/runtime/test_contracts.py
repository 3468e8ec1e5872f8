"""The v1 contracts hold their shape: no breaking change against the committed baseline, no
untyped maps or Structs, a request_id on every create."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.jobs.v1 import jobs_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2
from tuneforge.tts.v1 import tts_pb2

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "protos"
BASELINE = PROTOS / "baseline" / "v1.binpb"
BUF = shutil.which("buf", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
FILES = (dataset_pb2, jobs_pb2, registry_pb2, trainer_pb2, tts_pb2)
# Creates that do not return a Job (uploads carry their request_id in UploadMetadata).
OTHER_CREATES = {"ImportDataset", "RegisterAdapter"}
STREAMED_CREATES = {"UploadFile", "UploadVoiceSample", "ImportAdapter"}


@pytest.mark.skipif(BUF is None, reason="buf (pip install buf-bin) not installed")
def test_protos_make_no_breaking_change_against_the_v1_baseline():
    out = subprocess.run([BUF, "breaking", "--against", str(BASELINE.relative_to(PROTOS))], cwd=PROTOS,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_struct_or_untyped_settings_map_in_the_protos():
    for proto in PROTOS.rglob("*.proto"):
        text = proto.read_text(encoding="utf-8")
        assert "google.protobuf.Struct" not in text and "struct.proto" not in text, proto
        assert "map<string, string>" not in text or proto.name == "trainer.proto", proto


def test_the_only_string_map_is_help_text():
    maps = [(m.full_name, f.name) for m in trainer_pb2.DESCRIPTOR.message_types_by_name.values() for f in m.fields
            if f.message_type is not None and f.message_type.GetOptions().map_entry
            and f.message_type.fields_by_name["value"].type == f.TYPE_STRING]  # fmt: skip
    assert maps == [("tuneforge.trainer.v1.TrainingConfigInfo", "help")]


def _methods():
    for module in FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            yield from service.methods


def test_every_rpc_that_creates_something_takes_a_request_id():
    missing = []
    for method in _methods():
        creates = method.output_type.full_name == "tuneforge.common.v1.Job" and method.containing_service.name != "JobService"
        if (creates or method.name in OTHER_CREATES) and "request_id" not in method.input_type.fields_by_name:
            missing.append(method.full_name)
    assert not missing


def test_streamed_creates_carry_the_request_id_in_their_upload_metadata():
    from tuneforge.common.v1 import common_pb2

    assert "request_id" in common_pb2.UploadMetadata.DESCRIPTOR.fields_by_name
    found = {m.name for m in _methods() if m.client_streaming}
    assert found == STREAMED_CREATES


def test_jobs_are_served_only_by_the_job_service():
    job_rpcs = [m.full_name for m in _methods() if m.containing_service.name != "JobService"
                and (m.output_type.full_name == "tuneforge.common.v1.JobEvent" or m.name.endswith(("Job", "Jobs"))
                     and not m.name.startswith("Create"))]  # fmt: skip
    assert job_rpcs == []
