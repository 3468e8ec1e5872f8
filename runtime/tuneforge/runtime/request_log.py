"""AIP-155 request ids for creates that are not jobs (an import, an upload, a registration).

Jobs keep their request id on the job row (``JobEngine.create``). Other creates store the
response they sent under ``<service>:<request_id>``; a retry with the same id gets that
response again instead of a second dataset/upload/adapter (or an ALREADY_EXISTS for the
first one). Only successful responses are stored: a failed create may be retried as new.

A create may store a fingerprint of what it was asked (an upload: its SHA-256); a retry
whose fingerprint differs reuses the id for something else and is refused with
ALREADY_EXISTS (``REQUEST_ID_REUSED``) rather than answered with the first response.
"""

from __future__ import annotations

import time

from google.protobuf.message import Message

from tuneforge.runtime.errors import Code, TuneforgeError, invalid_argument
from tuneforge.runtime.store import Store

MIGRATIONS = [
    ("runtime_0001_request_log",
     "CREATE TABLE request_log (key TEXT PRIMARY KEY, type TEXT NOT NULL, response BLOB NOT NULL,"
     " create_time REAL NOT NULL);"),
    ("runtime_0002_request_log_fingerprint", "ALTER TABLE request_log ADD COLUMN fingerprint TEXT;"),
]
MAX_REQUEST_ID = 128


class RequestLog:
    def __init__(self, store: Store, service: str) -> None:
        self.store = store
        self.service = service
        store.migrate(MIGRATIONS)

    def _key(self, request_id: str) -> str:
        if len(request_id) > MAX_REQUEST_ID:
            raise invalid_argument("request_id", f"at most {MAX_REQUEST_ID} characters")
        return f"{self.service}:{request_id}"

    def seen(self, request_id: str) -> bool:
        """Whether a create with ``request_id`` has been answered."""
        if not request_id:
            return False
        return self.store.query_one("SELECT 1 FROM request_log WHERE key = ?", (self._key(request_id),)) is not None

    def replay(self, request_id: str, cls: type[Message], fingerprint: str | None = None) -> Message | None:
        """The response an earlier call with ``request_id`` got, or None; with a
        ``fingerprint``, an earlier call that stored a different one is refused."""
        if not request_id:
            return None
        row = self.store.query_one("SELECT type, response, fingerprint FROM request_log WHERE key = ?", (self._key(request_id),))
        if row is None or row["type"] != cls.DESCRIPTOR.full_name:
            return None
        if fingerprint is not None and row["fingerprint"] and row["fingerprint"] != fingerprint:
            raise TuneforgeError(
                Code.ALREADY_EXISTS, "REQUEST_ID_REUSED",
                f"request_id {request_id!r} was used by an earlier call with different content; use a new request_id",
                metadata={"request_id": request_id},
            )
        return cls.FromString(row["response"])

    def record(self, request_id: str, response: Message, fingerprint: str | None = None) -> Message:
        if request_id:
            self.store.execute(
                "INSERT OR IGNORE INTO request_log(key, type, response, create_time, fingerprint) VALUES (?, ?, ?, ?, ?)",
                (self._key(request_id), response.DESCRIPTOR.full_name, response.SerializeToString(), time.time(), fingerprint),
            )
        return response
