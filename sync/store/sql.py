"""What the SQL stores share: a replica persisted as an op log stored per batch plus one row per
register, written once over a small dialect interface (SQLite and PostgreSQL).

The rules live in ``sync.replica`` and ``sync.kinds``; :class:`SqlReplica` only stores what they
decide. A dialect supplies the connection (``_execute`` / ``_executemany`` take SQL with ``?``
placeholders), how a transaction begins and what survives it (``_begin``, ``_reset``), where the
per-node frontier and the clock come from (``_frontier``, ``clock``, ``_set_clock``) and its DDL.

Layout, chosen for the ingest path. The op log is stored per batch: each ingest writes one
``op_chunks`` row per author node, holding that node's ops of the batch as one compressed JSON
body, keyed by a local sequence and indexed by (node, highest counter). A 1,000-op push from a
tablet is one row and one index entry instead of a thousand of each; reads (what does the other
side lack, changes since a cursor) decode whole chunks, which costs about a microsecond an op.
Dedup and "has this op arrived" are answered from the per-node contiguous frontier (``nodes``),
falling back to the chunks only for ops that arrived out of order. ``registers`` holds, per
(entity, eid, field), the value people read and the merge metadata as JSON bytes. ``logged_ops``
holds what a history read needs that no register names — counters' deltas, the writes around an
overwritten conflict resolution — so that read never decodes the whole log (``history.py``).
"""

from __future__ import annotations

import dataclasses
import gc
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from itertools import chain
from operator import itemgetter
from typing import Any, Generic, TypeVar

import orjson
import zstandard

from .. import replica
from ..errors import SyncError
from ..kinds import KINDS, Conflict
from ..kinds.append import APPEND_KIND
from ..ops import INCR, Op, OpId, from_wire, to_wire
from ..registry import RegisterKey, Registry, new_key
from ..replica import IngestResult, Rejection
from . import history

# Keys per SELECT when loading registers: large enough to amortise the call, far below SQLite's
# bound on bound parameters.
LOAD_CHUNK = 288
# A cursor into the log is (chunk seq, index inside the chunk) packed in one integer; a chunk
# never holds more ops than a batch may (sync.protocol.MAX_BATCH is far below this).
CURSOR_BITS = 16
# Chunks read per query where a scan may stop early or run long.
PAGE = 256
# Decoded chunks kept between reads, counted in ops (about a kilobyte each once decoded): enough
# for the history of a 100,000-record scope, which a bootstrap reads page after page.
CHUNK_CACHE_OPS = 131_072
# The counters of chunks holding ops that arrived out of order (a device's history pulls), kept to
# answer "is this op held" without decoding the chunk again; a few dozen bytes each.
CHUNK_CACHE_COUNTERS = 1 << 20
# Chunks read per query when looking up one counter: a node's chunks seldom overlap, so the
# first few by highest counter at or above it hold it.
CHUNKS_PER_LOOKUP = 8

# Kinds whose registers never hold a conflict: their rows in ``conflicts`` need no upkeep.
_NEVER_CONFLICTED = frozenset({"counter", "set", "tombstone"})
# Each kind's methods the store calls per register, looked up once.
_ENCODE = {name: kind.encode for name, kind in KINDS.items()}
_DECODE = {name: kind.decode for name, kind in KINDS.items()}
_CONFLICTS = {name: kind.conflicts for name, kind in KINDS.items()}
_CONFLICT_COLUMNS = ("kind, entity, eid, field, op_node, op_counter, winner_node, winner_counter, "
                     "resolved_node, resolved_counter, detail")

# Op chunks are compressed: JSON of field-service ops shrinks about five times at zstd level 1,
# which costs a fraction of a microsecond an op and saves that much disk and WAL on every commit.
# A zstandard (de)compressor must not be used by two threads at once (the hub serves requests and
# runs its engines on threads; a process may hold several replicas): each thread gets its own pair.
_codecs = threading.local()


def _compress(data: bytes) -> bytes:
    compressor = getattr(_codecs, "compressor", None)
    if compressor is None:
        compressor = _codecs.compressor = zstandard.ZstdCompressor(level=1)
    return compressor.compress(data)


