"""The shared server runtime: health, reflection, rich errors, uploads, auth, config, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tuneforge.client import Client, InvalidArgument, ResourceExhausted, Unauthenticated
from tuneforge.common.v1 import common_pb2
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.runtime.config import load_config
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.names import confined, validate_name
from tuneforge.runtime.server import check_bind_policy

REPO = Path(__file__).resolve().parents[2]
SERVICES = [
    "tuneforge.dataset.v1.DatasetService",
    "tuneforge.trainer.v1.TrainerService",
    "tuneforge.tts.v1.TtsService",
    "tuneforge.registry.v1.RegistryService",
]


def test_health_reports_serving_for_every_service(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ["", *SERVICES]:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING, name


def test_reflection_lists_the_four_services_and_resolves_their_methods(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = list(stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="tuneforge.trainer.v1.TrainerService"),
        ]), timeout=5))
    names = {s.name for s in responses[0].list_services_response.service}
    assert set(SERVICES) <= names and "grpc.health.v1.Health" in names
    assert responses[1].file_descriptor_response.file_descriptor_proto


def test_health_goes_not_serving_on_shutdown(server_factory):
    srv = server_factory()
    srv.call(srv.server.health.set("", health_pb2.HealthCheckResponse.SERVING))
    srv.stop()
    with grpc.insecure_channel(srv.target) as channel:
        with pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)


def test_unknown_method_answers_unimplemented_and_the_server_keeps_serving(server, client):
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary("/tuneforge.dataset.v1.DatasetService/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=5)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert client.jobs.list_jobs().total_size == 0


def _upload(client, data: bytes, filename="data.jsonl", size=None, sha=None, chunks=None):
    def requests():
        yield dataset_pb2.UploadFileRequest(metadata=common_pb2.UploadMetadata(
            filename=filename, size_bytes=len(data) if size is None else size,
            sha256=hashlib.sha256(data).hexdigest() if sha is None else sha))
        for chunk in chunks or [data[i:i + 1000] for i in range(0, len(data), 1000)]:
            yield dataset_pb2.UploadFileRequest(chunk=chunk)
    return client.dataset.upload_file(requests())


def test_upload_is_stored_complete_with_its_checksum(server, client):
    data = b'{"messages": []}\n' * 500
    up = _upload(client, data)
    assert up.size_bytes == len(data) and up.sha256 == hashlib.sha256(data).hexdigest()
    stored = server.config.root / "uploads" / up.id / "data.jsonl"
    assert stored.read_bytes() == data


def test_oversize_upload_is_refused_and_leaves_nothing(server_factory, tmp_path):
    srv = server_factory(max_upload_bytes=10_000)
    with Client(srv.target) as client:
        with pytest.raises(ResourceExhausted) as err:
            _upload(client, b"x" * 20_000)  # announced size over the limit
        assert err.value.reason == "UPLOAD_TOO_LARGE"
        with pytest.raises(ResourceExhausted):
            _upload(client, b"x" * 20_000, size=0)  # size unannounced: caught while streaming
        uploads = srv.config.root / "uploads"
        assert [p for p in uploads.iterdir()] == []
        assert _upload(client, b"small").size_bytes == 5  # the server keeps serving


def test_upload_with_wrong_checksum_size_or_bad_name_is_invalid(server, client):
    with pytest.raises(InvalidArgument) as err:
        _upload(client, b"hello", sha="0" * 64)
    assert err.value.reason == "CHECKSUM_MISMATCH" and err.value.field_violations[0].field == "metadata.sha256"
    with pytest.raises(InvalidArgument) as err:
        _upload(client, b"hello", size=3)
    assert err.value.reason == "SIZE_MISMATCH"
    for bad in ["a\x00b.json", "..", "", "/"]:
        with pytest.raises(InvalidArgument) as err:
            _upload(client, b"hello", filename=bad)
        assert err.value.field_violations[0].field == "metadata.filename"
    with pytest.raises(InvalidArgument) as err:
        client.dataset.upload_file(iter([dataset_pb2.UploadFileRequest(chunk=b"no metadata first")]))
    assert err.value.reason == "MISSING_METADATA"
    assert list((server.config.root / "uploads").iterdir()) == []


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "/etc/passwd", "a\x00b", "", ".hidden", "x" * 200, "a..b"])
def test_names_that_could_escape_the_data_root_are_refused(bad):
    with pytest.raises(TuneforgeError) as err:
        validate_name(bad, "name")
    assert err.value.violations[0].field == "name"


def test_confined_refuses_links_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    assert confined(root, "datasets", "ok") == root.resolve() / "datasets" / "ok"
    with pytest.raises(TuneforgeError):
        confined(root, "out", "x")


def test_bearer_token_is_required_except_for_health(server_factory):
    srv = server_factory(auth_token="s3cret")
    with Client(srv.target) as anonymous:
        with pytest.raises(Unauthenticated):
            anonymous.jobs.list_jobs()
    with Client(srv.target, token="wrong") as wrong:
        with pytest.raises(Unauthenticated):
            wrong.jobs.list_jobs()
    with Client(srv.target, token="s3cret") as good:
        assert good.jobs.list_jobs().total_size == 0
    with grpc.insecure_channel(srv.target) as channel:
        assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1


def test_server_refuses_non_loopback_bind_without_token_or_tls():
    config, _ = load_config(overrides={"host": "0.0.0.0"}, environ={})
    with pytest.raises(TuneforgeError) as err:
        check_bind_policy(config)
    assert err.value.reason == "INSECURE_BIND"
    check_bind_policy(load_config(overrides={"host": "0.0.0.0", "auth_token": "t" * 16}, environ={})[0])
    check_bind_policy(load_config(overrides={"host": "127.0.0.1"}, environ={})[0])
    check_bind_policy(load_config(overrides={"host": "::1"}, environ={})[0])


def test_config_layers_defaults_file_and_environment(tmp_path):
    file = tmp_path / "tf.toml"
    file.write_text('port = 6000\n[vllm]\nmode = "hot"\nurl = "http://127.0.0.1:8000"\n')
    config, origin = load_config(file, environ={"TUNEFORGE_PORT": "7000", "TUNEFORGE_HOME": str(tmp_path / "home")})
    assert config.port == 7000 and origin["port"] == "env TUNEFORGE_PORT"
    assert config.vllm_mode == "hot" and origin["vllm_mode"] == str(file)
    assert config.data_root == str(tmp_path / "home")
    file.write_text('vllm_mode = "sideways"\n')
    with pytest.raises(TuneforgeError) as err:
        load_config(file, environ={})
    assert err.value.violations[0].field == "vllm_mode"
    file.write_text("no_such_key = 1\n")
    with pytest.raises(TuneforgeError):
        load_config(file, environ={})


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def test_cli_health_and_config_show(server):
    out = _cli("health", "--target", server.target, "--json")
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)["services"].values()) == {"SERVING"}
    out = _cli("config", "show", "--json", env={"TUNEFORGE_VLLM_MODE": "restart", "TUNEFORGE_AUTH_TOKEN": "hidden"})
    shown = json.loads(out.stdout)
    assert shown["vllm_mode"] == {"value": "restart", "source": "env TUNEFORGE_VLLM_MODE"}
    assert shown["auth_token"]["value"] == "***"
    down = _cli("health", "--target", "127.0.0.1:1", "--timeout", "2")
    assert down.returncode == 7 and "UNREACHABLE" in down.stdout


def test_generated_code_is_up_to_date():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


BUF = shutil.which("buf", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")


@pytest.mark.skipif(BUF is None, reason="buf (pip install buf-bin) not installed")
def test_protos_are_buf_lint_and_format_clean():
    lint = subprocess.run([BUF, "lint"], cwd=REPO / "protos", capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([BUF, "format", "--diff", "--exit-code"], cwd=REPO / "protos", capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout


def test_old_uploads_are_swept_except_those_a_pending_job_reads(tmp_path):
    import time as _time

    from tuneforge.runtime.transfer import sweep_uploads

    uploads = tmp_path / "uploads"
    for name in ("up-000000000001", "up-000000000002", "up-000000000003"):
        (uploads / name).mkdir(parents=True)
        (uploads / name / "data.jsonl").write_text("{}")
    (uploads / ".tmp-up-000000000004").write_text("half")
    old = _time.time() - 48 * 3600
    for entry in uploads.iterdir():
        os.utime(entry, (old, old))
    (uploads / "up-000000000003").touch()  # recent
    removed = sweep_uploads(uploads, 24 * 3600, keep={"up-000000000002"})
    assert removed == ["up-000000000001"]
    assert sorted(p.name for p in uploads.iterdir()) == ["up-000000000002", "up-000000000003"]


def test_server_refuses_a_short_token_for_a_non_loopback_bind():
    with pytest.raises(TuneforgeError) as err:
        check_bind_policy(load_config(overrides={"host": "0.0.0.0", "auth_token": "s3cret"}, environ={})[0])
    assert err.value.reason == "WEAK_TOKEN" and "16" in err.value.message
    check_bind_policy(load_config(overrides={"host": "127.0.0.1", "auth_token": "s3cret"}, environ={})[0])


def test_the_grpcurl_doc_states_the_real_message_cap():
    from pathlib import Path

    from tuneforge.runtime.server import MAX_MESSAGE_BYTES

    text = (Path(__file__).resolve().parents[2] / "docs" / "grpcurl.md").read_text()
    assert f"{MAX_MESSAGE_BYTES // 2**20} MiB" in text
    assert "4 MiB message cap" not in text


TOKEN = "a-long-enough-token_0123456789"


@pytest.mark.parametrize(("header", "ok"), [
    (f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True), (f"BEARER    {TOKEN}", True),
    (f"Bearer {TOKEN} extra", False), (f"Basic {TOKEN}", False),
    (f"Bearer{TOKEN}", False), ("Bearer", False), (f"Bearer {TOKEN[:-1]}", False),
])  # fmt: skip
def test_bearer_credentials_follow_rfc_6750(server_factory, header, ok):
    srv = server_factory(auth_token=TOKEN, services=("dataset",))
    from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc

    with grpc.insecure_channel(srv.target) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        try:
            stub.ListDatasets(dataset_pb2.ListDatasetsRequest(), metadata=[("authorization", header)], timeout=10)
            assert ok, header
        except grpc.RpcError as err:
            assert not ok and err.code() == grpc.StatusCode.UNAUTHENTICATED, header
            trailers = dict(err.trailing_metadata())
            assert trailers["www-authenticate"] == 'Bearer realm="tuneforge", error="invalid_token"'


def test_a_call_without_credentials_is_told_the_scheme(server_factory):
    srv = server_factory(auth_token=TOKEN, services=("dataset",))
    from tuneforge.dataset.v1 import dataset_pb2, dataset_pb2_grpc

    with grpc.insecure_channel(srv.target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            dataset_pb2_grpc.DatasetServiceStub(channel).ListDatasets(dataset_pb2.ListDatasetsRequest(), timeout=10)
    assert dict(err.value.trailing_metadata())["www-authenticate"] == 'Bearer realm="tuneforge"'


def test_a_token_a_client_cannot_send_as_a_bearer_token_is_refused():
    config, _ = load_config(overrides={"auth_token": "has space and !"}, environ={})
    with pytest.raises(TuneforgeError) as err:
        check_bind_policy(config)
    assert err.value.reason == "INVALID_TOKEN"


@pytest.mark.parametrize("method", ["/tuneforge.dataset.v1.DatasetService/ListDatasets", "/tuneforge.dataset.v1.DatasetService/UploadFile"])
def test_a_corrupt_protobuf_request_is_invalid_argument(server_factory, method):
    srv = server_factory(services=("dataset",))
    garbage = b"\x0a\xff\xff\xff\xff\xff\xff"  # field 1, length far past the end
    with grpc.insecure_channel(srv.target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            if method.endswith("UploadFile"):
                channel.stream_unary(method)(iter([garbage]), timeout=10)
            else:
                channel.unary_unary(method)(garbage, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "protobuf" in err.value.details()
