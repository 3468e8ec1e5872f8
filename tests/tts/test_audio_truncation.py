"""Truncated audio is refused (INVALID_AUDIO), not accepted with a shorter duration."""

from __future__ import annotations

import struct

import pytest

from tests.tts.conftest import write_audio
from tuneforge.audio import decode
from tuneforge.runtime.errors import TuneforgeError


@pytest.mark.parametrize("name", ["clip.wav", "clip.mp3", "clip.opus", "clip.ogg"])
def test_a_file_cut_short_is_refused_as_truncated(tmp_path, name):
    whole = write_audio(tmp_path / name, seconds=3.0)
    assert decode.probe(whole).duration_seconds == pytest.approx(3.0, abs=0.05)
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.7)])
    for read in (decode.probe, decode.decode):
        with pytest.raises(TuneforgeError) as exc:
            read(cut)
        assert exc.value.reason == "INVALID_AUDIO" and "truncated" in str(exc.value)


def test_an_mp3_cut_at_a_frame_boundary_is_caught_by_its_frame_count(tmp_path):
    from tuneforge.audio import integrity

    data = write_audio(tmp_path / "a.mp3", seconds=3.0).read_bytes()
    pos = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]) if data[:3] == b"ID3" else 0
    starts = []
    while (length := integrity._mp3_frame_length(data[pos : pos + 4])) is not None:
        starts.append(pos)
        pos += length
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: starts[len(starts) // 2]])
    with pytest.raises(TuneforgeError, match="declares .* frames"):
        decode.probe(cut)


def test_a_streamed_wav_with_an_unknown_data_size_is_accepted(tmp_path):
    wav = write_audio(tmp_path / "stream.wav", seconds=1.0, channels=1)
    raw = bytearray(wav.read_bytes())
    at = raw.find(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)  # what live recorders write
    raw[4:8] = struct.pack("<I", 0xFFFFFFFF)
    wav.write_bytes(bytes(raw))
    assert decode.probe(wav).duration_seconds > 0.9


def test_a_flac_shorter_than_its_streaminfo_declares_is_refused(tmp_path, monkeypatch):
    whole = write_audio(tmp_path / "clip.flac", seconds=3.0)
    real = decode._decode_av

    def short(*args, **kwargs):  # a decoder that silently stops early, as on a frame boundary
        samples, rate, channels, fmt, codec = real(*args, **kwargs)
        return samples[..., : samples.shape[-1] // 2], rate, channels, fmt, codec

    monkeypatch.setattr(decode, "_decode_av", short)
    with pytest.raises(TuneforgeError, match="declares 3.00 s, 1.50 s decode"):
        decode.probe(whole)


def test_an_audio_error_names_the_file_once(tmp_path):
    bad = tmp_path / "notes.ogg"
    bad.write_text("not audio at all\n" * 20)
    with pytest.raises(TuneforgeError) as exc:
        decode.probe(bad)
    assert str(exc.value).count("notes.ogg") == 1
