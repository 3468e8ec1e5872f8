from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from registry_helpers import adapters_listing, make_adapter
from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.registry.archive import (
    ImportLimits,
    export_adapter,
    export_to_file,
    import_archive,
    import_path,
)


def _export_to(catalog, name: str, dest: Path, chunk_size: int = 1 << 20) -> Path:
    dest.write_bytes(b"".join(export_adapter(catalog.get(name), chunk_size)))
    return dest


def _tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz", **kw) -> Path:
    with tarfile.open(path, mode, **kw) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _adapter_entries(src: Path, prefix: str = "adapter/") -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(tarfile.TarInfo(prefix + p.name), p.read_bytes()) for p in sorted(src.iterdir()) if p.is_file()]


def test_export_import_roundtrip_keeps_files_and_metadata(catalog, data_root, tmp_path):
    final = make_adapter(data_root / "adapters" / "orig" / "final", r=8)
    big = os.urandom(300_000)
    (final / "tokenizer.json").write_bytes(big)
    catalog.register_from_trainer("orig", final, base_model="Org/Base", dataset="faq", metrics={"loss": 0.5})
    chunks = list(export_adapter(catalog.get("orig"), chunk_size=16_384))
    assert len(chunks) > 5 and max(map(len, chunks)) < 16_384 + 65_536  # streamed, bounded
    archive = tmp_path / "orig.tar.gz"
    archive.write_bytes(b"".join(chunks))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json" and "adapter/adapter_model.safetensors" in names
    assert manifest["name"] == "orig" and manifest["rank"] == 8 and manifest["metrics"] == {"loss": 0.5}
    assert set(manifest["files"]) == {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json"}

    copy = import_archive(catalog, archive, "copy")
    assert copy.source == "archive" and copy.rank == 8 and copy.metrics == {"loss": 0.5} and copy.dataset == "faq"
    for name in manifest["files"]:
        assert (copy.path / name).read_bytes() == (final / name).read_bytes()
    catalog.delete("orig")
    again = import_path(catalog, archive)  # name from the manifest
    assert again.name == "orig"


def test_import_plain_tarball_of_a_directory_ignores_macos_litter(catalog, tmp_path, data_root):
    src = make_adapter(tmp_path / "my-adapter")
    archive = tmp_path / "plain.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="my-adapter")
        info = tarfile.TarInfo("__MACOSX/my-adapter/._adapter_config.json")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xyz"))
    a = import_archive(catalog, archive, "plain")
    assert sorted(os.listdir(a.path)) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]


def test_import_directory_path_uses_directory_name(catalog, tmp_path):
    src = make_adapter(tmp_path / "from-dir" / "final")
    assert import_path(catalog, src).name == "from-dir"


def test_plain_uncompressed_tar_is_accepted(catalog, tmp_path):
    src = make_adapter(tmp_path / "s")
    archive = _tar(tmp_path / "a.tar", _adapter_entries(src), mode="w")
    assert import_archive(catalog, archive, "untarred").rank == 8


