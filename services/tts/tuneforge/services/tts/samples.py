"""The voice sample catalog: audio files under ``tts/samples/`` plus metadata in SQLite.

An upload is decoded completely before anything is stored (:func:`tuneforge.audio.decode.probe`),
so a file that is not audio, empty or corrupt fails with INVALID_ARGUMENT ``INVALID_AUDIO``
and leaves nothing behind. The original bytes are kept (no re-encoding: the training data
is exactly what the user recorded). Files are copied to a temporary name in the samples
directory and renamed into place only after the row is ready to commit.

Timestamps are ISO-8601 UTC strings (``2026-01-31T12:00:00.123456+00:00``).
``transcript_source`` is ``""`` (none yet), ``"whisper"`` or ``"user"``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from tuneforge.audio.decode import probe
from tuneforge.runtime.errors import already_exists, invalid_argument, not_found
from tuneforge.runtime.names import confined, validate_name
from tuneforge.runtime.store import Store

MIGRATIONS = [
    (
        "tts_0001_samples",
        """
        CREATE TABLE tts_samples (
            name TEXT PRIMARY KEY,
            file_name TEXT NOT NULL,
            format TEXT NOT NULL,
            codec TEXT NOT NULL,
            duration_seconds REAL NOT NULL,
            sample_rate INTEGER NOT NULL,
            channels INTEGER NOT NULL,
            size_bytes INTEGER NOT NULL,
            transcript TEXT NOT NULL DEFAULT '',
            transcript_source TEXT NOT NULL DEFAULT '',
            transcript_language TEXT NOT NULL DEFAULT '',
            create_time TEXT NOT NULL,
            update_time TEXT NOT NULL
        );
        """,
    ),
    ("tts_0002_sample_warnings", "ALTER TABLE tts_samples ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';"),
]

STEREO_SPEAKERS_WARNING = (
    "its {channels} channels carry different sound (one speaker per channel, as a recorded call "
    "has?): transcription and training mix them into one voice; upload one channel per speaker")
MAX_TRANSCRIPT_CHARS = 10_000
TRANSCRIPT_SOURCES = ("", "whisper", "user")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class VoiceSample:
    name: str
    path: Path
    format: str
    codec: str
    duration_seconds: float
    sample_rate: int
    channels: int
    size_bytes: int
    transcript: str
    transcript_source: str
    transcript_language: str
    create_time: str
    update_time: str
    warnings: tuple[str, ...] = ()  # about the recording, said at upload (STEREO_SPEAKERS_WARNING)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


class SampleCatalog:
    """CRUD over voice samples. Thread-safe through the shared :class:`Store`."""

    def __init__(self, store: Store, data_root: Path | str) -> None:
        self.store = store
        self.data_root = Path(data_root)
        self.dir = self.data_root / "tts" / "samples"
        self.dir.mkdir(parents=True, exist_ok=True)
        store.migrate(MIGRATIONS)

    # ------------------------------------------------------------------ reads

    def get(self, name: str) -> VoiceSample:
        validate_name(name, "name")
        row = self.store.query_one("SELECT * FROM tts_samples WHERE name = ?", (name,))
        if row is None:
            raise not_found("sample", name)
        return self._sample(row)

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[VoiceSample], int]:
        """Samples ordered by name; ``(page, total)``."""
        if offset < 0 or limit < 0:
            raise invalid_argument("page_size", "must not be negative")
        rows = self.store.query(
            "SELECT * FROM tts_samples ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
        )
        total = self.store.query_one("SELECT COUNT(*) AS n FROM tts_samples")["n"]
        return [self._sample(r) for r in rows], int(total)

    def all(self) -> list[VoiceSample]:
        return [self._sample(r) for r in self.store.query("SELECT * FROM tts_samples ORDER BY name")]

    # ----------------------------------------------------------------- writes

    def add(self, name: str, source: Path | str, *, move: bool = False) -> VoiceSample:
        """Check ``source`` is audio and store it as sample ``name``.

        ``move=True`` renames the (already private) upload file instead of copying it.
        Raises INVALID_ARGUMENT (``INVALID_NAME`` / ``INVALID_AUDIO``), ALREADY_EXISTS.
        """
        validate_name(name, "name")
        source = Path(source)
        if self.store.query_one("SELECT 1 FROM tts_samples WHERE name = ?", (name,)):
            raise already_exists("sample", name)
        info = probe(source)  # raises INVALID_AUDIO before anything is written
        warnings = [STEREO_SPEAKERS_WARNING.format(channels=info.channels)] if info.channels_differ else []
        file_name = name if Path(name).suffix else f"{name}.{info.format}"
        final = confined(self.dir, file_name)
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=self.dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if move:
                os.replace(source, tmp)
            else:
                shutil.copyfile(source, tmp)
            stamp = now_iso()
            with self.store.transaction() as conn:
                if conn.execute("SELECT 1 FROM tts_samples WHERE name = ?", (name,)).fetchone():
                    raise already_exists("sample", name)
                if final.exists():
                    raise already_exists("sample_file", file_name)
                conn.execute(
                    "INSERT INTO tts_samples (name, file_name, format, codec, duration_seconds,"
                    " sample_rate, channels, size_bytes, create_time, update_time, warnings)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, file_name, info.format, info.codec, info.duration_seconds,
                     info.sample_rate, info.channels, info.size_bytes, stamp, stamp, json.dumps(warnings)),
                )  # fmt: skip
                os.replace(tmp, final)  # inside the transaction: a failed rename rolls back
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.get(name)

    def delete(self, name: str) -> None:
        sample = self.get(name)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM tts_samples WHERE name = ?", (name,))
        sample.path.unlink(missing_ok=True)

    def set_transcript(
        self, name: str, transcript: str, *, source: str = "user", language: str = ""
    ) -> VoiceSample:
        """Set or replace the transcript (``""`` clears it). Raises NOT_FOUND, INVALID_ARGUMENT."""
        validate_name(name, "name")
        if not isinstance(transcript, str) or len(transcript) > MAX_TRANSCRIPT_CHARS:
            raise invalid_argument(
                "transcript", f"must be a string of at most {MAX_TRANSCRIPT_CHARS} characters"
            )
        if source not in TRANSCRIPT_SOURCES:
            raise invalid_argument("transcript_source", f"must be one of {TRANSCRIPT_SOURCES}")
        text = " ".join(transcript.split())
        if not text:
            source, language = "", ""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE tts_samples SET transcript = ?, transcript_source = ?,"
                " transcript_language = ?, update_time = ? WHERE name = ?",
                (text, source, language or "", now_iso(), name),
            )
            if cur.rowcount == 0:
                raise not_found("sample", name)
        return self.get(name)

    # ---------------------------------------------------------------- helpers

    def _sample(self, row) -> VoiceSample:
        return VoiceSample(
            name=row["name"],
            path=self.dir / row["file_name"],
            format=row["format"],
            codec=row["codec"],
            duration_seconds=float(row["duration_seconds"]),
            sample_rate=int(row["sample_rate"]),
            channels=int(row["channels"]),
            size_bytes=int(row["size_bytes"]),
            transcript=row["transcript"],
            transcript_source=row["transcript_source"],
            transcript_language=row["transcript_language"],
            create_time=row["create_time"],
            update_time=row["update_time"],
            warnings=tuple(json.loads(row["warnings"] or "[]")),
        )
