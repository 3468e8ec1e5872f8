"""Moving an install's state from SQLite to PostgreSQL (``tuneforge admin migrate-store``).

The data root's ``state.db`` is first brought up to this version's schema (what starting a
server does), the empty PostgreSQL database gets the same named migrations, and every table's
rows are copied in one PostgreSQL transaction (SQLite's ``rowid`` with them, so insertion
order is kept, and each serial column's sequence continues after the copied ids). The row
counts of every table are compared before the commit; a database that already holds tables
is refused, so a second run cannot mix two installs. Each job's ``events.jsonl`` goes into
``job_events``, the log the replicas replay on PostgreSQL. The data root's files (datasets,
adapters, jobs) stay where they are: the replicas mount the same data root.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import failed_precondition
from tuneforge.runtime.paths import STATE_DB
from tuneforge.runtime.store import Store
from tuneforge.runtime.store_pg import PgStore

# Every component's migrations, in the order a server applies them (a component whose
# package is not installed here is skipped: its tables, if any, are copied as they are).
COMPONENTS = (
    "tuneforge.runtime.jobs.store", "tuneforge.runtime.request_log",
    "tuneforge.services.dataset.catalog", "tuneforge.services.trainer.stored_config",
    "tuneforge.services.tts.samples", "tuneforge.services.tts.config",
    "tuneforge.services.registry.adapters", "tuneforge.services.registry.activation_records",
    "tuneforge.services.registry.evaluations", "tuneforge.services.registry.audits",
    "tuneforge.services.registry.lineage", "tuneforge.services.registry.models",
    "tuneforge.services.registry.conformance", "tuneforge.services.registry.thinking",
)  # fmt: skip
BATCH = 500


def migration_lists() -> list[list[tuple[str, str]]]:
    lists = []
    for name in COMPONENTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        lists.append(module.MIGRATIONS)
    return lists


def move(root: Path, url: str) -> dict[str, int]:
    """Copy ``root``'s state.db into the empty database at ``url``; rows per table."""
    path = Path(root) / STATE_DB
    if not path.is_file():
        raise failed_precondition("NO_STATE_DB", f"{path} does not exist: nothing to move (is {root} a data root?)")
    source = Store(path)
    target = PgStore(url)
    try:
        _refuse_non_empty(target)
        for migrations in migration_lists():
            source.migrate(migrations)
        for migrations in migration_lists():
            target.migrate(migrations)
        counts = _copy(source, target)
        counts["job_events"] = _copy_event_logs(Path(root), target)
        return counts
    finally:
        source.close()
        target.close()


def _tables(source: Store) -> list[str]:
    rows = source.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                        " AND name != 'schema_migrations' ORDER BY name")  # fmt: skip
    return [r["name"] for r in rows]


def _refuse_non_empty(target: PgStore) -> None:
    tables = [r[0] for r in target.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_name != 'schema_migrations'")]  # fmt: skip
    applied = target.query_one("SELECT COUNT(*) FROM schema_migrations")[0]
    if tables or applied:
        raise failed_precondition(
            "TARGET_NOT_EMPTY",
            f"the database {target.path} is not empty ({len(tables)} tables: {', '.join(sorted(tables)[:8])}); "
            "migrate-store copies into an empty database only: create a new one (createdb) and name it",
            database=target.path,
        )


def _copy(source: Store, target: PgStore) -> dict[str, int]:
    counts: dict[str, int] = {}
    with target.transaction() as conn:
        for table in _tables(source):
            pg_columns = _pg_columns(conn, table)
            if not pg_columns:
                raise failed_precondition("UNKNOWN_TABLE", f"state.db has a table {table} this version does not create")
            sqlite_columns = [r["name"] for r in source.query(f'PRAGMA table_info("{table}")')]
            columns = [c for c in sqlite_columns if c in pg_columns]
            select = ", ".join(f'"{c}"' for c in columns)
            if "rowid" in pg_columns and "rowid" not in columns:
                columns, select = ["rowid", *columns], f"rowid, {select}"
            insert = f'INSERT INTO {table}({", ".join(columns)}) VALUES ({", ".join(["%s"] * len(columns))})'
            rows = source.query(f'SELECT {select} FROM "{table}" ORDER BY rowid')
            with conn.raw.cursor() as cur:
                for start in range(0, len(rows), BATCH):
                    cur.executemany(insert, [tuple(r) for r in rows[start:start + BATCH]])
            _continue_sequences(conn, table, pg_columns)
            copied = conn.raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if copied != len(rows):
                raise failed_precondition("COUNT_MISMATCH", f"{table}: {len(rows)} rows in state.db, {copied} copied")
            counts[table] = copied
    return counts


def _copy_event_logs(root: Path, target: PgStore) -> int:
    """Each job's events.jsonl into ``job_events`` (on PostgreSQL the table is the log every
    replica replays); a line cut by a crash is skipped, as the SQLite engine skips it."""
    from tuneforge.runtime.jobs.events import EventLog

    copied = 0
    reader = EventLog.__new__(EventLog)
    reader.jobs_dir = root / "jobs"
    reader.store = type("_FileOnly", (), {"shared": False})()  # type: ignore[assignment]
    with target.transaction() as conn:
        for row in conn.execute("SELECT id FROM jobs ORDER BY rowid").fetchall():
            events = reader.read_file(row["id"])
            with conn.raw.cursor() as cur:
                cur.executemany(
                    "INSERT INTO job_events(job_id, seq, time, type, data) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(row["id"], e.seq, e.time, e.type, json.dumps(e.data, ensure_ascii=False, default=str))
                     for e in events],
                )  # fmt: skip
            copied += len(events)
    return copied


def _pg_columns(conn: Any, table: str) -> dict[str, str]:
    rows = conn.raw.execute("SELECT column_name, COALESCE(column_default, '') FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()  # fmt: skip
    return {r[0]: r[1] for r in rows}


def _continue_sequences(conn: Any, table: str, columns: dict[str, str]) -> None:
    for column, default in columns.items():
        if default.startswith("nextval("):
            conn.raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                             f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")  # fmt: skip

