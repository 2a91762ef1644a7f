"""A replica persisted in a PostgreSQL schema, shared by several processes (the hub's workers).

The layout and the algorithm are ``sql.py``'s; what differs is that other processes write the
same tables. So nothing this object remembers is trusted across transactions: the per-node
frontier, the node ids and the clock are read inside each transaction (and kept only until it
ends), except the mapping from a node's row id to its name, which never changes once committed
(identity values are never reused).

Writers are serialised: every transaction that may write ops starts by taking a transaction-level
advisory lock on the schema (``pg_advisory_xact_lock``), held until it commits. Chunks get their
``seq`` inside that lock, so seq order is commit order: a reader pulling "since cursor" can never
see a chunk with a higher seq while a lower one is still to commit — the cursor never skips.
Readers do not take the lock: :meth:`snapshot` opens a REPEATABLE READ transaction (one view of
the database for a whole pull), concurrent with writers and other readers.

Connect with a libpq URL; the schema is the first of its ``search_path``
(``postgresql://host/db?options=-csearch_path%3Dfieldsync``), created by the operator.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from ..errors import SchemaVersionMismatch
from ..hlc import DEFAULT_MAX_AHEAD_MS
from ..registry import RegisterKey, Registry
from . import history
from .sql import NODE_COLUMNS, Frontier, ReadOnlyTransaction, SqlReplica, chunk_rows

LAYOUT_VERSION = 3
# Advisory lock spaces (the first of the two int4 keys; the second names the schema): one
# writer at a time per schema, and one engine round at a time per schema.
WRITER_LOCK = 0x46530001
ENGINES_LOCK = 0x46530002

_T = 'TEXT COLLATE "C"'  # byte order, as SQLite compares text: listings page the same on both
_DDL = f"""
CREATE TABLE meta (key {_T} PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes (
    ix INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node {_T} NOT NULL UNIQUE,
    contiguous BIGINT NOT NULL DEFAULT 0,
    max_counter BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE op_chunks (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node INTEGER NOT NULL,
    lo BIGINT NOT NULL,
    hi BIGINT NOT NULL,
    n INTEGER NOT NULL,
    body BYTEA NOT NULL
);
CREATE INDEX op_chunks_by_node ON op_chunks (node, hi);
CREATE TABLE logged_ops (
    entity {_T} NOT NULL,
    eid {_T} NOT NULL,
    field {_T} NOT NULL,
    node INTEGER NOT NULL,
    counter BIGINT NOT NULL,
    hlc BIGINT,
    value BYTEA,
    PRIMARY KEY (entity, eid, field, node, counter)
);
CREATE TABLE registers (
    entity {_T} NOT NULL,
    eid {_T} NOT NULL,
    field {_T} NOT NULL,
    kind TEXT NOT NULL,
    value BYTEA,
    meta BYTEA,
    PRIMARY KEY (entity, eid, field)
);
CREATE TABLE conflicts (
    entity {_T} NOT NULL,
    eid {_T} NOT NULL,
    field {_T} NOT NULL,
    op_node {_T} NOT NULL,
    op_counter BIGINT NOT NULL,
    resolved_node {_T} NOT NULL,
    resolved_counter BIGINT NOT NULL,
    kind TEXT NOT NULL,
    winner_node {_T},
    winner_counter BIGINT,
    detail TEXT NOT NULL,
    PRIMARY KEY (entity, eid, field, op_node, op_counter, resolved_node, resolved_counter)
);
CREATE TABLE quarantine (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node {_T} NOT NULL,
    counter BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL,
    op TEXT NOT NULL,
    ahead_hlc BIGINT
);
CREATE UNIQUE INDEX quarantine_by_id ON quarantine (node, counter);
CREATE INDEX quarantine_waiting ON quarantine (ahead_hlc) WHERE ahead_hlc IS NOT NULL
"""


def _upgrade_2(conn: psycopg.Connection[Any]) -> None:
    """Layout 3: ``logged_ops`` (see sync.store.history), filled from the log held."""
    conn.execute(_DDL[_DDL.index("CREATE TABLE logged_ops"):_DDL.index("CREATE TABLE registers")].rstrip("; \n"))
    rows = list(history.backfill_rows(
        lambda sql, params: conn.execute(to_pyformat(sql), params).fetchall(), chunk_rows))
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO logged_ops VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


# From each older layout to the next (see sqlite.py's for what each step adds): SQL, or a function
# of the connection where the log must be read.
_UPGRADES: dict[int, str | Callable[[psycopg.Connection[Any]], None]] = {
    1: """
ALTER TABLE quarantine ADD COLUMN ahead_hlc BIGINT;
UPDATE quarantine SET ahead_hlc = (op::jsonb ->> 2)::bigint WHERE field = 'hlc';
CREATE INDEX quarantine_waiting ON quarantine (ahead_hlc) WHERE ahead_hlc IS NOT NULL
""",
    2: _upgrade_2,
}


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """SQL written with ``?`` placeholders (as for SQLite) in psycopg's ``%s`` style. Our
    statements hold no ``?`` inside string literals; a literal ``%`` is doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def schema_key(schema: str) -> int:
    """The second advisory-lock key of a schema: a stable signed 32-bit hash of its name."""
    return zlib.crc32(schema.encode()) - (1 << 31)


class PostgresReplica(SqlReplica):
    """A replica in a PostgreSQL schema. Create with :meth:`open`; close when done. One object
    per process (or thread): it owns its connection."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], node: str, registry: Registry, max_ahead_ms: int,
                 schema: str) -> None:
        super().__init__(node, registry, max_ahead_ms)
        self.conn = conn
        self.schema = schema
        self.lock_key = schema_key(schema)
        self._tx_front: Frontier | None = None
        self._tx_clock: int | None = None
        self._read_only_depth = 0  # > 0 inside snapshot()

    @classmethod
    def open(cls, url: str, node: str | None, registry: Registry, *,
             max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> PostgresReplica:
        """Connect to ``url`` and open (creating if needed) the replica in its schema. ``node`` is
        required the first time and, if given later, must match. Several processes may open the
        same schema at once: creation happens under the writer lock."""
        conn = psycopg.connect(url, autocommit=True)
        try:
            schema = conn.execute("SELECT current_schema()").fetchone()
            if schema is None or schema[0] is None:
                raise ValueError("no schema of the connection's search_path exists: create it first "
                                 "(CREATE SCHEMA name) and name it in the URL (options=-csearch_path%3Dname)")
            stored = _create_or_check(conn, schema[0], node)
        except BaseException:
            conn.close()
            raise
        if node and node != stored:
            conn.close()
            raise ValueError(f"schema {schema[0]} holds the replica of node {stored!r}, not {node!r}")
        return cls(conn, stored, registry, max_ahead_ms, schema[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresReplica:
        return self

    # -- the dialect --------------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(to_pyformat(sql), params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(to_pyformat(sql), rows)

    def _begin(self) -> None:
        if self._read_only_depth:
            raise ReadOnlyTransaction()
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (WRITER_LOCK, self.lock_key))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self._reset(committed=False)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A writer's unit of work (see SqlReplica.transaction): holds the schema's writer lock
        from its first statement to its commit. Refused inside a read snapshot."""
        if self._read_only_depth:
            raise ReadOnlyTransaction()
        with super().transaction():
            yield

    def _reset(self, committed: bool) -> None:
        self._tx_front = None
        self._tx_clock = None

    def _node_rows(self, nodes: Iterable[str] | None) -> Iterable[tuple[int, str, int, int, int]]:
        if nodes is None:
            return self.conn.execute(f"SELECT {NODE_COLUMNS} FROM nodes").fetchall()
        return self.conn.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE node = ANY(%s)", (list(nodes),)).fetchall()

    def _frontier(self, nodes: Iterable[str] | None = None) -> Frontier:
        front = self._tx_front if self._depth else None
        if front is None:
            front = Frontier()
            if self._depth:
                self._tx_front = front
        return self._read_frontier(front, nodes)

    def clock(self) -> int:
        if self._depth and self._tx_clock is not None:
            return self._tx_clock
        clock = int(_meta(self.conn, "clock"))
        if self._depth:
            self._tx_clock = clock
        return clock

    def _set_clock(self, clock: int) -> None:
        self.conn.execute("UPDATE meta SET value = %s WHERE key = 'clock'", (str(clock),))
        self._tx_clock = clock

    def _load_rows(self, keys: Sequence[RegisterKey]) -> Iterator[tuple[Any, ...]]:
        # Three arrays instead of a VALUES list: one short statement whatever the batch size.
        yield from self.conn.execute(
            "SELECT r.entity, r.eid, r.field, r.kind, r.value, r.meta "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) AS k (entity, eid, field) "
            "JOIN registers AS r ON r.entity = k.entity AND r.eid = k.eid AND r.field = k.field",
            ([key.entity for key in keys], [key.eid for key in keys], [key.field for key in keys]),
        ).fetchall()

    # -- readers ------------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One consistent view of the database (REPEATABLE READ READ ONLY) without the writer
        lock, so it runs beside writers and other readers. Inside a transaction already open it
        simply joins it."""
        if self._depth:
            yield
            return
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # PostgreSQL takes the snapshot at the first query, not at BEGIN: take it now, so the
        # view holds the state of the moment it was opened, as SQLite's does.
        self.conn.execute("SELECT 1")
        self._depth += 1
        self._read_only_depth += 1
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            self._depth -= 1
            self._read_only_depth -= 1
            self._reset(committed=True)

    def _rollback_quietly(self) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.execute("ROLLBACK")


def _create_or_check(conn: psycopg.Connection[Any], schema: str, node: str | None) -> str:
    """Create the replica's tables in ``schema`` if they are not there; returns the stored node."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (WRITER_LOCK, schema_key(schema)))
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'", (schema,)
        ).fetchone()
        if not exists:
            if not node:
                raise ValueError(f"schema {schema} holds no replica yet: give the node id to create one")
            for statement in _DDL.split(";"):
                conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('node', %s), ('clock', '0'), ('layout', %s)",
                         (node, str(LAYOUT_VERSION)))
        layout = conn.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        version = int(layout[0]) if layout else 0
        if version in _UPGRADES:
            for step in range(version, LAYOUT_VERSION):
                upgrade = _UPGRADES[step]
                if callable(upgrade):
                    upgrade(conn)
                    continue
                for statement in upgrade.split(";"):
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value = %s WHERE key = 'layout'", (str(LAYOUT_VERSION),))
        elif version != LAYOUT_VERSION:
            raise SchemaVersionMismatch(LAYOUT_VERSION, version)
        return _meta(conn, "node")


def _meta(conn: psycopg.Connection[Any], key: str) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    if row is None:
        raise SchemaVersionMismatch(LAYOUT_VERSION, 0)
    return str(row[0])
