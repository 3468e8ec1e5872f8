"""A lock that holds within a process and, on PostgreSQL, across replicas on every host.

In-process it is an ``asyncio.Lock``. On PostgreSQL it also takes a session advisory lock
(``pg_advisory_lock`` keyed by a name, on a connection of its own, waited for in a thread so
the event loop runs on); the database drops it when the holder dies. ``on_acquire`` runs once
the lock is held across replicas: what another replica changed meanwhile is read again there.
The registry's one-activation-at-a-time rule per vLLM target is such a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any


def advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class StoreLock:
    def __init__(self, store: Any, name: str, on_acquire: Callable[[], None] | None = None) -> None:
        self.store = store
        self.name = name
        self.key = advisory_key(name)
        self.shared = getattr(store, "dialect", "sqlite") == "postgresql"
        self.on_acquire = on_acquire
        self._local = asyncio.Lock()
        self._conn: Any = None

    def locked(self) -> bool:
        return self._local.locked()

    async def __aenter__(self) -> StoreLock:
        await self._local.acquire()
        if not self.shared:
            return self
        try:
            self._conn = await asyncio.to_thread(self._take)
            if self.on_acquire:
                self.on_acquire()
        except BaseException:
            self._drop()
            self._local.release()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            self._drop()
        finally:
            self._local.release()

    def _take(self) -> Any:
        conn = self.store.connect()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing the session frees it anyway
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            with contextlib.suppress(Exception):
                conn.close()
