"""Chunked uploads (client streaming) and downloads (server streaming).

An upload's first message carries metadata, then bytes. Bytes go to a temporary file inside
``uploads/``; the size limit is checked as bytes arrive (RESOURCE_EXHAUSTED) and the size and
SHA-256 the client announced are checked at the end (INVALID_ARGUMENT). Only a complete,
verified upload is renamed into ``uploads/<id>/<filename>``; anything else leaves nothing.
A download is :func:`send_file` (the three download RPCs share it).

A retried upload (same ``request_id``, AIP-155) is recognised from its metadata, before any
byte is written: its bytes are checked and dropped, and the first upload's answer comes back
(:func:`replayed_upload`). A partial left by a process killed mid-upload is removed at the
next start (:func:`sweep_partial_uploads`).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from tuneforge.common.v1 import common_pb2

from tuneforge.runtime.errors import invalid_argument, not_found, resource_exhausted
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.request_log import RequestLog

CHUNK_SIZE = 1024 * 1024
PARTIAL_PREFIX = ".tmp-up-"  # an upload being written (or left by a process that died)


@dataclass
class StoredUpload:
    id: str
    filename: str
    path: Path
    size_bytes: int
    sha256: str
    create_time: float


def safe_filename(name: str) -> str:
    """The last component of a client-side file name, validated."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return validate_name(base, "metadata.filename")


class IncomingUpload:
    """An upload whose metadata has been read and whose bytes have not: the caller decides
    whether to :meth:`store` them or, for a retry it has already answered, only to
    :meth:`verify` them (read, checked and thrown away, so a retry never takes disk space)."""

    def __init__(self, requests: AsyncIterator[Any], meta_msg: Any, meta: Any, max_bytes: int, metadata_field: str) -> None:
        self.requests = requests
        self.meta_msg = meta_msg
        self.meta = meta
        self.max_bytes = max_bytes
        self.metadata_field = metadata_field
        self.filename = safe_filename(meta.filename)
        self.request_id: str = meta.request_id

    async def _chunks(self) -> AsyncIterator[bytes]:
        size = 0
        async for message in self.requests:
            if message.WhichOneof("payload") != "chunk":
                raise invalid_argument(self.metadata_field, "metadata may only be sent once, first", reason="DUPLICATE_METADATA")
            size += len(message.chunk)
            if size > self.max_bytes:
                raise resource_exhausted("UPLOAD_TOO_LARGE", f"upload exceeds the limit of {self.max_bytes} bytes", limit=str(self.max_bytes))
            yield message.chunk

    def _checked(self, size: int, sha: str) -> str:
        if size == 0:
            raise invalid_argument("chunk", "the upload is empty", reason="EMPTY_UPLOAD")
        if self.meta.size_bytes and self.meta.size_bytes != size:
            raise invalid_argument("metadata.size_bytes", f"announced {self.meta.size_bytes} bytes but received {size}", reason="SIZE_MISMATCH")
        if self.meta.sha256 and self.meta.sha256.lower() != sha:
            raise invalid_argument("metadata.sha256", f"checksum mismatch: received content has sha256 {sha}", reason="CHECKSUM_MISMATCH")
        return sha

    async def verify(self) -> str:
        """Read the bytes without keeping them; check them as :meth:`store` would; the SHA-256."""
        digest, size = hashlib.sha256(), 0
        async for chunk in self._chunks():
            digest.update(chunk)
            size += len(chunk)
        return self._checked(size, digest.hexdigest())

    async def store(self, uploads_dir: Path) -> StoredUpload:
        """Write the bytes to ``uploads/.tmp-up-*`` (locked while written, so a start-up sweep
        can tell a dead process's partial from a live one's), check them, rename into place."""
        uploads_dir.mkdir(parents=True, exist_ok=True)
        upload_id = "up-" + uuid.uuid4().hex[:12]
        tmp = uploads_dir / f"{PARTIAL_PREFIX}{upload_id[3:]}"
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                async for chunk in self._chunks():
                    digest.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sha = self._checked(size, digest.hexdigest())
            final_dir = uploads_dir / upload_id
            final_dir.mkdir()
            try:
                path = final_dir / self.filename
                tmp.replace(path)
                now = time.time()
                (final_dir / "upload.json").write_text(json.dumps({"id": upload_id, "filename": self.filename, "size_bytes": size, "sha256": sha, "create_time": now}))
            except BaseException:
                shutil.rmtree(final_dir, ignore_errors=True)  # no half-made upload (a full disk)
                raise
            return StoredUpload(upload_id, self.filename, path, size, sha, now)
        finally:
            if tmp.exists():
                tmp.unlink()


async def open_upload(
    requests: AsyncIterator[Any],
    max_bytes: int,
    *,
    metadata_field: str = "metadata",
    unwrap: Any = None,
) -> IncomingUpload:
    """Read an upload stream's first message (its metadata) and check it; no byte is read yet.

    ``unwrap(meta)`` returns the ``UploadMetadata`` inside a richer first message.
    """
    first = None
    async for message in requests:
        first = message
        break
    if first is None or first.WhichOneof("payload") != metadata_field:
        raise invalid_argument(metadata_field, "the first message must carry the metadata", reason="MISSING_METADATA")
    meta_msg = getattr(first, metadata_field)
    meta = unwrap(meta_msg) if unwrap else meta_msg
    incoming = IncomingUpload(requests, meta_msg, meta, max_bytes, metadata_field)
    if meta.size_bytes < 0:
        raise invalid_argument("metadata.size_bytes", "must not be negative")
    if meta.size_bytes > max_bytes:
        raise resource_exhausted("UPLOAD_TOO_LARGE", f"upload of {meta.size_bytes} bytes exceeds the limit of {max_bytes} bytes", limit=str(max_bytes))
    return incoming


