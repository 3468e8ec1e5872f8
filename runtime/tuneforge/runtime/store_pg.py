"""The PostgreSQL store (``database_url = "postgresql://…"``): the same interface as the
SQLite :class:`~tuneforge.runtime.store.Store`, for services on several hosts or replicas.

Connections come from a ``psycopg_pool`` pool, in autocommit; :meth:`transaction` holds one
connection for the calling thread, and the store's other calls on that thread join it (as
SQLite's re-entrant lock does). The components' SQL is SQLite's, translated by
``store_sql``; rows answer ``row["name"]`` and ``row[0]`` alike.

A database that cannot be reached (down, restarting, refusing) is UNAVAILABLE with the
stable reason ``DATABASE_UNAVAILABLE``: the RPC that met it fails, the server stays up, and
the next call gets a fresh connection (the pool drops broken ones). A statement outside a
transaction that met a broken connection is tried once more on a new one.

Migrations: the same named lists as SQLite, applied under an advisory lock so replicas
starting together apply each once.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tuneforge.runtime import store_sql
from tuneforge.runtime.errors import TuneforgeError, unavailable

MIGRATE_LOCK = 7_244_000_001  # pg_advisory lock key: one migrating replica at a time
POOL_TIMEOUT_SECONDS = 2.0  # how long a call waits for a connection: an RPC fails fast when the database is down


class IntegrityError(sqlite3.IntegrityError):
    """A constraint violation in PostgreSQL, caught where SQLite's would be
    (``except store.IntegrityError``)."""


class Row(tuple):  # type: ignore[type-arg]
    """A result row readable by column name or by position (as ``sqlite3.Row``)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in (cursor.description or [])]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(values, index)


class Result:
    """What ``execute`` returns: the rows read at once (the connection goes back to the pool)."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Row]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class PgConnection:
    """The connection :meth:`PgStore.transaction` yields: ``execute`` as on sqlite3's."""

    def __init__(self, store: PgStore, conn: Any) -> None:
        self._store = store
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._store._errors():
            return self._store._run(self.raw, sql, params)


class PgStore:
    single_server = False  # replicas share it: no per-data-root server lock
    dialect = "postgresql"

    def __init__(self, url: str, *, max_connections: int = 8, timeout: float = POOL_TIMEOUT_SECONDS) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self.path = redact(url)
        self._psycopg = psycopg
        self._local = threading.local()
        self._keys: dict[str, list[str]] = {}
        self.timeout = timeout
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, timeout=timeout, open=False,
            kwargs={"autocommit": True, "row_factory": _row_factory, "connect_timeout": max(1, int(timeout))},
            check=ConnectionPool.check_connection, reconnect_timeout=24 * 3600,
        )  # fmt: skip
        self._pool.open(wait=False)
        with self._errors():
            self._pool.wait(timeout=max(timeout, 10.0))  # at start, a slow first connection is no outage
            with self._pool.connection() as conn, conn.transaction():  # replicas starting together: one at a time
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                if not self._has_json_extract(conn):
                    conn.execute(store_sql.JSON_EXTRACT_FUNCTION)
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")

    @staticmethod
    def _has_json_extract(conn: Any) -> bool:
        return conn.execute("SELECT 1 FROM pg_proc WHERE proname = 'json_extract'").fetchone() is not None

    # ------------------------------------------------------------------ errors
    @contextmanager
    def _errors(self) -> Iterator[None]:
        from psycopg_pool import PoolTimeout

        try:
            yield
        except self._psycopg.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None
        except (self._psycopg.OperationalError, PoolTimeout) as exc:
            raise self.unavailable(exc) from None

    def unavailable(self, exc: BaseException) -> TuneforgeError:
        detail = " ".join(str(exc).split())[:300]
        return unavailable(
            "DATABASE_UNAVAILABLE",
            f"the database {self.path} cannot be reached ({detail}); the request can be retried once it is back",
            database=self.path,
        )

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, TuneforgeError) and exc.reason == "DATABASE_UNAVAILABLE"

    # ------------------------------------------------------------------ the interface
    def check(self) -> None:
        self.query_one("SELECT 1")

    def migrate(self, migrations: Iterable[Migration]) -> list[str]:
        applied: list[str] = []
        pending = list(migrations)
        done = {r["name"] for r in self.query("SELECT name FROM schema_migrations")}
        if all(name in done for name, _ in pending):
            return applied
        from tuneforge.runtime.store import split_statements

        with self.transaction() as conn:
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            done = {r["name"] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in pending:
                if name in done:
                    continue
                for part in split_statements(sql):
                    conn.raw.execute(store_sql.migration_statement(part), ())
                conn.raw.execute("INSERT INTO schema_migrations(name) VALUES (%s)", (name,))
                applied.append(name)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        current: PgConnection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._errors(), self._pool.connection() as raw:
            conn = PgConnection(self, raw)
            self._local.conn = conn
            try:
                with raw.transaction():
                    yield conn
            finally:
                self._local.conn = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        current: PgConnection | None = getattr(self._local, "conn", None)
        if current is not None:
            return current.execute(sql, params)
        with self._errors():
            try:
                with self._pool.connection() as raw:
                    return self._run(raw, sql, params)
            except self._psycopg.OperationalError:  # a connection broken under us (a restart): once more
                with self._pool.connection() as raw:
                    return self._run(raw, sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.execute(sql, params).fetchone()

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A raw psycopg connection of the pool (advisory locks, LISTEN), autocommit."""
        with self._errors(), self._pool.connection() as raw:
            yield raw

    def connect(self) -> Any:
        """A connection of its own, outside the pool (held for a process's life: LISTEN, session locks)."""
        with self._errors():
            return self._psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                         connect_timeout=max(1, int(self.timeout)))  # fmt: skip

    # ------------------------------------------------------------------ running one statement
    def _run(self, raw: Any, sql: str, params: Sequence[Any]) -> Result:
        text = store_sql.statement(sql, self._primary_key)
        values = tuple(int(v) if isinstance(v, bool) else v for v in params)
        inserting = text.lstrip()[:6].upper() == "INSERT" and "RETURNING" not in text.upper()
        if inserting:
            text += " RETURNING *"
        cur = raw.execute(text, values)
        rows = cur.fetchall() if cur.description else []
        rowcount = cur.rowcount
        lastrowid = None
        if inserting:
            last = rows[-1] if rows else None
            lastrowid = last[("rowid" if "rowid" in last._index else "id")] if last is not None and (
                "rowid" in last._index or "id" in last._index) else None  # fmt: skip
            rows = []
        return Result(rows, rowcount, lastrowid)

    def _primary_key(self, table: str) -> list[str]:
        if table not in self._keys:
            with self._pool.connection() as raw:
                rows = raw.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                    (table,),
                ).fetchall()
            self._keys[table] = [r[0] for r in rows]
        return self._keys[table]


Migration = tuple[str, str]
