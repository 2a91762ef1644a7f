"""The hub's database behind one small adapter: SQLite (a file, the default) or PostgreSQL (a URL).

The hub's SQL is written once, with ``?`` placeholders and statements both engines accept
(``INSERT ... ON CONFLICT``, no pragmas, no SQLite-only types); :class:`Database` runs it on the
connection the replica owns, so the hub's tables and the replica change in the same transaction.
What differs between the two is said here and nowhere else:

- **transactions**: a writer's unit of work is the replica's transaction (SQLite: ``BEGIN
  IMMEDIATE``; PostgreSQL: the schema's writer lock, one writer at a time across processes).
  Reads (:meth:`Database.reading`) need one consistent view: on SQLite the hub's one connection
  already gives it; on PostgreSQL they run in REPEATABLE READ snapshots beside the writers. Long
  reads (pulls, engine plans) run on a second connection (:func:`open_reader`): a SQLite reader
  in WAL mode, a PostgreSQL REPEATABLE READ READ ONLY snapshot, both beside the writer.
- **once across processes** (:meth:`Database.exclusive`): a background engine round runs in one
  worker only (``pg_try_advisory_lock``); a SQLite hub is one process, so it always may.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sync.registry import Registry
from sync.store import SqliteReplica, SqlReplica

log = logging.getLogger(__name__)

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database (a libpq URL) rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def as_location(value: str | Path) -> str | Path:
    """A database setting as the hub keeps it: a URL stays a string, anything else is a file path."""
    return value if is_url(value) else Path(value)


def describe(location: str | Path) -> str:
    """The location as it may be printed: a URL without its password."""
    if not is_url(location):
        return str(location)
    parts = urlsplit(str(location))
    if parts.password is None:
        return str(location)
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_replica(location: str | Path, node: str | None, registry: Registry, *, max_ahead_ms: int) -> SqlReplica:
    """Open (creating if needed) the replica at a file path or a PostgreSQL URL."""
    if is_url(location):
        from sync.store.postgres import PostgresReplica  # psycopg is needed only here

        return PostgresReplica.open(str(location), node, registry, max_ahead_ms=max_ahead_ms)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteReplica.open(path, node, registry, max_ahead_ms=max_ahead_ms)


def open_reader(location: str | Path, registry: Registry, *, max_ahead_ms: int) -> SqlReplica:
    """A second connection to an existing replica, for reads in snapshots beside its writer."""
    if is_url(location):
        from sync.store.postgres import PostgresReplica

        return PostgresReplica.open(str(location), None, registry, max_ahead_ms=max_ahead_ms)
    return SqliteReplica.open_reader(Path(location), registry, max_ahead_ms=max_ahead_ms)


def exists(location: str | Path) -> bool:
    """Whether a hub database is already there (an administrator's mistyped path must not
    silently create an empty hub)."""
    if not is_url(location):
        return Path(location).exists()
    import psycopg

    with psycopg.connect(str(location), autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                           "AND table_name = 'devices'").fetchone()
    return row is not None


class Database:
    """Runs the hub's SQL on the replica's connection. ``dialect`` is ``sqlite`` or ``postgresql``."""

    dialect = "sqlite"

    def __init__(self, replica: SqlReplica) -> None:
        self.replica = replica

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders); returns a cursor: ``fetchone``, ``fetchall``, rows."""
        return self.replica._execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.replica._executemany(sql, rows)

    def reading(self) -> AbstractContextManager[None]:
        """One consistent view for several reads (no writes)."""
        return nullcontext()

    def take_over_checkpoints(self) -> WalCheckpointer | None:
        """While the hub serves: checkpoint the WAL on a thread of its own (see WalCheckpointer);
        None where the database does its own (PostgreSQL). Call, and stop it, under the store's lock."""
        return WalCheckpointer(self).start()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Yields whether this process may do ``name`` now, no other process doing it meanwhile."""
        yield True


class WalCheckpointer:
    """Copies a SQLite hub's WAL into its file every ``interval_s``, on a connection and thread of
    its own, while the hub serves. Left to SQLite, the copy runs in whichever commit crosses the
    WAL's size threshold, and that commit (a push slice) waits 25-40 ms for the file's fsync. A
    PASSIVE checkpoint waits for no reader and no writer."""

    def __init__(self, database: Database, interval_s: float = 0.5) -> None:
        self.database = database
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fieldsync-checkpoint", daemon=True)
        self._path = database.execute("PRAGMA database_list").fetchone()[2]

    def start(self) -> WalCheckpointer:
        self.database.execute("PRAGMA wal_autocheckpoint=0")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.database.execute("PRAGMA wal_autocheckpoint=1000")  # SQLite's default again

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            while not self._stop.wait(self.interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.exception("WAL checkpoint failed; retrying at the next tick")
        finally:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            conn.close()


class PostgresDatabase(Database):
    dialect = "postgresql"

    def take_over_checkpoints(self) -> WalCheckpointer | None:
        return None

    def reading(self) -> AbstractContextManager[None]:
        return self.replica.snapshot()  # type: ignore[attr-defined]

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        from sync.store.postgres import ENGINES_LOCK, schema_key

        # A session lock (it outlives transactions): held for the whole round, let go after it.
        key = (ENGINES_LOCK, schema_key(f"{self.replica.schema}/{name}"))  # type: ignore[attr-defined]
        got = bool(self.execute("SELECT pg_try_advisory_lock(?, ?)", key).fetchone()[0])
        try:
            yield got
        finally:
            if got:
                self.execute("SELECT pg_advisory_unlock(?, ?)", key)


def adapter(replica: SqlReplica) -> Database:
    """The adapter for a replica opened by :func:`open_replica`."""
    return PostgresDatabase(replica) if getattr(replica, "dialect", "sqlite") == "postgresql" else Database(replica)
