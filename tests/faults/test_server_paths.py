"""Paths a client names stay under the data root (or the operator's ``allowed_paths``):
no ``..`` out, no absolute paths elsewhere, no symbolic links out, and refusals that do not
tell whether an arbitrary path exists. Adapter archives unpack to no more than they declare
and keep only the files a PEFT adapter uses."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import grpc
import pytest

from tuneforge.client import Client, FailedPrecondition, InvalidArgument, ResourceExhausted, TuneforgeClientError

sys.path.insert(0, str(Path(__file__).parent.parent / "registry"))
from registry_helpers import make_adapter  # noqa: E402


def echo_as_p(text: str, raw: str) -> str:
    """``text`` with the client's path (as sent, or cut to its name: statuses show no
    absolute server path) replaced by P."""
    for shown in (raw, Path(raw).name):
        text = text.replace(repr(shown), "P").replace(shown, "P")
    return text


@pytest.fixture
def strict(server_factory):
    """A server that lets requests name nothing outside its data root (the default)."""
    srv = server_factory(allowed_paths="")
    with Client(srv.target, timeout=60) as c:
        yield srv, c


def test_merge_output_dir_cannot_leave_the_data_root(strict):
    _, c = strict
    for raw in ("../../x", "/tmp/elsewhere", "merged/../../../x"):
        with pytest.raises(InvalidArgument) as err:
            c.trainer.merge_adapter(adapter_name="any", output_dir=raw)
        assert err.value.reason == "PATH_NOT_ALLOWED", raw
        assert err.value.field_violations[0].field == "output_dir"


def test_register_adapter_refuses_paths_outside_without_telling_whether_they_exist(strict, tmp_path):
    _, c = strict
    answers = []
    for raw in ("/etc", "/no/such/dir-7f3a", "../../../../etc"):
        with pytest.raises(InvalidArgument) as err:
            c.registry.register_adapter(name="x", path=raw)
        answers.append((err.value.reason, echo_as_p(err.value.field_violations[0].description, raw)))
    assert answers[0][0] == "PATH_NOT_ALLOWED"
    assert len(set(answers)) == 1, answers


def test_register_adapter_refuses_a_directory_with_a_link_out(strict):
    srv, c = strict
    src = make_adapter(srv.config.root / "incoming" / "linked")
    (src / "README.md").unlink()
    os.symlink("/etc/passwd", src / "README.md")
    with pytest.raises(InvalidArgument) as err:
        c.registry.register_adapter(name="linked", path=str(src))
    assert err.value.reason == "PATH_NOT_ALLOWED" and "README.md" in err.value.field_violations[0].description
    assert c.registry.list_adapters().total_size == 0


def test_allowed_paths_opens_a_directory_and_only_adapter_files_are_copied(server_factory, tmp_path):
    incoming = tmp_path / "incoming"
    srv = server_factory(allowed_paths=str(incoming))
    src = make_adapter(incoming / "ok")
    (src / "training_args.bin").write_bytes(b"pickle")
    (src / "notes.txt").write_text("private")
    with Client(srv.target, timeout=60) as c:
        adapter = c.registry.register_adapter(name="ok", path=str(src))
    assert sorted(os.listdir(adapter.path)) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]


def test_generate_dataset_server_paths_are_confined(strict):
    _, c = strict
    with pytest.raises(InvalidArgument) as err:
        c.dataset.generate_dataset(dataset_name="g", docs_dir="/etc")
    assert err.value.reason == "PATH_NOT_ALLOWED" and err.value.field_violations[0].field == "docs_dir"
    assert c.jobs.list_jobs(service="dataset").total_size == 0


def test_base_model_errors_do_not_tell_whether_a_path_exists(strict, tmp_path):
    srv, c = strict
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n")
    c.dataset.import_dataset(upload_id=c.upload_file("dataset", data).id, dataset_name="d")
    answers = []
    for raw in ("/etc", "/no/such/model-7f3a", str(tmp_path)):
        with pytest.raises(FailedPrecondition) as err:
            c.trainer.create_training_job(dataset="d", base_model=raw, adapter_name="a")
        answers.append((err.value.reason, echo_as_p(err.value.field_violations[0].description, raw)))
    assert answers[0][0] == "MODEL_NOT_AVAILABLE"
    assert len(set(answers)) == 1, answers


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]], pax: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if pax:
                info.pax_headers = pax
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _adapter_entries(tmp_path: Path, extra: dict[str, bytes] | None = None) -> list[tuple[tarfile.TarInfo, bytes]]:
    src = make_adapter(tmp_path / "a")
    files = {p.name: p.read_bytes() for p in src.iterdir()} | (extra or {})
    return [(tarfile.TarInfo(f"adapter/{name}"), data) for name, data in files.items()]


def test_an_archive_that_unpacks_to_more_than_it_declares_is_refused(server, client, tmp_path):
    archive = tmp_path / "bomb.tgz"
    archive.write_bytes(_tar(_adapter_entries(tmp_path), pax={"comment": "x" * (12 * 1024 * 1024)}))
    with pytest.raises(ResourceExhausted) as err:
        client.import_adapter_archive(archive, name="bomb")
    assert err.value.reason == "ARCHIVE_TOO_LARGE"
    assert client.registry.list_adapters().total_size == 0


def test_an_imported_archive_keeps_only_the_files_an_adapter_uses(server, client, tmp_path):
    archive = tmp_path / "extra.tgz"
    archive.write_bytes(_tar(_adapter_entries(tmp_path, {"big.bin": b"\0" * 100_000, "run.sh": b"#!/bin/sh\n"})))
    adapter = client.import_adapter_archive(archive, name="extra")
    assert sorted(os.listdir(adapter.path)) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]


def test_the_security_doc_lists_every_request_field_that_reaches_a_server_path():
    import importlib

    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    table = text.split("## Paths in requests", 1)[1]
    missing = []
    for svc in ("dataset", "trainer", "tts", "registry"):
        module = importlib.import_module(f"tuneforge.{svc}.v1.{svc}_pb2")
        for name, message in module.DESCRIPTOR.message_types_by_name.items():
            if not name.endswith("Request"):
                continue
            for field in message.fields:
                if field.name in ("path", "base_model", "output_dir", "resume_from") or field.name.endswith(("_dir", "_file")):
                    if f"`{field.name}`" not in table:
                        missing.append(f"{name}.{field.name}")
    assert not missing, f"docs/security.md does not list {missing}"


def refused_merge_into_a_taken_dir(srv):
    taken = srv.config.root / "merged" / "taken"
    taken.mkdir(parents=True)
    (taken / "model.safetensors").write_bytes(b"x")
    with Client(srv.target, timeout=60) as c:
        with pytest.raises(TuneforgeClientError) as err:
            # named by its absolute path, as a client on the server's host may: the refusal
            # quotes what was sent, so the data root's prefix must be hidden from the client
            c.trainer.merge_adapter(adapter_name="taken", output_dir=str(taken.resolve()))
    e = err.value
    return " | ".join([e.message, *(v.description for v in e.field_violations), *e.metadata.values()])


def test_a_refusal_names_paths_under_the_data_root_relative_to_it(server_factory):
    srv = server_factory()
    text = refused_merge_into_a_taken_dir(srv)
    root = srv.config.root.absolute()
    assert str(root) not in text and str(root.resolve()) not in text, text
    assert "merged/taken" in text, text  # what the client named, relative to the data root


def test_a_status_writes_the_data_root_as_a_placeholder_and_other_absolute_paths_as_names(tmp_path):
    from tuneforge.client.errors import from_rpc_error
    from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError
    from tuneforge.runtime.grpc_errors import to_status

    root = tmp_path / "var"
    error = TuneforgeError(Code.FAILED_PRECONDITION, "X", f"cannot write {root}/merged/a: see /opt/secret/models/b.",
                           [FieldViolation("output_dir", f"{root}/merged/a exists")], {"path": f"{root}/merged/a"})
    status = to_status(error, root)

    class Call(grpc.RpcError):  # what a client sees: the status and its trailers
        def code(self):
            return status.code

        def details(self):
            return status.details

        def trailing_metadata(self):
            return status.trailing_metadata

    seen = from_rpc_error(Call())
    assert seen.message == "cannot write <data root>/merged/a: see b."
    assert seen.field_violations[0].description == "<data root>/merged/a exists"
    assert seen.metadata == {"path": "<data root>/merged/a"}


def test_the_server_log_keeps_the_full_path_a_refusal_hides(server_factory, capfd, json_logs):
    srv = server_factory()
    refused_merge_into_a_taken_dir(srv)
    full = str(srv.config.root.resolve() / "merged" / "taken")
    logged, deadline = "", time.monotonic() + 30
    while full not in logged and time.monotonic() < deadline:  # the server thread logs once the call ends
        logged += capfd.readouterr().err
        time.sleep(0.05)
    assert any(full in line and "MergeAdapter" in line for line in logged.splitlines()), logged[-2000:]
