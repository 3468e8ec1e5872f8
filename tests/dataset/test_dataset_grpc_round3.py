"""Round-3 files through the real dataset service: KTO data imports, keeps its labels and
answers stats and preview; a forced preference format on chats is a per-record error."""

from __future__ import annotations

import json

import pytest
from tuneforge.client import InvalidArgument

CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def upload_jsonl(client, tmp_path, records):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return client.upload_file("dataset", path)


def test_a_kto_file_imports_as_kto_with_labels_stats_and_preview(client, tmp_path):
    records = [{"messages": CHAT, "label": i % 2 == 0} for i in range(6)]
    up = upload_jsonl(client, tmp_path, records)
    resp = client.dataset.import_dataset(upload_id=up.id, dataset_name="kto", validation_split=0)
    assert resp.report.detected_format == "kto"
    assert client.dataset.get_dataset(name="kto").format == "kto"
    stats = client.dataset.get_dataset_stats(name="kto")
    assert stats.record_count == 6 and stats.message_count == 12
    rows = [json.loads(r) for r in client.dataset.preview_dataset(name="kto", count=6).records]
    assert sorted(r["label"] for r in rows) == [False, False, False, True, True, True]


def test_a_forced_preference_format_on_chats_is_invalid_argument_naming_each_line(client, tmp_path):
    up = upload_jsonl(client, tmp_path, [{"messages": CHAT}])
    with pytest.raises(InvalidArgument) as exc:
        client.dataset.import_dataset(upload_id=up.id, dataset_name="pairs", format="preference")
    assert exc.value.reason == "DATASET_INVALID"
    assert any(v.field == "line 1" and "MISSING_FIELD" in v.description for v in exc.value.field_violations)