def _decompress(data: bytes) -> bytes:
    decompressor = getattr(_codecs, "decompressor", None)
    if decompressor is None:
        decompressor = _codecs.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(data)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector switched off for one batch, and back on after (if it was on).

    A batch allocates tens of thousands of short-lived tuples and lists and makes no reference
    cycles: reference counting frees all of it when the batch ends. Left on, the collector walks
    those objects several times a batch and, every few batches, the whole heap of the process
    (a hub's: its app, caches and requests in flight), which cost about a seventh of ingest time
    for nothing. Another thread's cycles wait for the next collection after the batch. Threads
    that overlap never leave it off: only the one that found it on switches it back on (so code
    that switches it off while a batch runs finds it on again after that batch)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ReadOnlyTransaction(SyncError):
    """A write was attempted inside a read-only snapshot (a programming error)."""

    def __init__(self) -> None:
        super().__init__("this replica is inside a read snapshot, which cannot write ops",
                         hint="open the writer transaction (transaction()) before the snapshot, not inside it")


def encode_chunk(ops: Sequence[Op]) -> bytes:
    """One node's ops of a batch as a chunk body. The node is the chunk's, so each op is stored
    without it; refs (OpId tuples) serialise as [node, counter] pairs through default=tuple."""
    return _compress(orjson.dumps(list(map(_WITHOUT_NODE, ops)), default=tuple))


_WITHOUT_NODE = itemgetter(slice(1, None))
_NODE = itemgetter(0)
_COUNTER = itemgetter(1)
_KEY_PARTS = itemgetter(1, 2, 3)  # a RegisterKey's (entity, eid, field)
# Op and OpId built without NamedTuple's Python-level __new__: a bootstrap decodes every op it sends.
_new_op = partial(tuple.__new__, Op)
_new_op_id = partial(tuple.__new__, OpId)


def decode_chunk(node: str, body: bytes) -> list[Op]:
    """The ops of a chunk body written by :func:`encode_chunk` for ``node``."""
    return [
        _new_op((node, counter, hlc, entity, eid, action, field, value,
                 tuple([_new_op_id(r) for r in refs]) if refs else ()))
        for counter, hlc, entity, eid, action, field, value, refs in orjson.loads(_decompress(body))
    ]


def _ops_by_counter(node: str, body: bytes) -> dict[int, Op]:
    return {op.counter: op for op in decode_chunk(node, body)}


def chunk_counters(body: bytes) -> frozenset[int]:
    """The counters of the ops in a chunk body."""
    return frozenset(row[0] for row in chunk_rows(body))


def chunk_rows(body: bytes) -> list[Any]:
    """The ops of a chunk body as stored: [counter, hlc, entity, eid, action, field, value, refs] each."""
    return orjson.loads(_decompress(body))  # type: ignore[no-any-return]


_Entry = TypeVar("_Entry", bound=Sized)


class ChunkCache(Generic[_Entry]):
    """What was decoded from op chunks, by chunk seq, at most ``capacity`` items (the entries'
    lengths) in all.

    A committed chunk never changes, so an entry stays true until a transaction that wrote
    chunks rolls back (SQLite may give the next chunk the same seq): the replica clears the cache
    then. When full it drops a random entry, not the least recently used: a history read sweeps
    the same chunks page after page, and a sweep one chunk wider than an LRU cache would miss
    every time, where random eviction still hits about as often as the share that fits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[int, _Entry] = {}
        self._seqs: list[int] = []
        self._size = 0
        self._random = random.Random(0)
        self._lock = threading.Lock()  # a replica may be read from several threads (the hub's)

    def get(self, seq: int, make: Callable[[], _Entry]) -> _Entry:
        """The entry of chunk ``seq``, made by ``make()`` if not held."""
        entry = self._entries.get(seq)
        if entry is not None:
            return entry
        entry = make()
        with self._lock:
            if seq in self._entries:
                return self._entries[seq]
            while self._seqs and self._size + len(entry) > self.capacity:
                index = self._random.randrange(len(self._seqs))
                self._seqs[index], self._seqs[-1] = self._seqs[-1], self._seqs[index]
                self._size -= len(self._entries.pop(self._seqs.pop()))
            if len(entry) <= self.capacity:
                self._entries[seq] = entry
                self._seqs.append(seq)
                self._size += len(entry)
        return entry

    def peek(self, seq: int) -> _Entry | None:
        """The entry of chunk ``seq`` if held."""
        return self._entries.get(seq)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seqs.clear()
            self._size = 0


def _decoded_registers(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[RegisterKey, Any]]:
    """(key, register) of rows (entity, eid, field, kind, value, meta) of the registers table."""
    loads = orjson.loads
    for entity, eid, field, kind, value, meta in rows:
        yield RegisterKey(kind, entity, eid, field), KINDS[kind].decode(
            loads(value) if value is not None else None,
            loads(meta) if meta is not None else None,
        )


def _padded(count: int) -> int:
    """How many keys a load statement for ``count`` keys holds: few lengths, few statements."""
    return count if count <= 8 else -(-count // 32) * 32


@cache
def _load_sql(size: int) -> str:
    return ("SELECT r.entity, r.eid, r.field, r.kind, r.value, r.meta "
            f"FROM (VALUES {','.join(['(?,?,?)'] * size)}) AS k "
            "JOIN registers AS r ON r.entity = k.column1 AND r.eid = k.column2 AND r.field = k.column3")


def _text(data: Any) -> str | None:
    return None if data is None else orjson.dumps(data).decode()


@dataclass
class Frontier:
    """What the store knows per author node: its row id in the log (``ix``), its contiguous
    frontier, its highest counter held and how many of its ops sit in quarantine. ``looked``
    holds the nodes already read (present or not); ``complete`` says every node was read."""

    ix: dict[str, int] = dataclasses.field(default_factory=dict)
    contiguous: dict[str, int] = dataclasses.field(default_factory=dict)
    max: dict[str, int] = dataclasses.field(default_factory=dict)
    quarantined: dict[str, int] = dataclasses.field(default_factory=dict)
    looked: set[str] = dataclasses.field(default_factory=set)
    complete: bool = False

    def add(self, ix: int, node: str, contiguous: int, max_counter: int, quarantined: int) -> None:
        self.ix[node] = ix
        self.contiguous[node] = contiguous
        self.max[node] = max_counter
        self.quarantined[node] = quarantined
        self.looked.add(node)


NODE_COLUMNS = "ix, node, contiguous, max_counter, quarantined"


class SqlReplica:
    """A replica in a SQL database; see the module docstring. Subclasses open it."""

    def __init__(self, node: str, registry: Registry, max_ahead_ms: int) -> None:
        self.node = node
        self.registry = registry
        self.max_ahead_ms = max_ahead_ms
        self._names: dict[int, str] = {}  # ix -> node id, for decoding chunks
        self._loaded_conflicted: set[RegisterKey] = set()
        self._loaded_keys: Any = frozenset()  # the keys of the registers the last load() found
        self._now_ms = 0
        self._depth = 0
        self._chunk_ops: ChunkCache[dict[int, Op]] = ChunkCache(CHUNK_CACHE_OPS)
        self._chunk_counters: ChunkCache[frozenset[int]] = ChunkCache(CHUNK_CACHE_COUNTERS)
        self._logged: set[history.FieldKey] = set()  # what the last save named in logged_ops
        # Called inside the ingest transaction, after the batch is written: (replica, accepted ops,
        # the registers they changed). The hub keeps its read models exactly in step this way.
        self.observers: list[Callable[[Any, Sequence[Op], Mapping[RegisterKey, Any]], None]] = []

    # -- what a dialect provides ----------------------------------------------------------------
    # Whether a register's value and meta are bound as JSON text, or as the bytes orjson makes
    # (PostgreSQL's BYTEA).
    _json_as_text = False

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``?`` placeholders; returns a cursor (iterable rows)."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        """Open the outermost transaction of a unit of work that may write."""
        raise NotImplementedError

    def _reset(self, committed: bool) -> None:
        """A transaction ended (or a savepoint rolled back): drop what may no longer be true."""
        raise NotImplementedError

    def _frontier(self, nodes: Iterable[str] | None = None) -> Frontier:
        """The frontier, holding at least ``nodes`` (every node when None), true for the current
        transaction."""
        raise NotImplementedError

    def clock(self) -> int:
        """The last HLC this replica issued or observed."""
        raise NotImplementedError

    def _set_clock(self, clock: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SqlReplica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _node_rows(self, nodes: Iterable[str] | None) -> Iterable[tuple[int, str, int, int, int]]:
        if nodes is None:
            return self._execute(f"SELECT {NODE_COLUMNS} FROM nodes").fetchall()
        wanted = list(nodes)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        return self._execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE node IN ({marks})", wanted).fetchall()

    def _read_frontier(self, front: Frontier, nodes: Iterable[str] | None) -> Frontier:
        """``front`` holding at least ``nodes`` (every node when None): the rows it lacks are read."""
        if front.complete:
            return front
        if nodes is None:
            rows = self._node_rows(None)
            front.complete = True
        else:
            missing = [node for node in nodes if node not in front.looked]
            if not missing:
                return front
            rows = self._node_rows(missing)
            front.looked.update(missing)
        for ix, node, contiguous, max_counter, quarantined in rows:
            front.add(ix, node, contiguous, max_counter, quarantined)
            self._names[ix] = node
        return front

    def _name_of(self, ix: int) -> str:
        name = self._names.get(ix)
        if name is None:
            name = self._names[ix] = self._execute("SELECT node FROM nodes WHERE ix = ?", (ix,)).fetchone()[0]
        return name

    # -- the public replica API -------------------------------------------------------------
    def ingest(self, ops: Iterable[Op], now_ms: int, *, schema_checked: bool = False) -> IngestResult:
        """Fold a batch in, in one transaction; acknowledged (returned) only after commit.
        ``schema_checked``: see replica.ingest."""
        self._now_ms = now_ms
        with _collector_paused(), self.transaction():
            return replica.ingest(self, ops, now_ms, schema_checked=schema_checked)

    def rebuild(self, entities: Iterable[tuple[str, str]], ops: Iterable[Op], now_ms: int,
                unacknowledged: Iterable[Op] = (), *, schema_checked: bool = False) -> IngestResult:
        """Reset these entities to the state ``ops`` build, in one transaction (see replica.rebuild).
        Observers are told of the registers rebuilt, not of those dropped and not rebuilt."""
        self._now_ms = now_ms
        entities, ops, unacknowledged = list(entities), list(ops), list(unacknowledged)
        with _collector_paused(), self.transaction():
            result = replica.rebuild(self, entities, ops, now_ms, unacknowledged, schema_checked=schema_checked)
            self._index_refolded(set(entities), [*ops, *unacknowledged])
            return result

    def write(self, now_ms: int, entity: str, eid: str, action: str, field: str = "", value: Any = None,
              refs: Sequence[OpId] = ()) -> Op:
        """Author this node's next op; durable when this returns."""
        self._now_ms = now_ms
        with self.transaction():
            return replica.author(self, now_ms, entity, eid, action, field, value, refs)

    def write_many(self, now_ms: int, changes: Iterable[tuple[Any, ...]]) -> list[Op]:
        """Author several ops in one transaction: all recorded, or none. Each change is the
        arguments of :meth:`write` after ``now_ms``: (entity, eid, action[, field[, value[, refs]]])."""
        self._now_ms = now_ms
        with self.transaction():
            return replica.author_many(self, now_ms, changes)

    def quarantine(self, rejected: Iterable[tuple[Op, Rejection]], now_ms: int) -> list[tuple[OpId, Rejection]]:
        """Keep ops refused by a policy outside the engine in quarantine (see replica.quarantine)."""
        self._now_ms = now_ms
        with self.transaction():
            return replica.quarantine(self, rejected)

    def release(self, now_ms: int, limit: int) -> IngestResult:
        """Merge, in one transaction, up to ``limit`` ops that waited in quarantine only for the
        clock to reach them (see replica.release)."""
        self._now_ms = now_ms
        with _collector_paused(), self.transaction():
            return replica.release(self, now_ms, limit)

    def log_end(self) -> int:
        """The cursor just past the last op held: ``ops_since(log_end())`` returns nothing yet."""
        top = self._execute("SELECT max(seq) FROM op_chunks").fetchone()[0] or 0
        return (top + 1) << CURSOR_BITS

    def history_ops(self, keys: Iterable[tuple[str, str]]) -> list[Op]:
        """The ops that rebuild the current state of these entities on a replica that has never
        seen them: for each register, the ops its state is made of (the heads of an lww field,
        every transition, live set tags, a record and its voids, the delete) — superseded writes
        are left out. Counters need every delta, and an lww field whose conflict resolution was
        overwritten the writes since: those come from ``logged_ops`` (see sync.store.history),
        the deltas from that table alone, the writes from the chunks holding them — never from a
        scan of the log."""
        wanted: set[tuple[str, int]] = set()
        logged: dict[history.FieldKey, tuple[str, Any]] = {}
        rebuilt: list[Op] = []
        for key, register in self._entity_registers(list(dict.fromkeys(keys))):
            kind = KINDS[key.kind]
            ops = kind.history_ops(key, register)
            if ops is not None:
                rebuilt.extend(ops)
                continue
            ids = kind.history(register)
            if ids is None:
                logged[(key.entity, key.eid, key.field)] = (key.kind, register)
            else:
                wanted.update(ids)
        found = self._fetch_ops(wanted)
        found.extend(rebuilt)
        if logged:
            found.extend(self._logged_history(logged))
        found.sort(key=lambda op: (op.node, op.counter))
        return found

    def _logged_history(self, fields: Mapping[history.FieldKey, tuple[str, Any]]) -> list[Op]:
        """The ops that rebuild these registers — counters, and lww fields whose ``history`` is
        None — from what ``logged_ops`` holds of them: a counter's deltas whole, an lww field's
        writes by id (read from their chunks with the heads and the writes its records name)."""
        found: list[Op] = []
        writes: dict[history.FieldKey, set[tuple[str, int]]] = {
            key: set() for key, (kind, _) in fields.items() if kind == "lww"}
        loads = orjson.loads
        for entity, eid, field, node_ix, counter, hlc, value in self._logged_rows(list(fields)):
            ids = writes.get((entity, eid, field))
            if ids is not None:
                ids.add((self._name_of(node_ix), counter))
            else:
                found.append(_new_op((self._name_of(node_ix), counter, hlc, entity, eid, INCR, field,
                                      loads(value), ())))
        for key, ids in writes.items():
            register = fields[key][1]
            heads = [(write.node, write.counter) for write in register.heads]
            ids.update(heads)
            ids.update(op_id for record in register.resolved for op_id in record)
            # A forged ref may name another field's op: it is not one of this field's writes.
            candidates = {(op.node, op.counter): op for op in self._fetch_ops(ids)
                          if (op.entity, op.eid, op.field) == key}
            found.extend(history.rebuilding_writes(heads, candidates))
        return found

    def _logged_rows(self, fields: Sequence[history.FieldKey]) -> Iterator[tuple[Any, ...]]:
        """The rows (entity, eid, field, node ix, counter, hlc, value) of ``logged_ops`` for these fields."""
        return self._rows_matching("logged_ops", "entity, eid, field, node, counter, hlc, value",
                                   ("entity", "eid", "field"), fields)

    def history_wire(self, keys: Iterable[tuple[str, str]]) -> list[list[Any]]:
        """:meth:`history_ops` in wire form (sync.ops.to_wire), ready to send. A lone record —
        most of what a bootstrap sends — goes from its stored row to the wire without being
        decoded into a register and an op, its value as the JSON text stored."""
        records: list[list[Any]] = []
        others: set[tuple[str, str]] = set()
        loads = orjson.loads
        for entity, eid, field, kind, value, meta in self._entity_rows(list(dict.fromkeys(keys))):
            record = (APPEND_KIND.single_record_wire(RegisterKey(kind, entity, eid, field), value, loads(meta))
                      if kind == APPEND_KIND.name else None)
            if record is not None:
                records.append(record)
            else:
                others.add((entity, eid))
        # An entity with any other register goes whole through history_ops.
        wire = [record for record in records if (record[3], record[4]) not in others]
        if others:
            wire.extend(to_wire(op) for op in self.history_ops(sorted(others)))
        wire.sort(key=lambda row: (row[0], row[1]))
        return wire

    def _fetch_ops(self, ids: Iterable[tuple[str, int]]) -> list[Op]:
        """The ops held with these ids. Each chunk holding some of them is decoded once, and
        kept (see ChunkCache): a bootstrap reads its scope's history a page of entities at a
        time, and a page's ops lie scattered over the same chunks as the next page's."""
        by_node: dict[str, list[int]] = {}
        for node, counter in ids:
            by_node.setdefault(node, []).append(counter)
        found: list[Op] = []
        front = self._frontier(by_node)
        for node, counters in by_node.items():
            ix = front.ix.get(node)
            if ix is None:
                continue
            # The chunks that held the last counter looked up: counters go in order and a node's
            # chunks seldom overlap, so they hold the next ones too until a counter is past them.
            chunks: list[dict[int, Op]] = []
            for counter in sorted(set(counters)):
                op = next((ops[counter] for ops in chunks if counter in ops), None)
                if op is None:
                    chunks = [
                        self._chunk_ops.get(seq, partial(self._read_chunk, seq, node))
                        for seq, lo in self._execute(
                            "SELECT seq, lo FROM op_chunks WHERE node = ? AND hi >= ? ORDER BY hi LIMIT ?",
                            (ix, counter, CHUNKS_PER_LOOKUP),
                        ).fetchall()
                        if lo <= counter
                    ]
                    op = next((ops[counter] for ops in chunks if counter in ops), None)
                if op is not None:
                    found.append(op)
        return found

    def _read_chunk(self, seq: int, node: str) -> dict[int, Op]:
        (body,), = self._execute("SELECT body FROM op_chunks WHERE seq = ?", (seq,)).fetchall()
        return _ops_by_counter(node, body)

    def vector(self) -> dict[str, int]:
        return {node: counter for node, counter in self._frontier().contiguous.items() if counter}

    def max_counters(self) -> dict[str, int]:
        return {node: counter for node, counter in self._frontier().max.items() if counter}

    def ops_after(self, after: Mapping[str, int], limit: int) -> list[Op]:
        """Ops held here with counter above ``after[node]`` (0 for nodes not named), ordered by
        (node, counter), at most ``limit``."""
        found: list[Op] = []
        front = self._frontier()
        for node in sorted(front.max):
            floor = after.get(node, 0)
            if front.max[node] <= floor:
                continue
            wanted = limit - len(found)
            picked: list[Op] = []
            for lo, body in self._chunks_above(front.ix[node], floor):
                # Chunks come in order of their lowest counter; once enough ops are in hand, a
                # chunk starting past the last one wanted cannot hold any of the first `wanted`.
                if len(picked) >= wanted:
                    picked.sort(key=lambda op: op.counter)
                    del picked[wanted:]
                    if lo > picked[-1].counter:
                        break
                picked.extend(op for op in decode_chunk(node, body) if op.counter > floor)
            picked.sort(key=lambda op: op.counter)
            found.extend(picked[:wanted])
            if len(found) >= limit:
                break
        return found

    def _chunks_above(self, ix: int, floor: int) -> Iterator[tuple[int, bytes]]:
        """(lo, body) of a node's chunks holding counters above ``floor``, by lowest counter, read a
        page at a time (the caller stops early). A node's chunks hold distinct counters, so ``lo``
        orders them without ties."""
        last = -1
        while True:
            rows = self._execute("SELECT lo, body FROM op_chunks WHERE node = ? AND hi > ? AND lo > ? ORDER BY lo "
                                 "LIMIT ?", (ix, floor, last, PAGE)).fetchall()
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    def ops_since(self, cursor: int, limit: int) -> tuple[list[Op], int]:
        """Ops in the order this replica took them in, after ``cursor`` (0 for the beginning);
        returns the ops and the cursor to ask from next time. Cost grows with the ops returned,
        not with the size of the log. Chunks are decoded through the chunk cache: every device's
        pull reads the same recent log, and a hub's views share one cache (share_chunks_with)."""
        seq, skip = cursor >> CURSOR_BITS, cursor & ((1 << CURSOR_BITS) - 1)
        # Each chunk holds at least one op past the cursor, so ``limit`` chunks are always enough;
        # their sizes say how many are needed, before any body is read.
        wanted: list[tuple[int, int, int]] = []  # (seq, node ix, first op past the cursor)
        count = 0
        for chunk_seq, node_ix, size in self._execute(
                "SELECT seq, node, n FROM op_chunks WHERE seq >= ? ORDER BY seq LIMIT ?",
                (max(seq, 1), limit)).fetchall():
            start = skip if chunk_seq == seq else 0
            if start >= size:
                continue
            wanted.append((chunk_seq, node_ix, start))
            count += size - start
            if count >= limit:
                break
        bodies = self._chunk_bodies([chunk for chunk, _, _ in wanted if self._chunk_ops.peek(chunk) is None])
        found: list[Op] = []
        next_cursor = cursor
        for chunk_seq, node_ix, start in wanted:
            node, body = self._name_of(node_ix), bodies.get(chunk_seq)
            # No body read: the chunk was held when asked for (if it is gone since, it is read again).
            make = (partial(_ops_by_counter, node, body) if body is not None
                    else partial(self._read_chunk, chunk_seq, node))
            ops = list(self._chunk_ops.get(chunk_seq, make).values())
            take = ops[start:start + limit - len(found)]
            found.extend(take)
            end = start + len(take)
            next_cursor = (chunk_seq << CURSOR_BITS) | end if end < len(ops) else (chunk_seq + 1) << CURSOR_BITS
            if len(found) >= limit:
                break
        return found, next_cursor

    def _chunk_bodies(self, seqs: Sequence[int]) -> dict[int, bytes]:
        """The bodies of these chunks, a page of them a query."""
        bodies: dict[int, bytes] = {}
        for begin in range(0, len(seqs), PAGE):
            page = seqs[begin:begin + PAGE]
            bodies.update(self._execute(f"SELECT seq, body FROM op_chunks WHERE seq IN ({','.join('?' * len(page))})",
                                        page).fetchall())
        return bodies

    def get_op(self, op_id: OpId) -> Op | None:
        found = self._fetch_ops([op_id])
        return found[0] if found else None

    def entity(self, entity: str, eid: str) -> dict[str, Any]:
        return replica.entity_view(self._registers("WHERE entity = ? AND eid = ? ORDER BY field", (entity, eid)))

    def register(self, entity: str, eid: str, field: str = "") -> Any | None:
        rows = list(self._registers("WHERE entity = ? AND eid = ? AND field = ?", (entity, eid, field)))
        return rows[0][1] if rows else None

    def entity_ids(self, entity: str) -> list[str]:
        return [row[0] for row in self._execute(
            "SELECT DISTINCT eid FROM registers WHERE entity = ? ORDER BY eid", (entity,)).fetchall()]

    def conflicts(self, entity: str | None = None, eid: str | None = None) -> list[dict[str, Any]]:
        """Conflicts kept here, each with both values: the op that lost and the one that won."""
        clauses, params = [], []
        if entity is not None:
            clauses.append("entity = ?")
            params.append(entity)
        if eid is not None:
            clauses.append("eid = ?")
            params.append(eid)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self._execute(f"SELECT {_CONFLICT_COLUMNS} FROM conflicts{where} "
                             "ORDER BY entity, eid, field, op_node, op_counter", params).fetchall()
        found = []
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
        """Every op held in quarantine, in order of arrival, with why: ``clock_ahead`` when it only
        waits for this replica's clock to catch up with its timestamp (see :meth:`release`)."""
        return [
            {"id": f"{node}:{counter}", "received_ms": received, "field": field, "reason": reason,
             "clock_ahead": ahead_hlc is not None, "op": orjson.loads(op)}
            for node, counter, received, field, reason, op, ahead_hlc in self._execute(
                "SELECT node, counter, received_ms, field, reason, op, ahead_hlc FROM quarantine ORDER BY id"
            ).fetchall()
        ]

    def quarantined_of(self, node: str, limit: int) -> list[tuple[OpId, Rejection]]:
        """The first ``limit`` of ``node``'s ops held in quarantine, by counter, with why."""
        return [
            (OpId(node, counter), Rejection(field, reason, ahead_hlc is not None))
            for counter, field, reason, ahead_hlc in self._execute(
                "SELECT counter, field, reason, ahead_hlc FROM quarantine WHERE node = ? ORDER BY counter LIMIT ?",
                (node, limit)).fetchall()
        ]

    def canonical(self, entities: Iterable[tuple[str, str]] | None = None) -> bytes:
        """The merged state as canonical bytes (equal exactly when replicas agree); with
        ``entities``, only those (entity, eid) — what two replicas of different scope share."""
        wanted = None if entities is None else set(entities)
        conflicts = [
            Conflict(kind, entity, eid, field, OpId(on, oc), OpId(wn, wc) if wn else None,
                     OpId(rn, rc) if rn else None, detail)
            for kind, entity, eid, field, on, oc, wn, wc, rn, rc, detail in self._execute(
                f"SELECT {_CONFLICT_COLUMNS} FROM conflicts").fetchall()
            if wanted is None or (entity, eid) in wanted
        ]
        registers = self._registers("", ())
        if wanted is not None:
            registers = ((key, register) for key, register in registers if (key.entity, key.eid) in wanted)
        return replica.canonical_dump(registers, conflicts)

    def op_count(self) -> int:
        return int(self._execute("SELECT coalesce(sum(n), 0) FROM op_chunks").fetchone()[0])

    # -- ReplicaStorage -----------------------------------------------------------------------
    def held(self, ids: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Rejection | None]:
        found: dict[tuple[str, int], Rejection | None] = {}
        unsure: dict[str, list[int]] = {}
        front = self._frontier(set(map(_NODE, ids)))
        contiguous, top, quarantined = front.contiguous, front.max, front.quarantined
        top_of = top.get
        for op_id in ids:
            node, counter = op_id
            if counter > top_of(node, 0):
                continue  # past everything held of its node: most of a batch
            if counter <= contiguous.get(node, 0) and not quarantined.get(node):
                found[op_id] = None
            else:
                unsure.setdefault(node, []).append(counter)
        for node, counters in unsure.items():
            low, high = min(counters), max(counters)
            wanted = set(counters)
            for counter in self._counters_held(node, low, high) & wanted:
                found[(node, counter)] = None
            for counter, field, reason, ahead_hlc in self._execute(
                "SELECT counter, field, reason, ahead_hlc FROM quarantine WHERE node = ? AND counter BETWEEN ? AND ?",
                (node, low, high),
            ).fetchall():
                if counter in wanted:
                    found[(node, counter)] = Rejection(field, reason, ahead_hlc is not None)
        return found

    def waiting(self, latest: int, limit: int) -> list[Op]:
        return [from_wire(orjson.loads(op)) for (op,) in self._execute(
            "SELECT op FROM quarantine WHERE ahead_hlc <= ? ORDER BY ahead_hlc, node, counter LIMIT ?",
            (latest, limit)).fetchall()]

    def arrived(self, op_id: tuple[str, int]) -> bool:
        node, counter = op_id
        front = self._frontier((node,))
        if counter > front.max.get(node, 0):
            return False
        if counter <= front.contiguous.get(node, 0) and not front.quarantined.get(node):
            return True
        return counter in self._counters_held(node, counter, counter)

    def _load_rows(self, keys: Sequence[RegisterKey]) -> Iterator[tuple[Any, ...]]:
        """Rows (entity, eid, field, kind, value, meta) of the registers under these keys."""
        for start in range(0, len(keys), LOAD_CHUNK):
            chunk = keys[start:start + LOAD_CHUNK]
            params = list(chain.from_iterable(map(_KEY_PARTS, chunk)))
            # Padded to one of a few lengths with a key no register has (no entity is named ""):
            # preparing this statement costs more than running it, and SQLite's statement cache
            # keeps a few texts, not one per batch size.
            size = _padded(len(chunk))
            params.extend([""] * (3 * (size - len(chunk))))
            # Joining from the VALUES list makes SQLite probe the primary key once per key;
            # a row-value IN (VALUES ...) would be planned as a scan of the whole table.
            yield from self._execute(_load_sql(size), params)

    def load(self, keys: Sequence[RegisterKey]) -> dict[RegisterKey, Any]:
        loaded: dict[RegisterKey, Any] = {}
        conflicted = self._loaded_conflicted = set()
        self._loaded_keys = loaded.keys()
        loads = orjson.loads
        for entity, eid, field, kind, value, meta in self._load_rows(keys):
            key = new_key((kind, entity, eid, field))
            register = loaded[key] = _DECODE[kind](
                loads(value) if value is not None else None,
                loads(meta) if meta is not None else None,
            )
            if kind not in _NEVER_CONFLICTED and _CONFLICTS[kind](key, register):
                conflicted.add(key)
        return loaded

    def save(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any],
             quarantined: Sequence[tuple[Op, Rejection]], clock: int,
             released: Sequence[tuple[str, int]] = ()) -> None:
        by_node: dict[str, list[Op]] = {}
        for op in accepted:
            mine = by_node.get(op[0])
            if mine is None:
                by_node[op[0]] = [op]
            else:
                mine.append(op)
        touched: dict[str, set[int]] = {node: set(map(_COUNTER, mine)) for node, mine in by_node.items()}
        for op, _ in quarantined:
            touched.setdefault(op.node, set()).add(op.counter)
        front = self._frontier(touched)
        for node in touched:
            if node not in front.ix:
                ix = self._execute("INSERT INTO nodes (node) VALUES (?) RETURNING ix", (node,)).fetchall()[0][0]
                front.add(ix, node, 0, 0, 0)
                self._names[ix] = node
        dense = []
        for node, mine in by_node.items():
            row = (front.ix[node], min(touched[node]), max(touched[node]), len(mine), encode_chunk(mine))
            if row[2] - row[1] + 1 == row[3]:
                dense.append(row)
                continue
            # Ops out of order (a history pull): the next batches ask which of them are held, and
            # would otherwise decode the chunk to find out.
            (seq,), = self._execute("INSERT INTO op_chunks (node, lo, hi, n, body) VALUES (?,?,?,?,?) RETURNING seq",
                                    row).fetchall()
            self._chunk_counters.get(seq, partial(frozenset, [op.counter for op in mine]))
        self._executemany("INSERT INTO op_chunks (node, lo, hi, n, body) VALUES (?,?,?,?,?)", dense)
        self._save_registers(registers)
        self._index_history(accepted, registers)
        if released:
            # Each is in this batch again (accepted, or quarantined anew), so its node is touched
            # and its count written below; its counter stays within the contiguous frontier.
            self._executemany("DELETE FROM quarantine WHERE node = ? AND counter = ?", released)
            for node, _ in released:
                front.quarantined[node] -= 1
        if quarantined:
            self._executemany(
                "INSERT INTO quarantine (node, counter, received_ms, field, reason, op, ahead_hlc) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (op.node, op.counter, self._now_ms, r.field, r.reason, _text(to_wire(op)),
                     op.hlc if r.clock_ahead else None)
                    for op, r in quarantined
                ],
            )
            for op, _ in quarantined:
                front.quarantined[op.node] = front.quarantined.get(op.node, 0) + 1
        for node, counters in touched.items():
            front.max[node] = max(front.max.get(node, 0), max(counters))
            front.contiguous[node] = self._advance(front, node, counters)
        self._executemany(
            "UPDATE nodes SET contiguous = ?, max_counter = ?, quarantined = ? WHERE node = ?",
            [(front.contiguous[n], front.max[n], front.quarantined.get(n, 0), n) for n in touched],
        )
        if clock != self.clock():
            self._set_clock(clock)
        for observer in self.observers:
            observer(self, accepted, registers)

    def _save_registers(self, registers: Mapping[RegisterKey, Any]) -> None:
        inserts = []
        updates = []
        conflict_deletes = []
        conflict_rows: list[tuple[Any, ...]] = []
        existing = self._loaded_keys
        dumps = orjson.dumps
        text = self._json_as_text
        loaded_conflicted = self._loaded_conflicted
        value_json: str | bytes | None
        meta_json: str | bytes | None
        for key, register in registers.items():
            kind, entity, eid, field = key
            value, meta = _ENCODE[kind](register)
            if text:
                value_json = None if value is None else dumps(value).decode()
                meta_json = None if meta is None else dumps(meta).decode()
            else:
                value_json = None if value is None else dumps(value)
                meta_json = None if meta is None else dumps(meta)
            if key in existing:
                updates.append((value_json, meta_json, entity, eid, field))
            else:
                inserts.append((entity, eid, field, kind, value_json, meta_json))
            if kind in _NEVER_CONFLICTED:
                continue
            found = _CONFLICTS[kind](key, register)
            if found or key in loaded_conflicted:
                conflict_deletes.append((key.entity, key.eid, key.field))
                conflict_rows.extend(
                    (c.entity, c.eid, c.field, c.op.node, c.op.counter,
                     c.resolved_by.node if c.resolved_by else "", c.resolved_by.counter if c.resolved_by else 0,
                     c.kind, c.winner.node if c.winner else None, c.winner.counter if c.winner else None, c.detail)
                    for c in found
                )
        # load() told us which registers exist: new ones are plain inserts, the rest updates.
        if inserts:
            # In key order: each row lands beside the last in the table's b-tree (a bootstrap
            # inserts 100,000; in arrival order they land all over it, at twice the cost).
            inserts.sort()
            self._executemany("INSERT INTO registers VALUES (?,?,?,?,?,?)", inserts)
        if updates:
            self._executemany(
                "UPDATE registers SET value = ?, meta = ? WHERE entity = ? AND eid = ? AND field = ?", updates
            )
        if conflict_deletes:
            self._executemany("DELETE FROM conflicts WHERE entity = ? AND eid = ? AND field = ?", conflict_deletes)
            if conflict_rows:
                self._executemany("INSERT INTO conflicts VALUES (?,?,?,?,?,?,?,?,?,?,?)", conflict_rows)

    # -- logged_ops (see sync.store.history) ----------------------------------------------
    def _index_history(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any]) -> None:
        """Name, in ``logged_ops``, this batch's ops of the registers that need them (history.logged)."""
        self._logged = history.logged_fields(registers)
        if not self._logged:
            return
        logged = self._logged
        self._add_history_rows([op for op in accepted if (op.entity, op.eid, op.field) in logged])

    def _index_refolded(self, reset: set[tuple[str, str]], ops: Sequence[Op]) -> None:
        """After a rebuild: add the ops merged again into the rebuilt registers. They were held
        already, so the batch's save did not see them; it left the fields that need rows in
        ``_logged`` (a rebuild saves once)."""
        logged = self._logged
        mine = {(op.node, op.counter): op for op in ops
                if (op.entity, op.eid) in reset and (op.entity, op.eid, op.field) in logged}
        if mine:
            held = self.held(list(mine))
            self._add_history_rows([op for op_id, op in mine.items() if op_id in held and held[op_id] is None])

    def _add_history_rows(self, ops: Sequence[Op]) -> None:
        if not ops:
            return
        ix = self._frontier({op.node for op in ops}).ix
        dumps = orjson.dumps
        # A delta is kept whole (an INCR op has no refs): a history sends it without reading its
        # chunk, which holds the rest of its push. An lww write is kept by id, read from the log.
        rows = [(op.entity, op.eid, op.field, ix[op.node], op.counter,
                 *((op.hlc, dumps(op.value)) if op.action == INCR else (None, None))) for op in ops]
        rows.sort(key=lambda row: row[:5])
        self._executemany("INSERT INTO logged_ops VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)

    def next_counter(self) -> int:
        return self._frontier((self.node,)).max.get(self.node, 0) + 1

    def drop(self, entities: Sequence[tuple[str, str]]) -> None:
        pairs = [(entity, eid) for entity, eid in entities]
        if not pairs:
            return
        # Most entities a history page resets were never held here (a first sync): finding the
        # few that were, many a query, costs a fraction of a DELETE statement run per entity.
        for table in ("registers", "conflicts", "logged_ops"):
            held = self._entities_in(table, pairs)
            if held:
                self._executemany(f"DELETE FROM {table} WHERE entity = ? AND eid = ?", held)

    def _entities_in(self, table: str, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Those of these (entity, eid) that have a row in ``table``."""
        found: dict[tuple[str, str], None] = {}
        for start in range(0, len(pairs), LOAD_CHUNK):
            chunk = pairs[start:start + LOAD_CHUNK]
            found.update(dict.fromkeys(map(tuple, self._execute(
                f"SELECT t.entity, t.eid FROM (VALUES {','.join(['(?,?)'] * len(chunk))}) AS k "
                f"JOIN {table} AS t ON t.entity = k.column1 AND t.eid = k.column2",
                [part for key in chunk for part in key],
            ).fetchall())))
        return list(found)

    # -- internals ------------------------------------------------------------------------------
    def _advance(self, front: Frontier, node: str, batch: set[int]) -> int:
        """The new contiguous frontier of ``node`` after a batch holding ``batch`` counters."""
        counter = front.contiguous.get(node, 0)
        while counter + 1 in batch:
            counter += 1
        if counter < front.max[node]:
            # Ops of this node arrived out of order before: walk what is held past the frontier.
            held = self._counters_held(node, counter + 1, front.max[node])
            held.update(c for (c,) in self._execute(
                "SELECT counter FROM quarantine WHERE node = ? AND counter > ?", (node, counter)).fetchall())
            while counter + 1 in held:
                counter += 1
        return counter

    def _counters_held(self, node: str, low: int, high: int) -> set[int]:
        """Counters of ``node`` accepted here: all of those in [low, high], maybe some others
        (the slow path, off the frontier)."""
        held: set[int] = set()
        ix = self._frontier((node,)).ix.get(node)
        if ix is None:
            return held
        for seq, lo, hi, n, body in self._execute(
            "SELECT seq, lo, hi, n, body FROM op_chunks WHERE node = ? AND hi >= ? AND lo <= ?", (ix, low, high)
        ).fetchall():
            if hi - lo + 1 == n:
                held.update(range(max(lo, low), min(hi, high) + 1))
            else:
                # Ops that came out of order (a device's history pulls): every later batch asks
                # again, so the chunk's counters are kept. Those outside [low, high] are left in;
                # no caller is misled by them and filtering them costs more than the rest.
                held.update(self._chunk_counters.get(seq, partial(chunk_counters, body)))
        return held

    def _registers(self, where: str, params: Sequence[Any]) -> Iterator[tuple[RegisterKey, Any]]:
        return _decoded_registers(self._execute(
            f"SELECT entity, eid, field, kind, value, meta FROM registers {where}", params
        ).fetchall())

    def _entity_registers(self, keys: Sequence[tuple[str, str]]) -> Iterator[tuple[RegisterKey, Any]]:
        """Every register of these (entity, eid)."""
        return _decoded_registers(self._entity_rows(keys))

    def _entity_rows(self, keys: Sequence[tuple[str, str]]) -> Iterator[tuple[Any, ...]]:
        """Every registers row (entity, eid, field, kind, value, meta) of these (entity, eid), many
        entities a query (a bootstrap reads its whole scope's: one query each would cost more
        than the rest of the read)."""
        return self._rows_matching("registers", "entity, eid, field, kind, value, meta", ("entity", "eid"), keys)

    def _rows_matching(self, table: str, columns: str, key_columns: Sequence[str],
                       keys: Sequence[tuple[str, ...]]) -> Iterator[tuple[Any, ...]]:
        """``columns`` of the rows of ``table`` whose ``key_columns`` (a prefix of its primary key)
        equal one of ``keys``, many keys a query."""
        on = " AND ".join(f"t.{column} = k.column{n}" for n, column in enumerate(key_columns, 1))
        marks = f"({','.join('?' * len(key_columns))})"
        selected = ", ".join(f"t.{column.strip()}" for column in columns.split(","))
        for start in range(0, len(keys), LOAD_CHUNK):
            chunk = keys[start:start + LOAD_CHUNK]
            # Joined from the VALUES list, as in _load_rows: a probe of the primary key per key.
            yield from self._execute(
                f"SELECT {selected} FROM (VALUES {','.join([marks] * len(chunk))}) AS k JOIN {table} AS t ON {on}",
                [part for key in chunk for part in key],
            ).fetchall()

    @staticmethod
    def _decode(node: str, body: bytes) -> list[Op]:
        return decode_chunk(node, body)

    def _rolled_back(self) -> None:
        self.forget_chunks()
        self._reset(committed=False)

    def share_chunks_with(self, other: SqlReplica) -> None:
        """Decode chunks into ``other``'s caches, and find there what it decoded: a reader of the
        same database (a hub's planning views beside its writer). A committed chunk never
        changes, and the writer clears the caches when a transaction that wrote chunks rolls back."""
        self._chunk_ops = other._chunk_ops
        self._chunk_counters = other._chunk_counters

    def forget_chunks(self) -> None:
        """Drop what was decoded from the op log: after a rollback, or when chunks are rewritten."""
        self._chunk_ops.clear()
        self._chunk_counters.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A unit of work: everything inside commits together or not at all. Nests (inner
        levels are savepoints), so ``ingest`` and ``write`` can run inside a caller's transaction.
        On any error the database and what the replica remembers of it roll back together."""
        outermost = self._depth == 0
        savepoint = f"sp{self._depth}"
        if outermost:
            self._begin()
        else:
            self._execute(f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if outermost:
                self._execute("ROLLBACK")
            else:
                self._execute(f"ROLLBACK TO {savepoint}")
                self._execute(f"RELEASE {savepoint}")
            self._rolled_back()
            raise
        self._depth -= 1
        if not outermost:
            self._execute(f"RELEASE {savepoint}")
            return
        try:
            self._execute("COMMIT")
        except BaseException:
            self._rolled_back()
            raise
        self._reset(committed=True)
