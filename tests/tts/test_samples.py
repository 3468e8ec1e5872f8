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


def _two_speakers(path, rate=16000):
    """A recorded call: one voice on the left while the right is quiet, then the other."""
    import numpy as np

    from tests.tts.conftest import tone
    from tuneforge.audio.decode import write_wav

    a, b = tone(2.0, rate, 220.0)[0], tone(2.0, rate, 330.0)[0]
    half = a.size // 2
    left = np.concatenate([a[:half], 0.002 * b[half:]])
    right = np.concatenate([0.002 * a[:half], b[half:]])
    return write_wav(path, np.stack([left, right]).astype(np.float32), rate)


def test_a_stereo_recording_with_one_speaker_per_channel_is_kept_with_a_warning(catalog, tmp_path):
    from tuneforge.services.tts.servicer import sample_pb

    sample = catalog.add("call", _two_speakers(tmp_path / "call.wav"))
    assert sample.channels == 2 and len(sample.warnings) == 1
    assert "different sound" in sample.warnings[0] and "one channel per speaker" in sample.warnings[0]
    assert list(sample_pb(catalog.get("call")).warnings) == list(sample.warnings)  # stored, and on the wire


def test_one_voice_in_both_channels_gets_no_warning(catalog, tmp_path):
    from tests.tts.conftest import tone
    from tuneforge.audio.decode import write_wav

    panned = write_wav(tmp_path / "panned.wav", tone(2.0, 16000, 220.0, channels=2), 16000)
    assert catalog.add("panned", panned).warnings == ()