def _bad_archives(tmp_path: Path) -> dict[str, tuple[Path, str, dict]]:
    src = make_adapter(tmp_path / "good")
    good = _adapter_entries(src)

    def link(name: str, kind: bytes, target: str = "/etc/passwd") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        return info

    def dev(name: str, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = kind, 1, 3
        return info

    bad_sf = (tarfile.TarInfo("adapter/adapter_model.safetensors"), (10**6).to_bytes(8, "little") + b"{}")
    cfg = lambda data: (tarfile.TarInfo("adapter/adapter_config.json"), data)  # noqa: E731
    no = {}
    cases = {
        "traversal": (good + [(tarfile.TarInfo("../evil.txt"), b"x")], "ARCHIVE_UNSAFE", no),
        "nested_traversal": (good + [(tarfile.TarInfo("adapter/../../evil.txt"), b"x")], "ARCHIVE_UNSAFE", no),
        "absolute": (good + [(tarfile.TarInfo("/tmp/evil.txt"), b"x")], "ARCHIVE_UNSAFE", no),
        "symlink": (good + [(link("adapter/tokenizer.json", tarfile.SYMTYPE), None)], "ARCHIVE_UNSAFE", no),
        "hardlink": (good + [(link("adapter/copy", tarfile.LNKTYPE, "adapter/README.md"), None)], "ARCHIVE_UNSAFE", no),
        "device": (good + [(dev("adapter/null", tarfile.CHRTYPE), None)], "ARCHIVE_UNSAFE", no),
        "fifo": (good + [(dev("adapter/pipe", tarfile.FIFOTYPE), None)], "ARCHIVE_UNSAFE", no),
        "oversize": (good + [(tarfile.TarInfo("adapter/big.bin"), b"\0" * 200_000)], "ARCHIVE_TOO_LARGE",
                     {"max_total_bytes": 100_000}),
        "too_many_members": (good + [(tarfile.TarInfo(f"adapter/f{i}"), b"") for i in range(20)],
                             "ARCHIVE_TOO_LARGE", {"max_members": 10}),
        "missing_config": ([e for e in good if not e[0].name.endswith(".json")], "ARCHIVE_INVALID", no),
        "missing_weights": ([e for e in good if not e[0].name.endswith(".safetensors")], "ARCHIVE_INVALID", no),
        "bad_json": ([e for e in good if not e[0].name.endswith(".json")] + [cfg(b"{oops")], "ARCHIVE_INVALID", no),
        "config_not_lora": ([e for e in good if not e[0].name.endswith(".json")] + [cfg(b'{"r": "eight"}')],
                            "ARCHIVE_INVALID", no),
        "bad_safetensors": ([e for e in good if not e[0].name.endswith(".safetensors")] + [bad_sf],
                            "ARCHIVE_INVALID", no),
        "bad_manifest_checksum": (good + [(tarfile.TarInfo("manifest.json"), json.dumps(
            {"name": "x", "files": {"adapter_config.json": {"sha256": "0" * 64}}}).encode())],
            "CHECKSUM_MISMATCH", no),
    }
    out = {k: (_tar(tmp_path / f"{k}.tgz", v[0]), v[1], v[2]) for k, v in cases.items()}
    # A gzip bomb: a 20 MB PAX header (not a member, so no declared size) that compresses to ~20 KB.
    bomb = tmp_path / "bomb.tgz"
    with tarfile.open(bomb, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("adapter/adapter_config.json")
        info.pax_headers = {"comment": "A" * 20_000_000}
        data = (src / "adapter_config.json").read_bytes()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert bomb.stat().st_size < 200_000
    out["gzip_bomb"] = (bomb, "ARCHIVE_TOO_LARGE", {"max_total_bytes": 1_000_000})
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(os.urandom(2048))
    out["not_an_archive"] = (junk, "ARCHIVE_FORMAT", no)
    full = _tar(tmp_path / "full.tgz", good)
    truncated = tmp_path / "truncated.tgz"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out["truncated"] = (truncated, "ARCHIVE_CORRUPT", no)
    corrupt = tmp_path / "corrupt.tgz"
    corrupt.write_bytes(gzip.compress(b"\x07" * 4096))
    out["gzip_of_garbage"] = (corrupt, "ARCHIVE_CORRUPT", no)
    return out


CASES = ["traversal", "nested_traversal", "absolute", "symlink", "hardlink", "device", "fifo", "oversize",
         "too_many_members", "missing_config", "missing_weights", "bad_json", "config_not_lora", "bad_safetensors",
         "bad_manifest_checksum", "gzip_bomb", "not_an_archive", "truncated", "gzip_of_garbage"]


@pytest.fixture(scope="module")
def bad_archives(tmp_path_factory):
    return _bad_archives(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", CASES)
def test_malformed_archive_is_refused_and_writes_nothing(catalog, data_root, tmp_path, bad_archives, case):
    archive, reason, limits = bad_archives[case]
    with pytest.raises(TuneforgeError) as e:
        import_archive(catalog, archive, "victim", limits=ImportLimits(**limits))
    want = Code.RESOURCE_EXHAUSTED if reason == "ARCHIVE_TOO_LARGE" else Code.INVALID_ARGUMENT
    assert e.value.code is want, e.value
    assert e.value.reason == reason, e.value
    assert adapters_listing(data_root) == []
    assert not catalog.exists("victim")
    assert not (archive.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_import_without_name_or_manifest_needs_a_name(catalog, tmp_path):
    archive = _tar(tmp_path / "a.tgz", _adapter_entries(make_adapter(tmp_path / "s")))
    with pytest.raises(TuneforgeError) as e:
        import_archive(catalog, archive)
    assert e.value.code is Code.INVALID_ARGUMENT and e.value.violations[0].field == "name"


def test_import_over_existing_name_is_already_exists(catalog, tmp_path):
    src = make_adapter(tmp_path / "s")
    catalog.import_directory("taken", src)
    archive = _tar(tmp_path / "a.tgz", _adapter_entries(src))
    with pytest.raises(TuneforgeError) as e:
        import_archive(catalog, archive, "taken")
    assert e.value.code is Code.ALREADY_EXISTS
    assert import_archive(catalog, archive, "taken", replace=True).version == 2


def test_duplicate_member_is_refused(catalog, data_root, tmp_path):
    src = make_adapter(tmp_path / "s")
    entries = _adapter_entries(src)
    archive = _tar(tmp_path / "dup.tgz", entries + [(tarfile.TarInfo("adapter/README.md"), b"again")])
    with pytest.raises(TuneforgeError) as e:
        import_archive(catalog, archive, "dup")
    assert e.value.reason == "ARCHIVE_UNSAFE" and adapters_listing(data_root) == []


def test_export_to_file_reports_size_and_sha256(catalog, tmp_path):
    import hashlib

    a = catalog.import_directory("e", make_adapter(tmp_path / "s"))
    dest = tmp_path / "out" / "e.tar.gz"
    dest.parent.mkdir()
    size, sha = export_to_file(a, dest)
    assert size == dest.stat().st_size and sha == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert os.listdir(dest.parent) == ["e.tar.gz"]
    assert import_archive(catalog, dest, "e2").rank == 8


def test_training_output_with_checkpoints_imports_the_top_adapter(catalog, tmp_path):
    out = make_adapter(tmp_path / "out", r=8)
    make_adapter(out / "checkpoint-100", r=4)
    archive = tmp_path / "out.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out, arcname="out")
    a = import_archive(catalog, archive, "trained")
    assert a.rank == 8 and not (a.path / "checkpoint-100").exists()
    twins = _tar(tmp_path / "twins.tgz", _adapter_entries(out, "x/") + _adapter_entries(out, "y/"))
    with pytest.raises(TuneforgeError) as e:
        import_archive(catalog, twins, "twins")
    assert "several adapters" in e.value.message
