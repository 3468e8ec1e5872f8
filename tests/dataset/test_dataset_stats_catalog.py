from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.store import Store
from tuneforge.services.dataset import stats
from tuneforge.services.dataset.catalog import DatasetCatalog


def write_jsonl(path: Path, n: int, source: str | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = {"messages": [{"role": "user", "content": f"question {i} " + "x" * (i * 40)},
                                {"role": "assistant", "content": "answer"}]}  # fmt: skip
            if source:
                rec["source"] = source if i % 2 else "other"
            fh.write(json.dumps(rec) + "\n")
    return path


def test_estimated_tokens_histogram_and_over_length(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", 10, source="docs")
    s = stats.compute_stats([path], max_seq_length=50)
    assert (
        s.record_count == 10
        and s.message_count == 20
        and s.token_count_method == "estimate"
    )
    # record i: ceil((11 + 40 i) / 4) + 4 + ceil(6 / 4) + 4 tokens (i < 10: "question i " is 11 chars)
    expected = [(-(-(11 + 40 * i) // 4)) + 4 + 2 + 4 for i in range(10)]
    assert s.token_count == sum(expected) and s.max_record_tokens == max(expected)
    assert s.records_over_max_seq_length == sum(t > 50 for t in expected)
    assert sum(b.count for b in s.token_histogram) == 10
    assert all(b.lower < b.upper for b in s.token_histogram)
    assert s.records_by_source == {"other": 5, "docs": 5}
    assert s.messages_by_role == {"user": 10, "assistant": 10}
    assert s.size_bytes == path.stat().st_size
    text = tmp_path / "t.jsonl"
    text.write_text('{"text": "abcdefgh"}\n')
    assert stats.compute_stats([text]).token_count == 2


def test_tokens_counted_with_a_local_tokenizer(tmp_path):
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    path = write_jsonl(tmp_path / "d.jsonl", 3)
    s = stats.compute_stats([path], tokenizer_dir=cached_tiny_lm())
    assert s.token_count_method == "tokenizer" and s.token_count > 0
    assert s.token_count != stats.compute_stats([path]).token_count
    with pytest.raises(TuneforgeError) as exc:
        stats.compute_stats([path], tokenizer_dir=tmp_path / "missing")
    assert exc.value.reason == "TOKENIZER_NOT_FOUND"


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    src = write_jsonl(tmp_path / "all.jsonl", 100)
    a = stats.split_jsonl(src, tmp_path / "t1", tmp_path / "v1", 0.1, seed=7)
    b = stats.split_jsonl(src, tmp_path / "t2", tmp_path / "v2", 0.1, seed=7)
    assert a == b == (90, 10)
    assert (tmp_path / "v1").read_bytes() == (tmp_path / "v2").read_bytes()
    stats.split_jsonl(src, tmp_path / "t3", tmp_path / "v3", 0.1, seed=8)
    assert (tmp_path / "v1").read_bytes() != (tmp_path / "v3").read_bytes()
    lines = set((tmp_path / "t1").read_text().splitlines()) | set(
        (tmp_path / "v1").read_text().splitlines()
    )
    assert lines == set(src.read_text().splitlines())
    assert stats.split_jsonl(src, tmp_path / "t4", tmp_path / "v4", 0.0) == (100, 0)
    assert not (tmp_path / "v4").exists()
    one = write_jsonl(tmp_path / "one.jsonl", 1)
    assert stats.split_jsonl(one, tmp_path / "t5", tmp_path / "v5", 0.5) == (1, 0)
    with pytest.raises(TuneforgeError):
        stats.split_jsonl(src, tmp_path / "t6", tmp_path / "v6", 0.9)


def test_catalog_create_get_list_preview_stats_delete(catalog, tmp_path):
    src = write_jsonl(tmp_path / "src.jsonl", 20)
    info = catalog.create("chats-v1", src, source="telegram", format="messages",
                          validation_split=0.1, report={"dialogs": 20}, job_id="job-1")  # fmt: skip
    assert (info.record_count, info.validation_record_count) == (18, 2)
    d = catalog.root / "chats-v1"
    assert sorted(p.name for p in d.iterdir()) == [
        "data.jsonl",
        "meta.json",
        "validation.jsonl",
    ]
    meta = json.loads((d / "meta.json").read_text())
    assert meta["report"] == {"dialogs": 20} and meta["seed"] == 42
    assert catalog.get("chats-v1") == info
    catalog.create("alpha", src, source="import", validation_split=0)
    items, total = catalog.list(0, 1)
    assert total == 2 and [i.name for i in items] == ["alpha"]
    assert [i.name for i in catalog.list(1, 10)[0]] == ["chats-v1"]
    assert catalog.get("alpha").validation_path == ""
    assert (
        len(catalog.preview("chats-v1", 3)) == 3
        and len(catalog.preview("chats-v1", 0, validation=True)) == 2
    )
    assert catalog.stats("chats-v1").record_count == 20
    assert catalog.stats("chats-v1").records_by_source == {"telegram": 20}
    catalog.delete("chats-v1")
    assert not d.exists()
    with pytest.raises(TuneforgeError) as exc:
        catalog.get("chats-v1")
    assert exc.value.reason == "DATASET_NOT_FOUND"
    with pytest.raises(TuneforgeError):
        catalog.delete("chats-v1")


def test_catalog_rejects_bad_names_duplicates_and_empty_input_leaving_nothing(
    catalog, tmp_path
):
    src = write_jsonl(tmp_path / "src.jsonl", 3)
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(TuneforgeError):
            catalog.create(bad, src, source="import")
    catalog.create("x", src, source="import")
    with pytest.raises(TuneforgeError) as exc:
        catalog.create("x", src, source="import")
    assert exc.value.reason == "DATASET_ALREADY_EXISTS"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TuneforgeError) as exc:
        catalog.create("y", empty, source="import")
    assert exc.value.reason == "DATASET_EMPTY"
    assert sorted(p.name for p in catalog.root.iterdir()) == ["x"]
    with pytest.raises(TuneforgeError):
        catalog.create("z", src, source="nowhere")


def test_catalog_sweeps_leftovers_of_a_crash(tmp_path):
    cat = DatasetCatalog(Store(tmp_path / "state.db"), tmp_path)
    (cat.root / ".tmp-dead").mkdir()
    cat.work_file().write_text("partial")
    assert cat.sweep_leftovers() == 2 and not list(cat.root.iterdir())


def test_settings_round_trip_and_survive_reopen(tmp_path):
    cat = DatasetCatalog(Store(tmp_path / "state.db"), tmp_path)
    assert cat.get_settings("telegram") == {}
    cat.put_settings("telegram", {"owner_name": "Ivan", "session_gap_seconds": 3600})
    cat.put_settings("telegram", {"owner_name": "Иван"})
    again = DatasetCatalog(Store(tmp_path / "state.db"), tmp_path)
    assert again.get_settings("telegram") == {"owner_name": "Иван"}


def test_domain_modules_import_neither_grpc_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import tuneforge.services.dataset.catalog, tuneforge.services.dataset.importing\n"
        "import tuneforge.services.dataset.generate, tuneforge.services.dataset.dialogs\n"
        "import tuneforge.services.dataset.stats, tuneforge.services.dataset.telegram_worker\n"
        "import tuneforge.services.dataset.generate_worker\n"
        "print(sorted(m for m in ('grpc', 'torch', 'transformers', 'faster_whisper') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
