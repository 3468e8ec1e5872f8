"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary directory, started on a
free loopback port with a private socket directory, tuned for speed (``fsync=off``: a test
cluster is never worth keeping), and one fresh database per test.

``initdb`` refuses to run as root; as root the cluster runs as the ``postgres`` user (the
Debian package creates it), its directory handed over to that user. Without the binaries
(``initdb``/``pg_ctl`` on PATH or under /usr/lib/postgresql/*/bin) :func:`find_binaries`
returns None and the fixtures skip with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

# fsync=off survives a killed server (the WAL is in the OS's cache), not a lost machine: fine
# for tests. synchronous_commit=off would lose commits already acknowledged when the server is
# killed, so a cluster a test kills (``durable=True``) keeps it on.
FAST_SETTINGS = ("-c fsync=off -c full_page_writes=off -c max_connections=200"
                 " -c shared_buffers=16MB -c listen_addresses=127.0.0.1")  # fmt: skip
NOT_DURABLE = " -c synchronous_commit=off"
MISSING = "PostgreSQL is not installed (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin)"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK) and os.access(Path(candidate) / "pg_ctl", os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One private cluster: :meth:`start`, :meth:`create_database` per test, :meth:`stop`."""

    def __init__(self, base: Path | None = None, bindir: Path | None = None, user: str = "tuneforge",
                 durable: bool = False) -> None:
        # As root, the postgres user must reach the directory: a fresh one in the temp dir,
        # open to traverse (pytest's own temporary directories are private to root).
        self.base = Path(base) if base else Path(tempfile.mkdtemp(prefix="tuneforge-pg-"))
        if base is None:
            os.chmod(self.base, 0o755)
        self.bindir = bindir or find_binaries()
        if self.bindir is None:
            raise RuntimeError(MISSING)
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "postgres.log"
        self.user = user
        self.durable = durable
        self.port = 0
        self._as_root = os.geteuid() == 0

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def start(self) -> PostgresCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._as_root:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sockets, "postgres")
            os.chmod(self.base, 0o755)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync")
        self.port = self.port or free_port()
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} {FAST_SETTINGS}" + ("" if self.durable else NOT_DURABLE)
        done = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60",
                         "start", check=False)  # fmt: skip
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """Stop (immediate: connections drop as in a crash) and start again on the same port."""
        self.stop("immediate")
        self._pg_ctl_start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str = "", template: str = "") -> str:
        """A new database (empty, or a copy of ``template``); its URL."""
        import psycopg

        name = name or "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def migrated_template(self, name: str = "tuneforge_template") -> str:
        """A database with every component's migrations applied, to copy per test (a copy
        is faster than migrating each one); its name. Made once per cluster."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return name
        from tuneforge.runtime.store_move import migration_lists
        from tuneforge.runtime.store_pg import PgStore

        store = PgStore(self.create_database(name))
        try:
            for migrations in migration_lists():
                store.migrate(migrations)
        finally:
            store.close()
        return name

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop("immediate")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
