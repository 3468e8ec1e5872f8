"""The components' SQL, written once in SQLite's dialect, said in PostgreSQL's.

Every component keeps one list of named migrations and one set of statements for both
backends (``store.py``, ``store_pg.py``); this module is the whole difference, kept small by
keeping the SQL plain. What it rewrites for PostgreSQL:

- placeholders ``?`` → ``%s`` (and a literal ``%`` → ``%%``), outside quoted text;
- ``INSERT OR IGNORE`` → ``INSERT … ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` →
  ``INSERT … ON CONFLICT (primary key) DO UPDATE SET`` every inserted column;
- in migrations: ``INTEGER PRIMARY KEY AUTOINCREMENT`` → ``BIGSERIAL PRIMARY KEY``,
  ``INTEGER`` → ``BIGINT`` (sizes in bytes pass 2**31), ``BLOB`` → ``BYTEA``, ``REAL`` → ``DOUBLE PRECISION``
  (``time.time()`` keeps its microseconds), and every other table gains SQLite's implicit
  ``rowid`` as a ``BIGSERIAL`` column, so ``ORDER BY …, rowid`` means insertion order on both;
- ``json_extract(doc, '$.a.b')`` is a SQL function the PostgreSQL store creates.

Statements beyond this (``PRAGMA``, ``MAX(a, b)`` with two arguments, ``GLOB``) are not
portable: components do not use them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+([A-Za-z_][A-Za-z_0-9]*)\s*\(([^)]*)\)",
                        re.IGNORECASE | re.DOTALL)  # fmt: skip
_AUTOINCREMENT = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z_0-9]*)\s*\(",
                           re.IGNORECASE)  # fmt: skip

JSON_EXTRACT_FUNCTION = """
CREATE OR REPLACE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT AS $$
    SELECT (doc::jsonb) #>> string_to_array(substr(path, 3), '.')
$$ LANGUAGE SQL IMMUTABLE
"""


def _outside_quotes(sql: str, change: Callable[[str], str]) -> str:
    """Apply ``change`` to the parts of ``sql`` that are not quoted text or names."""
    out, i, n = [], 0, len(sql)
    while i < n:
        quote = next((q for q in ("'", '"') if sql.startswith(q, i)), None)
        if quote is None:
            j = min([k for k in (sql.find("'", i), sql.find('"', i)) if k >= 0] or [n])
            out.append(change(sql[i:j]))
            i = j
            continue
        j = i + 1
        while True:
            k = sql.find(quote, j)
            if k < 0:
                k = n - 1
                break
            if sql.startswith(quote * 2, k):
                j = k + 2
                continue
            break
        out.append(sql[i:k + 1].replace("%", "%%"))
        i = k + 1
    return "".join(out)


def placeholders(sql: str) -> str:
    return _outside_quotes(sql, lambda part: part.replace("%", "%%").replace("?", "%s"))


def statement(sql: str, primary_key: Callable[[str], list[str]]) -> str:
    """One DML/query statement in PostgreSQL's dialect (``primary_key(table)`` names a
    table's key columns, for ``INSERT OR REPLACE``)."""
    match = _INSERT_OR.match(sql)
    if match:
        verb, table, columns = match.group(1).upper(), match.group(2), match.group(3)
        rest = sql[match.end():].rstrip().rstrip(";")
        head = f"INSERT INTO {table}({columns})"
        if verb == "IGNORE":
            sql = f"{head}{rest} ON CONFLICT DO NOTHING"
        else:
            key = primary_key(table)
            names = [c.strip() for c in columns.split(",") if c.strip()]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in key)
            action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            sql = f"{head}{rest} ON CONFLICT ({', '.join(key)}) {action}"
    return placeholders(sql)


def _ddl_types(part: str) -> str:
    part = _AUTOINCREMENT.sub("BIGSERIAL PRIMARY KEY", part)
    part = re.sub(r"\bINTEGER\b", "BIGINT", part, flags=re.IGNORECASE)
    part = re.sub(r"\bBLOB\b", "BYTEA", part, flags=re.IGNORECASE)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", part, flags=re.IGNORECASE)


def migration_statement(sql: str) -> str:
    """One migration statement (DDL, or DML moving rows) in PostgreSQL's dialect."""
    match = _CREATE_TABLE.match(sql)
    if match and not _AUTOINCREMENT.search(sql):
        sql = sql[:match.end()] + "rowid BIGSERIAL, " + sql[match.end():]
    if match or re.match(r"^\s*ALTER\s+TABLE", sql, re.IGNORECASE):
        sql = _outside_quotes(sql, _ddl_types)
    return statement(sql, lambda table: [])
