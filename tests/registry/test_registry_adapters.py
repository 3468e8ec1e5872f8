from __future__ import annotations

import json
import os

import pytest

from registry_helpers import BASE, adapters_listing, make_adapter, write_safetensors
from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.runtime.store import open_store
from tuneforge.services.registry import marker
from tuneforge.services.registry.adapters import AdapterCatalog
from tuneforge.services.registry.peft_files import SafetensorsError, read_safetensors_header

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL


def test_register_from_directory_copies_files_and_records_metadata(catalog, src, data_root):
    a = catalog.import_directory("support", src(r=8))
    assert a.name == "support" and a.version == 1 and a.served_name == "support@v1"
    assert a.path == data_root / "adapters" / "support" / "final"
    assert sorted(os.listdir(a.path)) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert a.base_model == BASE and a.rank == 8 and a.lora_alpha == 16.0
    assert a.target_modules == ["q_proj", "v_proj"] and a.lora_modules == ["q_proj", "v_proj"]
    assert a.size_bytes == sum(p.stat().st_size for p in a.path.iterdir())
    assert a.source == "directory" and a.create_time.endswith("Z")
    assert adapters_listing(data_root) == ["support", "support/final", *[f"support/final/{n}" for n in sorted(os.listdir(a.path))]]


def test_trainer_registration_in_place_keeps_checkpoints_and_metrics(catalog, data_root):
    final = make_adapter(data_root / "adapters" / "bot" / "final", r=4, base="/models/x")
    (data_root / "adapters" / "bot" / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    a = catalog.register_from_trainer("bot", final, base_model="Org/Model", dataset="faq",
                                      metrics={"loss": 1.25, "eval_loss": 1.5}, job_id="job-1")
    assert a.base_model == "Org/Model" and a.dataset == "faq" and a.job_id == "job-1"
    assert a.metrics == {"loss": 1.25, "eval_loss": 1.5} and a.source == "trainer"
    assert (data_root / "adapters" / "bot" / "checkpoints" / "checkpoint-10").is_dir()
    again = catalog.register_from_trainer("bot", final, base_model="Org/Model")
    assert again.version == 2 and again.create_time == a.create_time


def test_register_taken_name_is_already_exists_and_replace_bumps_version(catalog, src):
    catalog.import_directory("a", src("one", r=8))
    with pytest.raises(TuneforgeError) as e:
        catalog.import_directory("a", src("two", r=4))
    assert e.value.code is Code.ALREADY_EXISTS
    b = catalog.import_directory("a", src("two", r=4), replace=True)
    assert b.version == 2 and b.rank == 4
    catalog.delete("a")
    c = catalog.import_directory("a", src("three"))
    assert c.version == 3  # never reuses a served name vLLM may still hold


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda p: (p / "adapter_config.json").unlink(), "adapter_config.json"),
        (lambda p: (p / "adapter_config.json").write_text("{not json"), "adapter_config.json"),
        (lambda p: (p / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 0,
         "target_modules": [], "base_model_name_or_path": "x"})), "adapter_config.json.r"),
        (lambda p: (p / "adapter_config.json").write_text(json.dumps({"peft_type": "PREFIX_TUNING", "r": 8,
         "target_modules": ["q_proj"], "base_model_name_or_path": "x"})), "adapter_config.json.peft_type"),
        (lambda p: (p / "adapter_model.safetensors").unlink(), "adapter_model.safetensors"),
        (lambda p: (p / "adapter_model.safetensors").write_bytes(b"PK\x03\x04 a zip, not tensors"), "adapter_model.safetensors"),
        (lambda p: (p / "adapter_model.safetensors").write_bytes(
            (p / "adapter_model.safetensors").read_bytes()[:-3]), "adapter_model.safetensors"),
    ],
)
def test_register_rejects_bad_files_with_field_violations_and_writes_nothing(catalog, src, data_root, breakage, field):
    path = src()
    breakage(path)
    with pytest.raises(TuneforgeError) as e:
        catalog.import_directory("bad", path)
    assert e.value.code is Code.INVALID_ARGUMENT
    assert field in [v.field for v in e.value.violations]
    assert adapters_listing(data_root) == [] and not catalog.exists("bad")


def test_names_are_validated(catalog, src):
    for bad in ["../x", "a/b", "", ".hidden"]:
        with pytest.raises(TuneforgeError) as e:
            catalog.import_directory(bad, src())
        assert e.value.code is Code.INVALID_ARGUMENT


def test_list_pages_by_name_with_total(catalog, src):
    path = src()
    for n in ["c", "a", "e", "b", "d"]:
        catalog.import_directory(n, path)
    page1, total = catalog.list(0, 2)
    page2, _ = catalog.list(2, 2)
    page3, _ = catalog.list(4, 2)
    assert total == 5
    assert [a.name for a in page1 + page2 + page3] == ["a", "b", "c", "d", "e"]
    assert catalog.list(10, 2) == ([], 5)
    with pytest.raises(TuneforgeError):
        catalog.list(-1, 2)


def test_get_unknown_is_not_found(catalog):
    with pytest.raises(TuneforgeError) as e:
        catalog.get("nope")
    assert e.value.code is Code.NOT_FOUND and e.value.reason == "ADAPTER_NOT_FOUND"


def test_delete_active_is_refused_unless_forced(catalog, src, data_root):
    catalog.import_directory("live", src())
    marker.write_active(catalog.adapters_dir, "live")
    with pytest.raises(TuneforgeError) as e:
        catalog.delete("live")
    assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "ADAPTER_ACTIVE"
    assert catalog.exists("live") and (data_root / "adapters" / "live" / "final").is_dir()
    catalog.delete("live", force=True)
    assert not catalog.exists("live") and adapters_listing(data_root) == []
    assert marker.read_active(catalog.adapters_dir) is None


def test_leftover_staging_and_trash_dirs_are_swept_on_open(store, data_root, catalog):
    (data_root / "adapters" / ".tmp-dead" / "final").mkdir(parents=True)
    (data_root / "adapters" / ".trash-dead").mkdir()
    AdapterCatalog(store, data_root)
    assert adapters_listing(data_root) == []


def test_catalog_survives_reopen(data_root, src, empty_database_url):
    s = open_store(data_root, empty_database_url)
    AdapterCatalog(s, data_root).import_directory("keep", src(), )
    s.close()
    s2 = open_store(data_root, empty_database_url)
    assert AdapterCatalog(s2, data_root).get("keep").version == 1
    s2.close()


def test_safetensors_header_checks(tmp_path):
    good = tmp_path / "g.safetensors"
    write_safetensors(good, {"w": ([2, 3], "F32")})
    assert read_safetensors_header(good)["w"]["shape"] == [2, 3]
    for raw in [b"", b"\x01\x00", (2**40).to_bytes(8, "little") + b"{}",
                (2).to_bytes(8, "little") + b"[]", (2).to_bytes(8, "little") + b"{}"]:
        bad = tmp_path / "b.safetensors"
        bad.write_bytes(raw)
        with pytest.raises(SafetensorsError):
            read_safetensors_header(bad)
