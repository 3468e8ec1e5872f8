"""The model catalog over gRPC: exported models registered beside their adapter, listed and
downloaded with a checksum. (The export job that registers them: tests/trainer/test_export_grpc.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from tuneforge.client import FailedPrecondition, InvalidArgument, NotFound, TuneforgeClientError
from tuneforge.registry.v1 import registry_pb2 as pb

from tuneforge.runtime.checksums import write_checksums

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL

GGUF = pb.EXPORT_FORMAT_GGUF


def export_dir(root: Path, name: str, payload: bytes = b"GGUF" + bytes(range(256)) * 64) -> Path:
    out = root / "models" / name
    out.mkdir(parents=True)
    (out / f"{name}.gguf").write_bytes(payload)
    (out / "Modelfile").write_text(f"FROM ./{name}.gguf\n")
    write_checksums(out)
    return out


def register(client, path: Path, **kw):
    fields = dict(adapter_name="chats", format=GGUF, quant="q8_0", path=str(path),
                  primary_file=f"{path.name}.gguf", base_model="tiny", architecture="Qwen2ForCausalLM")
    return client.registry.register_model(**{**fields, **kw})


def test_registered_export_is_listed_as_a_model_version_with_file_checksums(server, client):
    model = register(client, export_dir(server.config.root, "a"))
    assert (model.id, model.version, model.format) == ("chats-gguf-q8_0-v1", 1, GGUF)
    assert [f.name for f in model.files] == ["Modelfile", "a.gguf", "SHA256SUMS"]
    again = register(client, export_dir(server.config.root, "b"), primary_file="b.gguf")
    assert again.version == 2
    listed = client.registry.list_models(adapter_name="chats")
    assert [m.id for m in listed.models] == ["chats-gguf-q8_0-v2", "chats-gguf-q8_0-v1"]
    assert client.registry.list_models(adapter_name="other").total_size == 0
    assert client.registry.get_model(id=model.id).path == model.path


def test_download_model_streams_the_primary_file_and_its_sha256_verifies(server, client, tmp_path):
    model = register(client, export_dir(server.config.root, "a"))
    out = client.download(client.registry.download_model(id=model.id), tmp_path / "got.gguf")
    assert out.read_bytes() == (Path(model.path) / "a.gguf").read_bytes()
    modelfile = client.download(client.registry.download_model(id=model.id, file="Modelfile"), tmp_path / "Modelfile")
    assert modelfile.read_text() == "FROM ./a.gguf\n"


def test_register_model_with_the_same_request_id_returns_the_first_registration(server, client):
    first = register(client, export_dir(server.config.root, "a"), request_id="job-1")
    again = register(client, export_dir(server.config.root, "b"), request_id="job-1")
    assert again.id == first.id and client.registry.list_models().total_size == 1


def test_register_model_outside_the_models_directory_is_refused(server, client, tmp_path):
    outside = export_dir(tmp_path, "x")
    with pytest.raises(InvalidArgument) as info:
        register(client, outside)
    assert info.value.reason == "MODEL_PATH_OUTSIDE_DATA_ROOT"


def test_full_fine_tune_is_taken_from_the_adapters_directory_and_an_export_from_there_is_not(server, client):
    final = server.config.root / "adapters" / "whole" / "final"
    final.mkdir(parents=True)
    (final / "model.safetensors").write_bytes(b"weights")
    write_checksums(final)
    model = register(client, final, format=pb.EXPORT_FORMAT_FULL, quant="auto", primary_file="")
    assert (model.id, model.format, model.path) == ("chats-full-auto-v1", pb.EXPORT_FORMAT_FULL, str(final.resolve()))
    with pytest.raises(InvalidArgument) as info:
        register(client, final, primary_file="")
    assert info.value.reason == "MODEL_PATH_OUTSIDE_DATA_ROOT"


def test_register_model_whose_files_do_not_match_sha256sums_is_refused(server, client):
    path = export_dir(server.config.root, "a")
    (path / "a.gguf").write_bytes(b"something else")
    with pytest.raises(InvalidArgument) as info:
        register(client, path)
    assert info.value.reason == "MODEL_CHECKSUM_MISMATCH"
    assert client.registry.list_models().total_size == 0


def test_register_model_without_a_format_names_the_field(server, client):
    with pytest.raises(InvalidArgument) as info:
        register(client, export_dir(server.config.root, "a"), format=pb.EXPORT_FORMAT_UNSPECIFIED)
    assert info.value.field_violations[0].field == "format"


def test_download_of_a_file_changed_after_registration_fails_or_does_not_verify(server, client, tmp_path):
    model = register(client, export_dir(server.config.root, "a"))
    gguf = Path(model.path) / "a.gguf"
    gguf.write_bytes(b"x" + gguf.read_bytes()[1:])  # same size, other bytes
    with pytest.raises(TuneforgeClientError) as info:
        client.download(client.registry.download_model(id=model.id), tmp_path / "got.gguf")
    assert info.value.reason == "CHECKSUM_MISMATCH" and not (tmp_path / "got.gguf").exists()
    gguf.write_bytes(b"short")
    with pytest.raises(FailedPrecondition) as info:
        client.download(client.registry.download_model(id=model.id), tmp_path / "got.gguf")
    assert info.value.reason == "MODEL_FILE_CHANGED"


def test_unknown_model_and_unknown_file_are_not_found_and_invalid(server, client, tmp_path):
    with pytest.raises(NotFound):
        client.registry.get_model(id="nope-gguf-f16-v1")
    model = register(client, export_dir(server.config.root, "a"))
    with pytest.raises(InvalidArgument) as info:
        client.download(client.registry.download_model(id=model.id, file="../state.db"), tmp_path / "x")
    assert info.value.field_violations[0].field == "file"
