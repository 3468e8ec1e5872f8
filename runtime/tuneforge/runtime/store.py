"""The store: SQLite under the data root (``state.db``, WAL mode) by default, PostgreSQL when
``database_url`` names one (``store_pg.PgStore``, the same interface); :func:`open_store`
picks. Named migrations, one set for both backends (``store_sql`` says them in PostgreSQL's).

Each component owns its tables and declares them as an ordered list of named migrations
(``[("registry_0001_adapters", "CREATE TABLE ...")]``); :meth:`Store.migrate` applies the
ones not yet recorded in ``schema_migrations``, each in its own transaction, so adding a
migration to a list upgrades an existing data root in place.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuneforge.runtime.store_errors import corrupt, unusable

Migration = tuple[str, str]
IntegrityError = sqlite3.IntegrityError  # both backends raise this (PostgreSQL's a subclass)
BUSY_TIMEOUT_SECONDS = 30.0  # how long a statement waits for a lock another process holds


class Store:
    """One shared connection guarded by a lock; calls are short, so this is enough.

    ``single_server``: a file under one data root serves one server per service (the
    server takes ``server_lock.ServerLock``); a store shared by replicas would say False.
    """

    single_server = True
    dialect = "sqlite"
    url = ""

    def __init__(self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        """Open (and create) the database; a corrupt, locked or unreadable file raises a
        FAILED_PRECONDITION that says so (``store_errors``), never a raw sqlite3 error."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=busy_timeout
            )
        except sqlite3.Error as exc:  # a directory where the file should be, no permission
            raise unusable(self.path, exc, busy_timeout) from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
            )
        except sqlite3.Error as exc:
            self._conn.close()
            raise unusable(self.path, exc, busy_timeout) from None

    def check(self) -> None:
        """What a server does before serving from the database: read every page's structure
        (``quick_check``) and take the write lock once (another process holding it longer
        than the busy timeout is named). Raises like the constructor."""
        try:
            with self._lock:
                problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)")]
                if problems != ["ok"]:
                    raise corrupt(self.path, "; ".join(problems))
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise unusable(self.path, exc, self.busy_timeout) from None

    def migrate(self, migrations: Iterable[Migration]) -> list[str]:
        """Apply the migrations not applied yet; return the names applied now."""
        applied: list[str] = []
        with self._lock:
            done = {r["name"] for r in self._conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in migrations:
                if name in done:
                    continue
                with self.transaction() as conn:
                    _exec_script(conn, sql)
                    conn.execute("INSERT INTO schema_migrations(name) VALUES (?)", (name,))
                applied.append(name)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error), serialised. A
        transaction opened inside another (same thread) joins it."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite rolls back by itself on SQLITE_FULL: keep that error
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_store(root: Path, database_url: str = "", busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> Any:
    """The store a server or a worker uses: PostgreSQL when ``database_url`` (or, for a
    worker, ``$TUNEFORGE_DATABASE_URL``) names one, else ``<root>/state.db``."""
    import os

    from tuneforge.runtime.paths import STATE_DB

    url = database_url or os.environ.get("TUNEFORGE_DATABASE_URL", "")
    if url:
        from tuneforge.runtime.store_pg import POOL_TIMEOUT_SECONDS, PgStore

        return PgStore(url, timeout=min(busy_timeout, POOL_TIMEOUT_SECONDS))
    return Store(Path(root) / STATE_DB, busy_timeout=busy_timeout)


def _exec_script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT the open transaction; run statements one by one instead.
    for statement in split_statements(sql):
        conn.execute(statement)


def split_statements(sql: str) -> list[str]:
    statements, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