async def receive_upload(
    requests: AsyncIterator[Any],
    uploads_dir: Path,
    max_bytes: int,
    *,
    metadata_field: str = "metadata",
    unwrap: Any = None,
) -> tuple[StoredUpload, Any]:
    """Consume an upload stream; return the stored upload and the first message's metadata."""
    incoming = await open_upload(requests, max_bytes, metadata_field=metadata_field, unwrap=unwrap)
    return await incoming.store(uploads_dir), incoming.meta_msg


async def replayed_upload(incoming: IncomingUpload, requests: RequestLog, cls: type[Message]) -> Message | None:
    """The answer the first upload with this request id got (AIP-155), or None for a new one.

    A retry's bytes are read and checked but never stored; a retry whose content differs from
    the first upload's is refused (:meth:`RequestLog.replay`), never answered with the old one.
    """
    if not incoming.request_id or not requests.seen(incoming.request_id):
        return None
    return requests.replay(incoming.request_id, cls, fingerprint=await incoming.verify())


def remember_upload(
    requests: RequestLog, incoming: IncomingUpload, upload: StoredUpload, response: Message,
    uploads_dir: Path, cls: type[Message],
) -> Message:
    """Record ``response`` as the answer to the upload's request id and return it; when a
    concurrent call with the same id recorded first, this copy is removed and that answer
    (same content) or its refusal (different content) is returned instead."""
    requests.record(incoming.request_id, response, fingerprint=upload.sha256)
    recorded = requests.replay(incoming.request_id, cls, fingerprint=upload.sha256)
    if recorded is not None and recorded != response:
        delete_upload(uploads_dir, upload.id)
        return recorded
    return response


def sweep_partial_uploads(uploads_dir: Path) -> int:
    """Remove the ``.tmp-up-*`` partials of uploads whose process died (a kill mid-upload);
    a partial still being written is locked by its writer and kept. Called at server start."""
    removed = 0
    if not uploads_dir.is_dir():
        return removed
    for tmp in uploads_dir.glob(f"{PARTIAL_PREFIX}*"):
        try:
            with open(tmp, "rb") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tmp.unlink()
                removed += 1
        except (BlockingIOError, FileNotFoundError):
            continue
    return removed


def find_upload(uploads_dir: Path, upload_id: str, field_name: str = "upload_id") -> StoredUpload:
    if not upload_id:
        raise invalid_argument(field_name, "is required")
    validate_name(upload_id, field_name)
    meta_path = uploads_dir / upload_id / "upload.json"
    if not meta_path.exists():
        raise not_found("upload", upload_id)
    meta = json.loads(meta_path.read_text())
    return StoredUpload(meta["id"], meta["filename"], uploads_dir / upload_id / meta["filename"], meta["size_bytes"], meta["sha256"], meta["create_time"])


def delete_upload(uploads_dir: Path, upload_id: str) -> None:
    shutil.rmtree(uploads_dir / validate_name(upload_id, "upload_id"), ignore_errors=True)


def sweep_uploads(uploads_dir: Path, max_age_seconds: float, keep: set[str], now: float | None = None) -> list[str]:
    """Delete uploads older than ``max_age_seconds`` except the ids in ``keep`` (those a
    queued or running job still reads) and interrupted temp files; return the ids removed."""
    now = time.time() if now is None else now
    removed: list[str] = []
    if not uploads_dir.is_dir():
        return removed
    for entry in uploads_dir.iterdir():
        name = entry.name
        if name in keep:
            continue
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < max_age_seconds:
            continue
        if entry.is_dir() and name.startswith("up-"):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(name)
        elif entry.is_file() and name.startswith(PARTIAL_PREFIX):
            entry.unlink(missing_ok=True)
    return removed


def _hash_open_file(fh: Any) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    fh.seek(0)
    return size, digest.hexdigest()


async def send_file(
    path: Path, response_cls: Any, *, filename: str, content_type: str = "",
    size_bytes: int | None = None, sha256: str | None = None, chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[Any]:
    """A download stream: ``response_cls(metadata=DownloadMetadata)``, then ``chunk`` messages.

    The file is opened once and hashed (unless ``size_bytes`` and ``sha256`` are given) and
    sent from that one handle, so a concurrent delete or replace cannot tear the stream or
    make the checksum lie; every read runs in a thread, so a slow disk never blocks the loop.
    """
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        if size_bytes is None or sha256 is None:
            size_bytes, sha256 = await asyncio.to_thread(_hash_open_file, fh)
        yield response_cls(metadata=common_pb2.DownloadMetadata(
            filename=filename, size_bytes=size_bytes, sha256=sha256, content_type=content_type))
        while chunk := await asyncio.to_thread(fh.read, chunk_size):
            yield response_cls(chunk=chunk)
    finally:
        fh.close()
