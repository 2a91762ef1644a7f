"""A replica persisted in one SQLite file: the op log plus one materialised row per register.

The rules live in ``sync.replica`` and ``sync.kinds``; this module only stores what they decide,
one transaction per batch (WAL, ``synchronous=FULL``: once ``ingest`` or ``write`` returns, a power
cut loses nothing). One writer per file: the replica object owns its connection.

Layout, chosen for the ingest path. The op log is stored per batch: each ingest writes one
``op_chunks`` row per author node, holding that node's ops of the batch as one JSON body, keyed by
a local sequence and indexed by (node, highest counter). A 1,000-op push from a tablet is one row
and one index entry instead of a thousand of each; reads (what does the other side lack, changes
since a cursor) decode whole chunks, which costs about a microsecond an op. Dedup and "has this op
arrived" are answered from the per-node contiguous frontier held in memory, falling back to the
chunks only for ops that arrived out of order. ``registers`` holds, per (entity, eid, field), the
value people read and the merge metadata as JSON.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import zstandard

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
# A cursor into the log is (chunk seq, index inside the chunk) packed in one integer; a chunk
# never holds more ops than a batch may (sync.protocol.MAX_BATCH is far below this).
CURSOR_BITS = 16
# Decoded op chunks kept for history reads (a chunk holds up to a batch of ops).
CHUNK_CACHE = 64

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

# Kinds whose registers never hold a conflict: their rows in ``conflicts`` need no upkeep.
_NEVER_CONFLICTED = frozenset({"counter", "set", "tombstone"})

# Op chunks are compressed: JSON of field-service ops shrinks about five times at zstd level 1,
# which costs a fraction of a microsecond an op and saves that much disk and WAL on every commit.
_compress = zstandard.ZstdCompressor(level=1).compress
_decompress = zstandard.ZstdDecompressor().decompress


def _text(data: Any) -> str | None:
    return None if data is None else orjson.dumps(data).decode()


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
        self._loaded_keys: Any = frozenset()  # the keys of the registers the last load() found
        self._now_ms = 0
        self._depth = 0
        # seq -> {counter: Op}. Chunks never change once committed; a rolled-back insert may reuse
        # its seq, so the cache is emptied on every rollback.
        self._chunk_cache: dict[int, dict[int, Op]] = {}
        # Called inside the ingest transaction, after the batch is written: (replica, accepted ops,
        # the registers they changed). The hub keeps its read models exactly in step this way.
        self.observers: list[Callable[[SqliteReplica, Sequence[Op], Mapping[RegisterKey, Any]], None]] = []
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
        if hasattr(self, "_chunk_cache"):
            self._chunk_cache.clear()
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
        with self.transaction():
            return replica.ingest(self, ops, now_ms)

    def write(self, now_ms: int, entity: str, eid: str, action: str, field: str = "", value: Any = None,
              refs: Sequence[OpId] = ()) -> Op:
        """Author this node's next op; durable when this returns."""
        self._now_ms = now_ms
        with self.transaction():
            return replica.author(self, now_ms, entity, eid, action, field, value, refs)

    def quarantine(self, rejected: Iterable[tuple[Op, Rejection]], now_ms: int) -> list[tuple[OpId, Rejection]]:
        """Keep ops refused by a policy outside the engine in quarantine (see replica.quarantine)."""
        self._now_ms = now_ms
        with self.transaction():
            return replica.quarantine(self, rejected)

    def log_end(self) -> int:
        """The cursor just past the last op held: ``ops_since(log_end())`` returns nothing yet."""
        top = self.conn.execute("SELECT max(seq) FROM op_chunks").fetchone()[0] or 0
        return (top + 1) << CURSOR_BITS

    def write_many(self, now_ms: int, changes: Iterable[tuple[Any, ...]]) -> list[Op]:
        """Author several ops in one transaction: all recorded, or none. Each change is the
        arguments of :meth:`write` after ``now_ms``: (entity, eid, action[, field[, value[, refs]]])."""
        with self.transaction():
            return [self.write(now_ms, *change) for change in changes]

    def history_ops(self, keys: Iterable[tuple[str, str]]) -> list[Op]:
        """The ops that rebuild the current state of these entities on a replica that has never
        seen them: for each register, the ops its state is made of (the heads of an lww field,
        every transition, live set tags, a record and its voids, the delete) — superseded writes
        are left out. Counters need every delta; those are found by reading the log."""
        wanted: set[tuple[str, int]] = set()
        counters: set[tuple[str, str, str]] = set()
        for entity, eid in keys:
            for key, register in self._registers("WHERE entity = ? AND eid = ?", (entity, eid)):
                ids = KINDS[key.kind].history(register)
                if ids is None:
                    counters.add((key.entity, key.eid, key.field))
                else:
                    wanted.update(ids)
        found = self._fetch_ops(wanted)
        if counters:
            found.extend(op for op in self._scan_log() if (op.entity, op.eid, op.field) in counters)
        found.sort(key=lambda op: (op.node, op.counter))
        return found

    def _fetch_ops(self, ids: set[tuple[str, int]]) -> list[Op]:
        """The ops with these ids, decoding each chunk that holds some of them once (a cache keeps
        recently decoded chunks: a history read touches the same chunks over and over)."""
        by_node: dict[str, list[int]] = {}
        for node, counter in ids:
            by_node.setdefault(node, []).append(counter)
        found: list[Op] = []
        for node, counters in by_node.items():
            ix = self._ix.get(node)
            if ix is None:
                continue
            chunks: dict[int, dict[int, Op]] = {}
            for counter in sorted(counters):
                held = next((ops[counter] for ops in chunks.values() if counter in ops), None)
                if held is None:
                    # A node's chunks rarely overlap: the first few by highest counter >= c hold c.
                    for seq, lo, body in self.conn.execute(
                        "SELECT seq, lo, body FROM op_chunks WHERE node = ? AND hi >= ? ORDER BY hi LIMIT 8",
                        (ix, counter),
                    ):
                        if lo <= counter and seq not in chunks:
                            chunks[seq] = self._decoded_chunk(seq, node, body)
                    held = next((ops[counter] for ops in chunks.values() if counter in ops), None)
                if held is not None:
                    found.append(held)
        return found

    def _decoded_chunk(self, seq: int, node: str, body: bytes) -> dict[int, Op]:
        cached = self._chunk_cache.get(seq)
        if cached is None:
            cached = {op.counter: op for op in self._decode(node, body)}
            if len(self._chunk_cache) >= CHUNK_CACHE:
                self._chunk_cache.pop(next(iter(self._chunk_cache)))
            self._chunk_cache[seq] = cached
        return cached

    def _scan_log(self) -> Iterator[Op]:
        for node_ix, body in self.conn.execute("SELECT node, body FROM op_chunks ORDER BY seq"):
            yield from self._decode(self._names[node_ix], body)

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
            wanted = limit - len(found)
            picked: list[Op] = []
            for lo, body in self.conn.execute(
                "SELECT lo, body FROM op_chunks WHERE node = ? AND hi > ? ORDER BY lo", (self._ix[node], floor)
            ):
                # Chunks come in order of their lowest counter; once enough ops are in hand, a
                # chunk starting past the last one wanted cannot hold any of the first `wanted`.
                if len(picked) >= wanted:
                    picked.sort(key=lambda op: op.counter)
                    del picked[wanted:]
                    if lo > picked[-1].counter:
                        break
                picked.extend(op for op in self._decode(node, body) if op.counter > floor)
            picked.sort(key=lambda op: op.counter)
            found.extend(picked[:wanted])
            if len(found) >= limit:
                break
        return found

    def ops_since(self, cursor: int, limit: int) -> tuple[list[Op], int]:
        """Ops in the order this replica took them in, after ``cursor`` (0 for the beginning);
        returns the ops and the cursor to ask from next time. Cost grows with the ops returned,
        not with the size of the log."""
        seq, skip = cursor >> CURSOR_BITS, cursor & ((1 << CURSOR_BITS) - 1)
        found: list[Op] = []
        next_cursor = cursor
        rows = self.conn.execute(
            "SELECT seq, node, body FROM op_chunks WHERE seq >= ? ORDER BY seq", (max(seq, 1),)
        )
        for chunk_seq, node_ix, body in rows:
            ops = self._decode(self._names[node_ix], body)
            start = skip if chunk_seq == seq else 0
            take = ops[start:start + limit - len(found)]
            found.extend(take)
            end = start + len(take)
            next_cursor = (chunk_seq << CURSOR_BITS) | end if end < len(ops) else (chunk_seq + 1) << CURSOR_BITS
            if len(found) >= limit:
                break
        return found, next_cursor

    def get_op(self, op_id: OpId) -> Op | None:
        ix = self._ix.get(op_id.node)
        if ix is None:
            return None
        for (body,) in self.conn.execute(
            "SELECT body FROM op_chunks WHERE node = ? AND hi >= ? AND lo <= ?", (ix, op_id.counter, op_id.counter)
        ):
            for op in self._decode(op_id.node, body):
                if op.counter == op_id.counter:
                    return op
        return None

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

    def canonical(self, entities: Iterable[tuple[str, str]] | None = None) -> bytes:
        """The merged state as canonical bytes (equal exactly when replicas agree); with
        ``entities``, only those (entity, eid) — what two replicas of different scope share."""
        wanted = None if entities is None else set(entities)
        conflicts = [
            Conflict(kind, entity, eid, field, OpId(on, oc), OpId(wn, wc) if wn else None,
                     OpId(rn, rc) if rn else None, detail)
            for kind, entity, eid, field, on, oc, wn, wc, rn, rc, detail in self.conn.execute(
                "SELECT kind, entity, eid, field, op_node, op_counter, winner_node, winner_counter, "
                "resolved_node, resolved_counter, detail FROM conflicts")
            if wanted is None or (entity, eid) in wanted
        ]
        registers = self._registers("", ())
        if wanted is not None:
            registers = ((key, register) for key, register in registers if (key.entity, key.eid) in wanted)
        return replica.canonical_dump(registers, conflicts)

    def op_count(self) -> int:
        return self.conn.execute("SELECT coalesce(sum(n), 0) FROM op_chunks").fetchone()[0]

    # -- ReplicaStorage -----------------------------------------------------------------------
    def held(self, ids: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Rejection | None]:
        found: dict[tuple[str, int], Rejection | None] = {}
        unsure: dict[str, list[int]] = {}
        contiguous, top, quarantined = self._contiguous, self._max, self._quarantined
        for op_id in ids:
            node, counter = op_id
            if counter > top.get(node, 0):
                continue
            if counter <= contiguous.get(node, 0) and not quarantined.get(node):
                found[op_id] = None
            else:
                unsure.setdefault(node, []).append(counter)
        for node, counters in unsure.items():
            low, high = min(counters), max(counters)
            wanted = set(counters)
            for counter in self._counters_held(node, low, high) & wanted:
                found[(node, counter)] = None
            for counter, field, reason in self.conn.execute(
                "SELECT counter, field, reason FROM quarantine WHERE node = ? AND counter BETWEEN ? AND ?",
                (node, low, high),
            ):
                if counter in wanted:
                    found[(node, counter)] = Rejection(field, reason)
        return found

    def arrived(self, op_id: tuple[str, int]) -> bool:
        node, counter = op_id
        if counter > self._max.get(node, 0):
            return False
        if counter <= self._contiguous.get(node, 0) and not self._quarantined.get(node):
            return True
        return counter in self._counters_held(node, counter, counter)

    def load(self, keys: Sequence[RegisterKey]) -> dict[RegisterKey, Any]:
        loaded: dict[RegisterKey, Any] = {}
        self._loaded_conflicted = set()
        self._loaded_keys = loaded.keys()
        loads = orjson.loads
        for start in range(0, len(keys), LOAD_CHUNK):
            chunk = keys[start:start + LOAD_CHUNK]
            params = [part for key in chunk for part in key[1:]]  # (entity, eid, field) of each key
            placeholders = ",".join(["(?,?,?)"] * len(chunk))
            # Joining from the VALUES list makes SQLite probe the primary key once per key;
            # a row-value IN (VALUES ...) would be planned as a scan of the whole table.
            rows = self.conn.execute(
                "SELECT r.entity, r.eid, r.field, r.kind, r.value, r.meta "
                f"FROM (VALUES {placeholders}) AS k "
                "JOIN registers AS r ON r.entity = k.column1 AND r.eid = k.column2 AND r.field = k.column3",
                params,
            )
            for entity, eid, field, kind, value, meta in rows:
                key = RegisterKey(kind, entity, eid, field)
                merge_kind = KINDS[kind]
                register = merge_kind.decode(
                    loads(value) if value is not None else None,
                    loads(meta) if meta is not None else None,
                )
                loaded[key] = register
                if merge_kind.conflicts(key, register):
                    self._loaded_conflicted.add(key)
        return loaded

    def save(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any],
             quarantined: Sequence[tuple[Op, Rejection]], clock: int) -> None:
        conn = self.conn
        by_node: dict[str, list[Op]] = {}
        for op in accepted:
            mine = by_node.get(op.node)
            if mine is None:
                by_node[op.node] = [op]
            else:
                mine.append(op)
        touched: dict[str, set[int]] = {node: {op.counter for op in mine} for node, mine in by_node.items()}
        for op, _ in quarantined:
            touched.setdefault(op.node, set()).add(op.counter)
        for node in touched:
            if node not in self._ix:
                ix = conn.execute("INSERT INTO nodes (node) VALUES (?)", (node,)).lastrowid
                assert ix is not None
                self._ix[node] = ix
                self._names[ix] = node
        conn.executemany(
            "INSERT INTO op_chunks (node, lo, hi, n, body) VALUES (?,?,?,?,?)",
            [
                # The node is the chunk's, so each op is stored without it; refs (OpId tuples)
                # serialise as [node, counter] pairs through default=tuple.
                (self._ix[node], min(touched[node]), max(touched[node]), len(mine),
                 _compress(orjson.dumps([op[1:] for op in mine], default=tuple)))
                for node, mine in by_node.items()
            ],
        )
        inserts = []
        updates = []
        conflict_deletes = []
        conflict_rows: list[tuple[Any, ...]] = []
        existing = self._loaded_keys
        dumps = orjson.dumps
        loaded_conflicted = self._loaded_conflicted
        for key, register in registers.items():
            kind, entity, eid, field = key
            merge_kind = KINDS[kind]
            value, meta = merge_kind.encode(register)
            # Stored as the JSON bytes orjson made (a BLOB): nothing here reads them with SQL's
            # JSON functions, and skipping the decode is a measurable share of the ingest path.
            value_json = None if value is None else dumps(value)
            meta_json = None if meta is None else dumps(meta)
            if key in existing:
                updates.append((value_json, meta_json, entity, eid, field))
            else:
                inserts.append((entity, eid, field, kind, value_json, meta_json))
            if kind in _NEVER_CONFLICTED:
                continue
            found = merge_kind.conflicts(key, register)
            if found or key in loaded_conflicted:
                conflict_deletes.append((key.entity, key.eid, key.field))
                conflict_rows.extend(
                    (c.entity, c.eid, c.field, c.op.node, c.op.counter,
                     c.resolved_by.node if c.resolved_by else "", c.resolved_by.counter if c.resolved_by else 0,
                     c.kind, c.winner.node if c.winner else None, c.winner.counter if c.winner else None, c.detail)
                    for c in found
                )
        # load() told us which registers exist: new ones are plain inserts, the rest updates.
        conn.executemany("INSERT INTO registers VALUES (?,?,?,?,?,?)", inserts)
        if updates:
            conn.executemany(
                "UPDATE registers SET value = ?, meta = ? WHERE entity = ? AND eid = ? AND field = ?", updates
            )
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
        for observer in self.observers:
            observer(self, accepted, registers)

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
            held = self._counters_held(node, counter + 1, self._max[node])
            held.update(c for (c,) in self.conn.execute(
                "SELECT counter FROM quarantine WHERE node = ? AND counter > ?", (node, counter)))
            while counter + 1 in held:
                counter += 1
        return counter

    def _counters_held(self, node: str, low: int, high: int) -> set[int]:
        """Counters of ``node`` in [low, high] accepted here (the slow path, off the frontier)."""
        held: set[int] = set()
        ix = self._ix.get(node)
        if ix is None:
            return held
        for lo, hi, n, body in self.conn.execute(
            "SELECT lo, hi, n, body FROM op_chunks WHERE node = ? AND hi >= ? AND lo <= ?", (ix, low, high)
        ):
            if hi - lo + 1 == n:
                held.update(range(max(lo, low), min(hi, high) + 1))
            else:
                held.update(c for c in (o[0] for o in orjson.loads(_decompress(body))) if low <= c <= high)
        return held

    def _registers(self, where: str, params: tuple[Any, ...]) -> Iterator[tuple[RegisterKey, Any]]:
        for entity, eid, field, kind, value, meta in self.conn.execute(
            f"SELECT entity, eid, field, kind, value, meta FROM registers {where}", params
        ).fetchall():
            yield RegisterKey(kind, entity, eid, field), KINDS[kind].decode(
                orjson.loads(value) if value is not None else None,
                orjson.loads(meta) if meta is not None else None,
            )

    @staticmethod
    def _decode(node: str, body: bytes) -> list[Op]:
        return [
            Op(node, counter, hlc, entity, eid, action, field, value,
               tuple(OpId(r[0], r[1]) for r in refs) if refs else ())
            for counter, hlc, entity, eid, action, field, value, refs in orjson.loads(_decompress(body))
        ]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A unit of work: everything inside commits together or not at all. Nests (inner
        levels are savepoints), so ``ingest`` and ``write`` can run inside a caller's transaction.
        On any error the database and the in-memory caches roll back together."""
        outermost = self._depth == 0
        savepoint = f"sp{self._depth}"
        self.conn.execute("BEGIN IMMEDIATE" if outermost else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if outermost:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO {savepoint}")
                self.conn.execute(f"RELEASE {savepoint}")
            self._load_caches()
            raise
        self._depth -= 1
        self.conn.execute("COMMIT" if outermost else f"RELEASE {savepoint}")


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
