"""A replica persisted in one SQLite file: the op log plus one materialised row per register.

The rules live in ``sync.replica`` and ``sync.kinds``; this module only stores what they decide,
one transaction per batch (WAL, ``synchronous=FULL``: once ``ingest`` or ``write`` returns, a power
cut loses nothing). One writer per file: the replica object owns its connection.

Layout, chosen for the ingest path: ``ops`` is keyed by a local sequence (each insert appends at
the end of the B-tree) with a unique index on (node, counter) for dedup and for "what does the
other side lack"; node ids are interned to small integers; ``registers`` holds, per
(entity, eid, field), the value people read and the merge metadata as JSON.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from .. import replica
from ..errors import SchemaVersionMismatch
from ..hlc import DEFAULT_MAX_AHEAD_MS
from ..kinds import KINDS, Conflict
from ..ops import Op, OpId, to_wire
from ..registry import RegisterKey, Registry
from ..replica import IngestResult, Rejection

LAYOUT_VERSION = 1
# Keys per SELECT when loading registers: large enough to amortise the call, far below SQLite's
# bound on bound parameters.
LOAD_CHUNK = 300

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE nodes (
    ix INTEGER PRIMARY KEY,
    node TEXT NOT NULL UNIQUE,
    contiguous INTEGER NOT NULL DEFAULT 0,
    max_counter INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE ops (
    seq INTEGER PRIMARY KEY,
    node INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    hlc INTEGER NOT NULL,
    entity TEXT NOT NULL,
    eid TEXT NOT NULL,
    action TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    refs TEXT
);
CREATE UNIQUE INDEX ops_by_id ON ops (node, counter);
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
    op TEXT NOT NULL
);
CREATE UNIQUE INDEX quarantine_by_id ON quarantine (node, counter);
"""

_json = orjson.dumps


def _text(data: Any) -> str | None:
    return None if data is None else orjson.dumps(data).decode()


def _refs_text(refs: tuple[OpId, ...]) -> str | None:
    return orjson.dumps([[r.node, r.counter] for r in refs]).decode() if refs else None


