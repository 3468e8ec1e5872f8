"""The voice sample catalog on real encoded files."""

from __future__ import annotations

import pytest

from tests.tts.conftest import FORMATS
from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.runtime.store import Store
from tuneforge.services.tts.samples import SampleCatalog


def test_every_supported_format_is_stored_with_its_metadata(catalog, audio_dir):
    for fmt in FORMATS:
        sample = catalog.add(f"clip-{fmt}", audio_dir / f"clip.{fmt}")
        assert sample.format == fmt and sample.channels == 2
        assert sample.duration_seconds == pytest.approx(1.5, abs=0.08)
        assert sample.path.name == f"clip-{fmt}.{fmt}"
        assert sample.path.read_bytes() == (audio_dir / f"clip.{fmt}").read_bytes()
        assert sample.size_bytes == sample.path.stat().st_size
    items, total = catalog.list(offset=1, limit=2)
    assert total == len(FORMATS) and [s.name for s in items] == ["clip-mp3", "clip-ogg"]


def test_rejected_uploads_leave_nothing_behind(catalog, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio at all\n" * 50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path in (bad, empty):
        with pytest.raises(TuneforgeError) as err:
            catalog.add("x.wav", path)
        assert err.value.reason == "INVALID_AUDIO"
    assert catalog.list()[1] == 0
    assert list(catalog.dir.iterdir()) == []


def test_names_are_validated_and_unique(catalog, audio_dir):
    for name in ("../evil.wav", "a/b.wav", "", ".hidden"):
        with pytest.raises(TuneforgeError) as err:
            catalog.add(name, audio_dir / "clip.wav")
        assert err.value.code is Code.INVALID_ARGUMENT
    catalog.add("one.wav", audio_dir / "clip.wav")
    with pytest.raises(TuneforgeError) as err:
        catalog.add("one.wav", audio_dir / "clip.flac")
    assert err.value.code is Code.ALREADY_EXISTS


def test_transcripts_are_set_cleared_and_survive_a_reopen(catalog, audio_dir):
    catalog.add("a.ogg", audio_dir / "clip.ogg")
    s = catalog.set_transcript("a.ogg", "  Привет,\n мир  ", language="ru")
    assert (s.transcript, s.transcript_source, s.transcript_language) == ("Привет, мир", "user", "ru")
    again = SampleCatalog(Store(catalog.store.path), catalog.data_root)
    assert again.get("a.ogg").transcript == "Привет, мир"
    assert catalog.set_transcript("a.ogg", "").transcript_source == ""
    with pytest.raises(TuneforgeError) as err:
        catalog.set_transcript("missing.wav", "x")
    assert err.value.code is Code.NOT_FOUND


def test_delete_removes_row_and_file(catalog, audio_dir):
    s = catalog.add("gone.mp3", audio_dir / "clip.mp3")
    catalog.delete("gone.mp3")
    assert not s.path.exists()
    with pytest.raises(TuneforgeError):
        catalog.get("gone.mp3")
