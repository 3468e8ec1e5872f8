"""Probe and decode audio files (WAV, MP3, OGG/Vorbis, Opus, FLAC, M4A, ...) with PyAV.

PyAV ships with faster-whisper and bundles its own FFmpeg libraries, so no ``ffmpeg``
binary is needed. Uploads from people (phone recordings, Telegram voice notes, exports)
are messy: we never trust the extension, we decode the whole stream to prove it is audio,
and we fall back to libsndfile (``soundfile``) for the few containers FFmpeg misreads.

Everything here is light (numpy + av + soundfile, no torch), so the service process may
call it when a sample is uploaded. Bad input raises ``invalid_argument("file", ...,
reason="INVALID_AUDIO")``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuneforge.runtime.errors import invalid_argument

INVALID_AUDIO = "INVALID_AUDIO"

# FFmpeg demuxer names → the format name we report to clients.
_FORMAT_NAMES = {
    "wav": "wav",
    "mp3": "mp3",
    "ogg": "ogg",
    "flac": "flac",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "matroska,webm": "webm",
    "aiff": "aiff",
    "w64": "w64",
}

_CODEC_NAMES = {"mp3float": "mp3", "aac_fixed": "aac"}


@dataclass(frozen=True)
class AudioInfo:
    """What a client sees about a clip. ``format`` is the container, ``codec`` the stream."""

    format: str
    codec: str
    duration_seconds: float
    sample_rate: int
    channels: int
    size_bytes: int
    channels_differ: bool = False  # see :func:`channels_differ`

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "codec": self.codec,
            "duration_seconds": self.duration_seconds,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "size_bytes": self.size_bytes,
        }


def _bad(path: Path, why: str) -> Exception:
    # The message holds the violation's description, so it is printed once.
    return invalid_argument(
        "file", f"{path.name}: {why}", reason=INVALID_AUDIO, message=f"not a usable audio file: {path.name}: {why}"
    )


def _container_format(name: str, codec: str) -> str:
    fmt = _FORMAT_NAMES.get(name, name.split(",")[0])
    if fmt == "ogg" and codec == "opus":
        return "opus"
    return fmt


def probe(path: Path | str) -> AudioInfo:
    """Decode the whole file once and report what it holds.

    The duration is counted from the decoded samples, not from the header (headers of
    streamed recordings are often missing or wrong). Raises INVALID_AUDIO for a file that is
    empty, truncated (:mod:`tuneforge.audio.integrity`), not audio, has no audio stream, is
    corrupt, or decodes to no samples.
    """
    path = Path(path)
    size = _check_file(path)
    _check_complete(path)
    try:
        samples, rate, channels, fmt, codec = _decode_av(path, target_rate=None, mono=False)
    except _AvFailed as exc:
        try:
            samples, rate, channels, fmt, codec = _decode_soundfile(path, None, False)
        except _AvFailed:
            raise _bad(path, str(exc)) from None
    frames = samples.shape[-1]
    if frames == 0 or rate <= 0:
        raise _bad(path, "no audio samples could be decoded")
    _check_length(path, frames / rate)
    if not np.isfinite(samples).all():
        raise _bad(path, "decoded samples are not finite")
    return AudioInfo(
        format=fmt,
        codec=codec,
        duration_seconds=round(frames / rate, 4),
        sample_rate=int(rate),
        channels=int(channels),
        size_bytes=size,
        channels_differ=channels_differ(samples),
    )


CHANNEL_CORRELATION = 0.5  # below it, two channels that both carry sound carry different sound
SILENT_RMS = 1e-3


def channels_differ(samples: np.ndarray) -> bool:
    """Whether a recording's first two channels carry different sound — a call or interview
    recorded with one speaker per channel — rather than one voice copied, panned or caught by
    two microphones (highly correlated). Mixed to mono, such a file is two speakers at once:
    the uploader is warned. A silent channel is not a different speaker."""
    if samples.ndim < 2 or samples.shape[0] < 2:
        return False
    left, right = samples[0].astype(np.float64), samples[1].astype(np.float64)
    if min(np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))) < SILENT_RMS:
        return False
    if np.std(left) == 0 or np.std(right) == 0:
        return False
    return float(np.corrcoef(left, right)[0, 1]) < CHANNEL_CORRELATION


def decode(path: Path | str, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Return ``(mono float32 samples in [-1, 1], rate)``, resampled to ``sample_rate`` if set."""
    path = Path(path)
    _check_file(path)
    _check_complete(path)
    try:
        samples, rate, _c, _f, _codec = _decode_av(path, target_rate=sample_rate, mono=True)
    except _AvFailed as exc:
        try:
            samples, rate, _c, _f, _codec = _decode_soundfile(path, sample_rate, True)
        except _AvFailed:
            raise _bad(path, str(exc)) from None
    if samples.size == 0:
        raise _bad(path, "no audio samples could be decoded")
    _check_length(path, samples.size / rate)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)