class SqliteReplica:
    """A replica in a SQLite file. Create with :meth:`open`; close when done."""

    def __init__(self, conn: sqlite3.Connection, node: str, registry: Registry, max_ahead_ms: int) -> None:
        self.conn = conn
        self.node = node
        self.registry = registry
        self.max_ahead_ms = max_ahead_ms
        self._ix: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._contiguous: dict[str, int] = {}
        self._max: dict[str, int] = {}
        self._quarantined: dict[str, int] = {}
        self._clock = 0
        self._loaded_conflicted: set[RegisterKey] = set()
        self._now_ms = 0
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
                for statement in _DDL.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES ('node', ?), ('clock', 0)", (node,))
                conn.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
        elif version != LAYOUT_VERSION:
            conn.close()
            raise SchemaVersionMismatch(LAYOUT_VERSION, version)
        stored_node = conn.execute("SELECT value FROM meta WHERE key='node'").fetchone()[0]
        if node and node != stored_node:
            conn.close()
            raise ValueError(f"{path} is the replica of node {stored_node!r}, not {node!r}")
        return cls(conn, stored_node, registry, max_ahead_ms)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SqliteReplica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_caches(self) -> None:
        for cache in (self._ix, self._names, self._contiguous, self._max, self._quarantined):
            cache.clear()
        for ix, node, contiguous, max_counter, quarantined in self.conn.execute(
            "SELECT ix, node, contiguous, max_counter, quarantined FROM nodes"
        ):
            self._ix[node] = ix
            self._names[ix] = node
            self._contiguous[node] = contiguous
            self._max[node] = max_counter
            self._quarantined[node] = quarantined
        self._clock = self.conn.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0]

    # -- the public replica API -------------------------------------------------------------
    def ingest(self, ops: Iterable[Op], now_ms: int) -> IngestResult:
        """Fold a batch in, in one transaction; acknowledged (returned) only after commit."""
        self._now_ms = now_ms
        with self._unit_of_work():
            return replica.ingest(self, ops, now_ms)

    def write(self, now_ms: int, entity: str, eid: str, action: str, field: str = "", value: Any = None,
              refs: Sequence[OpId] = ()) -> Op:
        """Author this node's next op; durable when this returns."""
        self._now_ms = now_ms
        with self._unit_of_work():
            return replica.author(self, now_ms, entity, eid, action, field, value, refs)

    def vector(self) -> dict[str, int]:
        return {node: counter for node, counter in self._contiguous.items() if counter}

    def max_counters(self) -> dict[str, int]:
        return {node: counter for node, counter in self._max.items() if counter}

    def ops_after(self, after: Mapping[str, int], limit: int) -> list[Op]:
        """Ops held here with counter above ``after[node]`` (0 for nodes not named), ordered by
        (node, counter), at most ``limit``."""
        found: list[Op] = []
        for node in sorted(self._max):
            floor = after.get(node, 0)
            if self._max[node] <= floor:
                continue
            rows = self.conn.execute(
                "SELECT node, counter, hlc, entity, eid, action, field, value, refs FROM ops "
                "WHERE node = ? AND counter > ? ORDER BY counter LIMIT ?",
                (self._ix[node], floor, limit - len(found)),
            )
            found.extend(self._op_from_row(row) for row in rows)
            if len(found) >= limit:
                break
        return found

    def ops_since(self, seq: int, limit: int) -> tuple[list[Op], int]:
        """Ops in the order this replica took them in, after local sequence ``seq``; returns the
        ops and the cursor to ask from next time."""
        rows = self.conn.execute(
            "SELECT node, counter, hlc, entity, eid, action, field, value, refs, seq FROM ops "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [self._op_from_row(row[:9]) for row in rows], (rows[-1][9] if rows else seq)

    def get_op(self, op_id: OpId) -> Op | None:
        ix = self._ix.get(op_id.node)
        if ix is None:
            return None
        row = self.conn.execute(
            "SELECT node, counter, hlc, entity, eid, action, field, value, refs FROM ops "
            "WHERE node = ? AND counter = ?",
            (ix, op_id.counter),
        ).fetchone()
        return self._op_from_row(row) if row else None

    def entity(self, entity: str, eid: str) -> dict[str, Any]:
        return replica.entity_view(self._registers("WHERE entity = ? AND eid = ? ORDER BY field", (entity, eid)))

    def register(self, entity: str, eid: str, field: str = "") -> Any | None:
        rows = list(self._registers("WHERE entity = ? AND eid = ? AND field = ?", (entity, eid, field)))
        return rows[0][1] if rows else None

    def entity_ids(self, entity: str) -> list[str]:
        return [row[0] for row in self.conn.execute(
            "SELECT DISTINCT eid FROM registers WHERE entity = ? ORDER BY eid", (entity,))]

    def conflicts(self, entity: str | None = None, eid: str | None = None) -> list[dict[str, Any]]:
        """Conflicts kept here, each with both values: the op that lost and the one that won."""
        sql = ("SELECT kind, entity, eid, field, op_node, op_counter, winner_node, winner_counter, "
               "resolved_node, resolved_counter, detail FROM conflicts")
        clauses, params = [], []
        if entity is not None:
            clauses.append("entity = ?")
            params.append(entity)
        if eid is not None:
            clauses.append("eid = ?")
            params.append(eid)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        found = []
        rows = self.conn.execute(sql + " ORDER BY entity, eid, field, op_node, op_counter", params).fetchall()
        for kind, ent, e, field, on, oc, wn, wc, rn, rc, detail in rows:
            lost = self.get_op(OpId(on, oc))
            won = self.get_op(OpId(wn, wc)) if wn else None
            found.append({
                "kind": kind, "entity": ent, "eid": e, "field": field, "detail": detail,
                "op": f"{on}:{oc}", "value": lost.value if lost else None,
                "winner": f"{wn}:{wc}" if wn else None, "winner_value": won.value if won else None,
                "resolved_by": f"{rn}:{rc}" if rn else None,
            })
        return found

    def quarantined(self) -> list[dict[str, Any]]:
        return [
            {"id": f"{node}:{counter}", "received_ms": received, "field": field, "reason": reason,
             "op": orjson.loads(op)}
            for node, counter, received, field, reason, op in self.conn.execute(
                "SELECT node, counter, received_ms, field, reason, op FROM quarantine ORDER BY id")
        ]

    def canonical(self) -> bytes:
        conflicts = [
            Conflict(kind, entity, eid, field, OpId(on, oc), OpId(wn, wc) if wn else None,
                     OpId(rn, rc) if rn else None, detail)
            for kind, entity, eid, field, on, oc, wn, wc, rn, rc, detail in self.conn.execute(
                "SELECT kind, entity, eid, field, op_node, op_counter, winner_node, winner_counter, "
                "resolved_node, resolved_counter, detail FROM conflicts")
        ]
        return replica.canonical_dump(self._registers("", ()), conflicts)

    def op_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM ops").fetchone()[0]

    # -- ReplicaStorage -----------------------------------------------------------------------
    def held(self, ids: Sequence[OpId]) -> dict[OpId, Rejection | None]:
        found: dict[OpId, Rejection | None] = {}
        unsure: dict[str, list[int]] = {}
        for op_id in ids:
            node, counter = op_id
            if counter > self._max.get(node, 0):
                continue
            if counter <= self._contiguous.get(node, 0) and not self._quarantined.get(node):
                found[op_id] = None
            else:
                unsure.setdefault(node, []).append(counter)
        for node, counters in unsure.items():
            low, high = min(counters), max(counters)
            wanted = set(counters)
            for (counter,) in self.conn.execute(
                "SELECT counter FROM ops WHERE node = ? AND counter BETWEEN ? AND ?", (self._ix[node], low, high)
            ):
                if counter in wanted:
                    found[OpId(node, counter)] = None
            for counter, field, reason in self.conn.execute(
                "SELECT counter, field, reason FROM quarantine WHERE node = ? AND counter BETWEEN ? AND ?",
                (node, low, high),
            ):
                if counter in wanted:
                    found[OpId(node, counter)] = Rejection(field, reason)
        return found

    def arrived(self, op_id: OpId) -> bool:
        node, counter = op_id
        if counter > self._max.get(node, 0):
            return False
        if counter <= self._contiguous.get(node, 0) and not self._quarantined.get(node):
            return True
        return self.conn.execute(
            "SELECT 1 FROM ops WHERE node = ? AND counter = ?", (self._ix[node], counter)
        ).fetchone() is not None

    def load(self, keys: Sequence[RegisterKey]) -> dict[RegisterKey, Any]:
        loaded: dict[RegisterKey, Any] = {}
        self._loaded_conflicted = set()
        for start in range(0, len(keys), LOAD_CHUNK):
            chunk = keys[start:start + LOAD_CHUNK]
            params: list[str] = []
            for key in chunk:
                params.extend((key.entity, key.eid, key.field))
            placeholders = ",".join(["(?,?,?)"] * len(chunk))
            rows = self.conn.execute(
                "SELECT entity, eid, field, kind, value, meta FROM registers "
                f"WHERE (entity, eid, field) IN (VALUES {placeholders})",
                params,
            )
            for entity, eid, field, kind, value, meta in rows:
                key = RegisterKey(kind, entity, eid, field)
                merge_kind = KINDS[kind]
                register = merge_kind.decode(
                    orjson.loads(value) if value is not None else None,
                    orjson.loads(meta) if meta is not None else None,
                )
                loaded[key] = register
                if merge_kind.conflicts(key, register):
                    self._loaded_conflicted.add(key)
        return loaded

    def save(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any],
             quarantined: Sequence[tuple[Op, Rejection]], clock: int) -> None:
        conn = self.conn
        touched: dict[str, set[int]] = {}
        for op in accepted:
            touched.setdefault(op.node, set()).add(op.counter)
        for op, _ in quarantined:
            touched.setdefault(op.node, set()).add(op.counter)
        for node in touched:
            if node not in self._ix:
                ix = conn.execute("INSERT INTO nodes (node) VALUES (?)", (node,)).lastrowid
                assert ix is not None
                self._ix[node] = ix
                self._names[ix] = node
        ix_of = self._ix
        conn.executemany(
            "INSERT INTO ops (node, counter, hlc, entity, eid, action, field, value, refs) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (ix_of[op.node], op.counter, op.hlc, op.entity, op.eid, op.action, op.field,
                 None if op.value is None else _json(op.value).decode(), _refs_text(op.refs) if op.refs else None)
                for op in accepted
            ],
        )
        rows = []
        conflict_deletes = []
        conflict_rows = []
        for key, register in registers.items():
            merge_kind = KINDS[key.kind]
            value, meta = merge_kind.encode(register)
            rows.append((key.entity, key.eid, key.field, key.kind, _text(value), _text(meta)))
            found = merge_kind.conflicts(key, register)
            if found or key in self._loaded_conflicted:
                conflict_deletes.append((key.entity, key.eid, key.field))
                conflict_rows.extend(
                    (c.entity, c.eid, c.field, c.op.node, c.op.counter,
                     c.resolved_by.node if c.resolved_by else "", c.resolved_by.counter if c.resolved_by else 0,
                     c.kind, c.winner.node if c.winner else None, c.winner.counter if c.winner else None, c.detail)
                    for c in found
                )
        conn.executemany("INSERT OR REPLACE INTO registers VALUES (?,?,?,?,?,?)", rows)
        if conflict_deletes:
            conn.executemany("DELETE FROM conflicts WHERE entity = ? AND eid = ? AND field = ?", conflict_deletes)
            conn.executemany("INSERT INTO conflicts VALUES (?,?,?,?,?,?,?,?,?,?,?)", conflict_rows)
        if quarantined:
            conn.executemany(
                "INSERT INTO quarantine (node, counter, received_ms, field, reason, op) VALUES (?,?,?,?,?,?)",
                [
                    (op.node, op.counter, self._now_ms, r.field, r.reason, _text(to_wire(op)))
                    for op, r in quarantined
                ],
            )
            for op, _ in quarantined:
                self._quarantined[op.node] = self._quarantined.get(op.node, 0) + 1
        for node, counters in touched.items():
            self._max[node] = max(self._max.get(node, 0), max(counters))
            self._contiguous[node] = self._advance(node, counters)
        conn.executemany(
            "UPDATE nodes SET contiguous = ?, max_counter = ?, quarantined = ? WHERE node = ?",
            [(self._contiguous[n], self._max[n], self._quarantined.get(n, 0), n) for n in touched],
        )
        if clock != self._clock:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'clock'", (clock,))
            self._clock = clock

    def clock(self) -> int:
        return self._clock

    def next_counter(self) -> int:
        return self._max.get(self.node, 0) + 1

    # -- internals ------------------------------------------------------------------------------
    def _advance(self, node: str, batch: set[int]) -> int:
        """The new contiguous frontier of ``node`` after a batch holding ``batch`` counters."""
        counter = self._contiguous.get(node, 0)
        while counter + 1 in batch:
            counter += 1
        if counter < self._max[node]:
            # Ops of this node arrived out of order before: walk what is held past the frontier.
            held = {c for (c,) in self.conn.execute(
                "SELECT counter FROM ops WHERE node = ? AND counter > ?", (self._ix[node], counter))}
            held.update(c for (c,) in self.conn.execute(
                "SELECT counter FROM quarantine WHERE node = ? AND counter > ?", (node, counter)))
            while counter + 1 in held:
                counter += 1
        return counter

    def _registers(self, where: str, params: tuple[Any, ...]) -> Iterator[tuple[RegisterKey, Any]]:
        for entity, eid, field, kind, value, meta in self.conn.execute(
            f"SELECT entity, eid, field, kind, value, meta FROM registers {where}", params
        ).fetchall():
            yield RegisterKey(kind, entity, eid, field), KINDS[kind].decode(
                orjson.loads(value) if value is not None else None,
                orjson.loads(meta) if meta is not None else None,
            )

    def _op_from_row(self, row: tuple[Any, ...]) -> Op:
        node_ix, counter, hlc, entity, eid, action, field, value, refs = row
        return Op(
            self._names[node_ix], counter, hlc, entity, eid, action, field,
            None if value is None else orjson.loads(value),
            tuple(OpId(r[0], r[1]) for r in orjson.loads(refs)) if refs else (),
        )

    @contextmanager
    def _unit_of_work(self) -> Iterator[None]:
        """One transaction; on any error the database and the in-memory caches roll back together."""
        try:
            with _transaction(self.conn):
                yield
        except BaseException:
            self._load_caches()
            raise


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
