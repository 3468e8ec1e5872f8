"""Is an audio file complete? Truncation found from the container's own structure.

Decoders are forgiving: FFmpeg decodes a WAV, MP3 or Ogg file that was cut short (an
interrupted upload, a half-copied export) up to where it ends and reports a shorter duration,
so a voice dataset would silently train on clipped sentences. The containers say how long
they should be, so we compare what they declare with what is there:

* WAV (RIFF): the ``data`` chunk's declared size against the bytes present (sizes 0 and
  0xFFFFFFFF mean "unknown", as streaming recorders write them, and are not checked);
* MP3: every frame header says how long its frame is; the last frame must end inside the
  file, and a Xing/Info header's frame count must be reached;
* Ogg (Opus, Vorbis, FLAC-in-Ogg): every page says how long it is; the last page must end
  inside the file and carry the end-of-stream flag;
* FLAC: STREAMINFO declares the total number of samples (:func:`declared_seconds`); the
  decoder (:mod:`tuneforge.audio.decode`) compares it with what it decoded.

Only headers are read (a few bytes per frame/page), never the audio itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MP3_BITRATES = {  # (version is MPEG1, layer) → kbit/s by index
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def truncation(path: Path | str) -> str | None:
    """Why the file looks cut short, or ``None`` when it is complete (or of a kind not checked)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav(path)
    if head[:4] == b"OggS":
        return _ogg(path)
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return _mp3(path)
    return None


def declared_seconds(path: Path | str) -> float | None:
    """The duration a FLAC file's STREAMINFO declares, or ``None`` (unknown or not FLAC)."""
    with open(path, "rb") as fh:
        head = fh.read(4 + 4 + 34)
    if len(head) < 42 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return None
    info = head[8:42]
    packed = int.from_bytes(info[10:18], "big")
    rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    return total / rate if rate and total else None


def _wav(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(12)
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return None  # no data chunk: the decoder will say so
            chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
            start = fh.tell()
            if chunk == b"data":
                if length in (0, 0xFFFFFFFF):
                    return None
                present = size - start
                if present < length:
                    return f"the WAV header declares {length} bytes of audio, the file holds {present}"
                return None
            fh.seek(start + length + (length & 1))


def _ogg(path: Path) -> str | None:
    size = path.stat().st_size
    pos, last_flags, pages = 0, 0, 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            header = fh.read(27)
            if len(header) < 27 or header[:4] != b"OggS":
                if pages and len(header) < 27:
                    return f"the last Ogg page is cut off after {size - pos} bytes"
                return None if not pages else f"bytes after the last Ogg page are not a page (offset {pos})"
            table = fh.read(header[26])
            if len(table) < header[26]:
                return "the last Ogg page is cut off in its header"
            end = pos + 27 + header[26] + sum(table)
            if end > size:
                return f"the last Ogg page declares {end - pos} bytes, the file holds {size - pos}"
            last_flags, pos, pages = header[5], end, pages + 1
    if pages and not last_flags & 0x04:
        return "the Ogg stream has no end-of-stream page: the file was cut short"
    return None


def _mp3(path: Path) -> str | None:
    data = path.read_bytes()
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        tag = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        pos = 10 + tag + (10 if data[5] & 0x10 else 0)
    end = len(data)
    if end >= 128 and data[end - 128 : end - 125] == b"TAG":
        end -= 128
    frames, declared = 0, None
    while pos + 4 <= end:
        length = _mp3_frame_length(data[pos : pos + 4])
        if length is None:
            break  # not a frame: trailing tags or junk, not a cut
        if frames == 0:
            declared = _xing_frames(data[pos : pos + length])
        if pos + length > end:
            return f"the last MP3 frame declares {length} bytes, the file holds {end - pos}"
        frames += 1
        pos += length
    if declared and frames - 1 < declared - 1:  # the Xing/Info frame itself carries no audio
        return f"the MP3 header declares {declared} frames, the file holds {frames - 1}"
    return None


def _mp3_frame_length(header: bytes) -> int | None:
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3 MPEG1, 2 MPEG2, 0 MPEG2.5
    layer = 4 - ((header[1] >> 1) & 3)  # 1, 2, 3 (4 = reserved)
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    kbps = _MP3_BITRATES[(version == 3, layer)][bitrate_index]
    rate = _MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12 * kbps * 1000 // rate + padding) * 4
    per_frame = 144 if layer == 2 or version == 3 else 72
    return per_frame * kbps * 1000 // rate + padding


def _xing_frames(frame: bytes) -> int | None:
    for tag in (b"Xing", b"Info"):
        at = frame.find(tag, 4, 64)
        if at != -1 and len(frame) >= at + 12:
            flags = struct.unpack(">I", frame[at + 4 : at + 8])[0]
            if flags & 1:
                return struct.unpack(">I", frame[at + 8 : at + 12])[0]
    return None
