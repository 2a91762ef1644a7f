"""A replica persisted in one SQLite file (the layout and the algorithm are in ``sql.py``).

One transaction per batch (WAL, ``synchronous=FULL``: once ``ingest`` or ``write`` returns, a power
cut loses nothing). One writer per file: the replica object owns its connection, so what it knows
of the per-node frontier and the clock is kept in memory between transactions, read once at open
and reloaded whenever a transaction rolls back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import SchemaVersionMismatch
from ..hlc import DEFAULT_MAX_AHEAD_MS
from ..registry import Registry
from . import history
from .sql import CURSOR_BITS, LOAD_CHUNK, Frontier, ReadOnlyTransaction, SqlReplica, chunk_rows

__all__ = ["CURSOR_BITS", "LAYOUT_VERSION", "LOAD_CHUNK", "SqliteReplica"]

LAYOUT_VERSION = 3

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE nodes (
    ix INTEGER PRIMARY KEY,
    node TEXT NOT NULL UNIQUE,
    contiguous INTEGER NOT NULL DEFAULT 0,
    max_counter INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE op_chunks (
    seq INTEGER PRIMARY KEY,
    node INTEGER NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    n INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX op_chunks_by_node ON op_chunks (node, hi);
CREATE TABLE logged_ops (
    entity TEXT NOT NULL,
    eid TEXT NOT NULL,
    field TEXT NOT NULL,
    node INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    hlc INTEGER,
    value BLOB,
    PRIMARY KEY (entity, eid, field, node, counter)
) WITHOUT ROWID;
CREATE TABLE registers (
    entity TEXT NOT NULL,
    eid TEXT NOT NULL,
    field TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT,
    meta TEXT,
    PRIMARY KEY (entity, eid, field)
) WITHOUT ROWID;
CREATE TABLE conflicts (
    entity TEXT NOT NULL,
    eid TEXT NOT NULL,
    field TEXT NOT NULL,
    op_node TEXT NOT NULL,
    op_counter INTEGER NOT NULL,
    resolved_node TEXT NOT NULL,
    resolved_counter INTEGER NOT NULL,
    kind TEXT NOT NULL,
    winner_node TEXT,
    winner_counter INTEGER,
    detail TEXT NOT NULL,
    PRIMARY KEY (entity, eid, field, op_node, op_counter, resolved_node, resolved_counter)
) WITHOUT ROWID;
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    counter INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL,
    op TEXT NOT NULL,
    ahead_hlc INTEGER
);
CREATE UNIQUE INDEX quarantine_by_id ON quarantine (node, counter);
CREATE INDEX quarantine_waiting ON quarantine (ahead_hlc) WHERE ahead_hlc IS NOT NULL;
"""


def _upgrade_2(conn: sqlite3.Connection) -> None:
    """Layout 3: ``logged_ops`` (see sync.store.history), filled from the log held."""
    _run_script(conn, _DDL[_DDL.index("CREATE TABLE logged_ops"):_DDL.index("CREATE TABLE registers")])
    rows = list(history.backfill_rows(lambda sql, params: conn.execute(sql, params).fetchall(), chunk_rows))
    conn.executemany("INSERT INTO logged_ops VALUES (?,?,?,?,?,?,?)", rows)


# From each older layout to the next, run in one transaction when a file is opened: SQL, or a
# function of the connection where the log must be read.
_UPGRADES: dict[int, str | Callable[[sqlite3.Connection], None]] = {
    # The op's HLC when the clock bound alone quarantined it (it is released once the clock
    # catches up); NULL for ops refused by a rule. Layout 1 kept only field 'hlc' for such ops,
    # and nothing else quarantined an op under that field.
    1: """
ALTER TABLE quarantine ADD COLUMN ahead_hlc INTEGER;
UPDATE quarantine SET ahead_hlc = json_extract(op, '$[2]') WHERE field = 'hlc';
CREATE INDEX quarantine_waiting ON quarantine (ahead_hlc) WHERE ahead_hlc IS NOT NULL
""",
    2: _upgrade_2,
}


