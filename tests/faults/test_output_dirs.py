"""An output directory a client names (MergeAdapter, CreateExportJob) can never land on the
service's own files: ``state.db`` and its journals, ``adapters/.active``, ``jobs/``, the data
root itself. Inside the data root a merge goes only under ``merged/``, an export only under
``models/`` (elsewhere: ``allowed_paths``). Round 3 found ``output_dir=state.db-journal``
accepted — the merge wrote a directory there and the next server start failed with
``sqlite3.OperationalError: disk I/O error`` — and ``adapters/.active`` turning activation
INTERNAL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneforge.client import Client, InvalidArgument
from tuneforge.registry.v1 import registry_pb2 as rpb
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.paths import RESERVED, confine_output

sys.path.insert(0, str(Path(__file__).parent.parent / "registry"))
from registry_helpers import make_adapter  # noqa: E402

MERGE_SHAPES = ("state.db-journal", "state.db", "state.db-wal", "state.db-shm", "adapters/.active",
                "adapters/.serving", "adapters/bot", "adapters", "jobs", "datasets/x", "uploads", "locks",
                "server.lock", "tuneforge.toml", ".", "merged", "models/x", "merged/../state.db-journal",
                "./jobs/new", "tts/models/x")
EXPORT_SHAPES = ("../state.db-journal", "../state.db", "../state.db-wal", "../adapters/.active",
                 "../adapters/.serving", "../jobs", "../datasets", "..", ".", "../merged/x",
                 "x/../../state.db-journal", "../server.lock")


@pytest.fixture
def registered(server_factory, tiny_lm_dir, tmp_path):
    """A server whose allowed_paths hold the data root's parent (the test default, and a real
    operator's mistake), with adapter ``bot`` registered on the tiny model, so a merge or an
    export that passed the path check would really run."""
    srv = server_factory()
    with Client(srv.target, timeout=60) as c:
        src = make_adapter(tmp_path / "incoming" / "bot", base=str(tiny_lm_dir))
        c.registry.register_adapter(name="bot", path=str(src), base_model=str(tiny_lm_dir))
        yield srv, c


def _refusal(call, raw):
    with pytest.raises(InvalidArgument) as err:
        call(raw)
    return err.value


def test_merge_output_dir_cannot_name_the_services_own_files(registered):
    srv, c = registered
    root = srv.config.root.resolve()
    for raw in (*MERGE_SHAPES, str(root / "state.db-journal"), str(root / "adapters" / ".active"), str(root)):
        error = _refusal(lambda r: c.trainer.merge_adapter(adapter_name="bot", output_dir=r), raw)
        assert error.reason == "PATH_NOT_ALLOWED", raw
        assert error.field_violations[0].field == "output_dir", raw
        if not raw.startswith("/"):
            assert str(root) not in error.field_violations[0].description, raw
    assert c.jobs.list_jobs(service="trainer").total_size == 0


def test_export_output_dir_cannot_name_the_services_own_files(registered):
    srv, c = registered
    root = srv.config.root.resolve()
    for raw in (*EXPORT_SHAPES, str(root / "state.db-journal"), str(root / "merged" / "x"), str(root)):
        error = _refusal(lambda r: c.trainer.create_export_job(
            adapter_name="bot", format=rpb.EXPORT_FORMAT_MERGED, output_dir=r), raw)
        assert error.reason == "PATH_NOT_ALLOWED", raw
        assert error.field_violations[0].field == "output_dir", raw
        if not raw.startswith("/"):
            assert str(root) not in error.field_violations[0].description, raw
    assert c.jobs.list_jobs(service="trainer").total_size == 0


def test_after_refused_outputs_the_server_restarts_and_activation_works(registered, server_factory):
    srv, c = registered
    for raw in ("state.db-journal", "adapters/.active", "jobs"):
        _refusal(lambda r: c.trainer.merge_adapter(adapter_name="bot", output_dir=r), raw)
    for raw in ("../state.db-journal", "../adapters/.active"):
        _refusal(lambda r: c.trainer.create_export_job(
            adapter_name="bot", format=rpb.EXPORT_FORMAT_MERGED, output_dir=r), raw)
    root = srv.config.root
    assert not (root / "state.db-journal").exists() and not (root / "adapters" / ".active").is_dir()
    srv.stop(stop_workers=True)
    again = server_factory(root)
    with Client(again.target, timeout=60) as c2:
        assert [a.name for a in c2.registry.list_adapters().adapters] == ["bot"]
        c2.registry.activate_adapter(name="bot")
        assert c2.registry.get_active_adapter().adapter_name == "bot"


def test_an_output_under_its_own_directory_or_outside_the_data_root_is_accepted(tmp_path):
    root, elsewhere = tmp_path / "var", tmp_path / "elsewhere"
    roots = [root.resolve(), tmp_path.resolve()]
    assert confine_output("merged/bot", "output_dir", root, "merged", roots) == (root / "merged" / "bot").resolve()
    assert confine_output(str(elsewhere / "m"), "output_dir", root, "merged", roots) == (elsewhere / "m").resolve()
    assert confine_output("bot/gguf", "output_dir", root, "models", roots, base=root / "models") == \
        (root / "models" / "bot" / "gguf").resolve()


def test_every_reserved_name_is_refused_as_an_output(tmp_path):
    root = tmp_path / "var"
    for name in RESERVED:
        with pytest.raises(TuneforgeError) as err:
            confine_output(name, "output_dir", root, "merged", [root.resolve()])
        assert err.value.reason == "PATH_NOT_ALLOWED", name