def write_wav(path: Path | str, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV atomically (temp file in the same directory, then rename)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2 and data.shape[0] < data.shape[1]:
        data = data.T  # (channels, frames) → (frames, channels)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(data, -1.0, 1.0), int(sample_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------- internals


class _AvFailed(Exception):
    pass


def _check_file(path: Path) -> int:
    if not path.is_file():
        raise _bad(path, "file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise _bad(path, "file is empty")
    return size


def _check_complete(path: Path) -> None:
    """Refuse a file cut short: decoders would return a shorter clip without complaint."""
    from tuneforge.audio.integrity import truncation

    try:
        why = truncation(path)
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror})") from None
    if why:
        raise _bad(path, f"the file is truncated: {why}")


def _check_length(path: Path, decoded_seconds: float) -> None:
    """Declared vs decoded length (FLAC): a shortfall over 1 % (or 50 ms) is a cut file."""
    from tuneforge.audio.integrity import declared_seconds

    declared = declared_seconds(path)
    if declared and declared - decoded_seconds > max(0.05, declared * 0.01):
        raise _bad(path, f"the file is truncated: it declares {declared:.2f} s, {decoded_seconds:.2f} s decode")


def _decode_av(
    path: Path, target_rate: int | None, mono: bool
) -> tuple[np.ndarray, int, int, str, str]:
    import av

    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - every FFmpeg failure means "not audio"
        raise _AvFailed(f"cannot be opened as audio ({type(exc).__name__})") from None
    try:
        if not container.streams.audio:
            raise _AvFailed("contains no audio stream")
        stream = container.streams.audio[0]
        codec = _CODEC_NAMES.get(stream.codec_context.name, stream.codec_context.name)
        channels = stream.codec_context.channels or 0
        rate = stream.codec_context.sample_rate or 0
        fmt = _container_format(container.format.name, codec)
        if target_rate is not None or mono:
            resampler = av.AudioResampler(
                format="fltp", layout="mono" if mono else None, rate=target_rate or None
            )
        else:
            resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                channels = channels or frame.layout.nb_channels
                rate = rate or frame.sample_rate
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except _AvFailed:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _AvFailed(f"corrupt audio data ({type(exc).__name__}: {exc})") from None
    finally:
        container.close()
    if not chunks:
        raise _AvFailed("no audio samples could be decoded")
    samples = np.concatenate(chunks, axis=-1).astype(np.float32, copy=False)
    out_rate = target_rate or rate
    if mono:
        samples = samples.reshape(-1)
    return samples, int(out_rate), int(channels), fmt, codec


def _decode_soundfile(
    path: Path, target_rate: int | None, mono: bool
) -> tuple[np.ndarray, int, int, str, str]:
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001
        raise _AvFailed(f"cannot be decoded ({type(exc).__name__})") from None
    samples = data.T  # (channels, frames)
    channels = samples.shape[0]
    if mono:
        samples = samples.mean(axis=0)
        if target_rate and target_rate != rate:
            samples = resample(samples, rate, target_rate)
            rate = target_rate
    return samples, int(rate), int(channels), info.format.lower(), info.subtype.lower()


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Band-limited enough for speech: linear interpolation after a box low-pass."""
    if rate == target_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    if target_rate < rate:
        width = max(1, int(round(rate / target_rate)))
        if width > 1:
            kernel = np.ones(width, dtype=np.float32) / width
            samples = np.convolve(samples, kernel, mode="same")
    n_out = int(round(samples.size * target_rate / rate))
    x_old = np.arange(samples.size, dtype=np.float64) / rate
    x_new = np.arange(n_out, dtype=np.float64) / target_rate
    return np.interp(x_new, x_old, samples).astype(np.float32)