class SqliteReplica(SqlReplica):
    """A replica in a SQLite file. Create with :meth:`open`; close when done."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, node: str, registry: Registry, max_ahead_ms: int,
                 *, reader: bool = False) -> None:
        super().__init__(node, registry, max_ahead_ms)
        self.conn = conn
        self.reader = reader
        self._front = Frontier()
        self._clock = 0
        self._load_caches()

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, node: str | None, registry: Registry, *,
             max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS, cache_mib: int = 64) -> SqliteReplica:
        """Open (creating if needed) the replica at ``path``. ``node`` is required the first time
        and, if given later, must match the node id the file was created for."""
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        conn.execute("PRAGMA busy_timeout=10000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            if not node:
                conn.close()
                raise ValueError(f"{path} holds no replica yet: give the node id to create one")
            with _transaction(conn):
                _run_script(conn, _DDL)
                conn.execute("INSERT INTO meta VALUES ('node', ?), ('clock', 0)", (node,))
                conn.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
        elif version in _UPGRADES:
            with _transaction(conn):
                for step in range(version, LAYOUT_VERSION):
                    upgrade = _UPGRADES[step]
                    if callable(upgrade):
                        upgrade(conn)
                    else:
                        _run_script(conn, upgrade)
                conn.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
        elif version != LAYOUT_VERSION:
            conn.close()
            raise SchemaVersionMismatch(LAYOUT_VERSION, version)
        stored_node = conn.execute("SELECT value FROM meta WHERE key='node'").fetchone()[0]
        if node and node != stored_node:
            conn.close()
            raise ValueError(f"{path} is the replica of node {stored_node!r}, not {node!r}")
        return cls(conn, stored_node, registry, max_ahead_ms)

    @classmethod
    def open_reader(cls, path: str | Path, registry: Registry, *,
                    max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS, cache_mib: int = 64) -> SqliteReplica:
        """A second connection to an existing replica that only reads, each :meth:`snapshot` one
        committed state. In WAL mode it neither waits for the file's writer nor makes it wait,
        so long reads (an engine planning its round) go on while ops are ingested."""
        if not Path(path).exists():
            raise ValueError(f"{path} holds no replica yet")
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")  # a write by mistake fails here instead of taking the lock
        conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        conn.execute("PRAGMA busy_timeout=10000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != LAYOUT_VERSION:
            conn.close()
            raise SchemaVersionMismatch(LAYOUT_VERSION, version)
        stored_node = conn.execute("SELECT value FROM meta WHERE key='node'").fetchone()[0]
        return cls(conn, stored_node, registry, max_ahead_ms, reader=True)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SqliteReplica:
        return self

    def _load_caches(self) -> None:
        self.forget_chunks()
        self._load_frontier()

    def _load_frontier(self) -> None:
        self._front = Frontier(complete=True)
        self._names.clear()
        for ix, node, contiguous, max_counter, quarantined in self.conn.execute(
            "SELECT ix, node, contiguous, max_counter, quarantined FROM nodes"
        ):
            self._front.add(ix, node, contiguous, max_counter, quarantined)
            self._names[ix] = node
        self._clock = self.conn.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0]

    # -- the dialect --------------------------------------------------------------------------
    # Registers' JSON bound as text, not as the bytes orjson makes: on Python 3.11 the sqlite3
    # module binds a bytes (or None) parameter only after asking the adapter protocol, which costs
    # a formatted AttributeError each time, several times what decoding the text does.
    _json_as_text = True

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def _begin(self) -> None:
        if self.reader:
            raise ReadOnlyTransaction()
        self.conn.execute("BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.reader:  # even nested in a snapshot, where a savepoint would let writes start
            raise ReadOnlyTransaction()
        with super().transaction():
            yield

    def _reset(self, committed: bool) -> None:
        # The in-memory frontier is written through on every save; only a rollback can make it
        # disagree with the file. (SQLite may also hand a rolled-back node's ix to another node.)
        if not committed:
            self._load_caches()

    def _frontier(self, nodes: Iterable[str] | None = None) -> Frontier:
        # The writer's is complete: every node's row was read at open and is kept in step. A
        # reader's is read per snapshot, only the nodes asked about (a hub has a row per device,
        # and most reads ask about none).
        return self._read_frontier(self._front, nodes)

    def clock(self) -> int:
        return self._clock

    def _set_clock(self, clock: int) -> None:
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'clock'", (clock,))
        self._clock = clock

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state. The writer's connection is the file's only writer, so its
        reads between transactions already do; a writer that needs more takes a transaction. A
        reader (:meth:`open_reader`) reads in a transaction of its own: one committed state."""
        if not self.reader or self._depth:
            yield
            return
        self.conn.execute("BEGIN")  # deferred: the state is fixed at the first read, just below
        self._depth += 1
        try:
            # The writer may have added nodes, moved their frontiers and the clock since. Decoded
            # chunks stay: a committed chunk never changes, and a reader sees no other; so do the
            # names of the nodes, whose rows are never rewritten once committed.
            self._front = Frontier()
            self._clock = self.conn.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0]
            yield
        finally:
            self._depth -= 1
            self.conn.execute("COMMIT")  # it read only: nothing to keep or lose


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript would commit the transaction it runs in.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
