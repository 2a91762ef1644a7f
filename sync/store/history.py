"""Which ops a history read must find in the op log, and how they are found without reading all of it.

Most registers name the ops they are made of (``MergeKind.history``). Two do not: a counter is the
sum of every delta, and an lww field whose conflict resolution was overwritten needs the writes that
link the resolving write to the current heads, which the register forgot. For those the store keeps
``logged_ops``: per (entity, eid, field), each such op by id (node ix, counter), written in the
ingest transaction; a counter's delta is kept whole (HLC and value: an INCR op has no refs), so a
history sends it without decoding the chunk its push wrote, which holds mostly other entities' ops.
Only these registers get rows, so the table costs nothing for the bulk of the log (records, plain
lww writes, statuses).

Which lww ops get rows: those merged while their register keeps a resolved record or a pending id
(:func:`logged`). Every write a history needs is among them, whatever the arrival order: a write
that resolves a conflict leaves a resolved record for good, and a write that overwrote it (directly
or through others) and came before it found it missing, so left a pending id until it came. Rows may
also name writes no history needs (merged while an unrelated id was pending);
:func:`rebuilding_writes` leaves those out.

No I/O here: the store reads and writes the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from ..ops import Op
from ..registry import RegisterKey

# (entity, eid, field): how the table and an op name a field.
FieldKey = tuple[str, str, str]
# Chunks decoded per query when filling the table from an existing log.
_BACKFILL_PAGE = 256


def logged(kind: str, register: Any) -> bool:
    """Whether the ops merged into this register must be findable in the log by field."""
    return kind == "counter" or (kind == "lww" and bool(register.resolved or register.pending))


def logged_fields(registers: Mapping[RegisterKey, Any]) -> set[FieldKey]:
    """The fields of these registers (a batch's, after its merge) whose ops go in the table."""
    return {(key[1], key[2], key[3]) for key, register in registers.items()
            if (key[0] == "counter" or key[0] == "lww") and logged(key[0], register)}


def rebuilding_writes(heads: Iterable[tuple[str, int]], candidates: Mapping[tuple[str, int], Op]) -> list[Op]:
    """Of ``candidates`` — writes of one lww field held here: those the table names, its heads and
    the writes its resolved records name — those that rebuild it elsewhere: the largest subset in
    which every write is a head or is overwritten by another write of the subset.

    A write sent without one that overwrote it would be a head where it is rebuilt, a conflict that
    never happened. The writes that link each resolving write to a head are all candidates (see the
    module docstring), so they all stay; a write whose overwriters are not candidates goes."""
    heads = set(heads)
    kept = dict(candidates)
    overwritten: dict[tuple[str, int], int] = {}
    for op in kept.values():
        for ref in set(op.refs):
            if ref in kept:
                overwritten[ref] = overwritten.get(ref, 0) + 1
    loose = [op_id for op_id in kept if op_id not in heads and not overwritten.get(op_id)]
    while loose:
        dropped = kept.pop(loose.pop())
        for ref in set(dropped.refs):
            if ref in kept:
                overwritten[ref] -= 1
                if not overwritten[ref] and ref not in heads:
                    loose.append(ref)
    return list(kept.values())


def backfill_rows(query: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]],
                  decode: Callable[[bytes], list[Any]]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``logged_ops`` for a log written before the table existed (a store upgrade): every
    op of each counter, and of each lww field that keeps a resolved record or a pending id.
    ``query`` runs SQL with ``?`` placeholders; ``decode`` turns a chunk body into its ops' rows
    [counter, hlc, entity, eid, action, field, value, refs]. Reads the whole log once."""
    fields: dict[FieldKey, str] = {}
    for entity, eid, field, kind, meta in query(
            "SELECT entity, eid, field, kind, meta FROM registers WHERE kind IN ('counter', 'lww')", ()):
        # An lww register's meta grows past [hlc, node, counter] only to hold losers, pending ids
        # and resolved records (sync.kinds.lww encode).
        if kind == "counter" or _lww_meta_logged(orjson.loads(meta)):
            fields[(entity, eid, field)] = kind
    if not fields:
        return
    seq = 0
    while True:
        rows = query("SELECT seq, node, body FROM op_chunks WHERE seq > ? ORDER BY seq LIMIT ?",
                     (seq, _BACKFILL_PAGE))
        for _, node, body in rows:
            for counter, hlc, entity, eid, _, field, value, _ in decode(bytes(body)):
                kind = fields.get((entity, eid, field))
                if kind == "counter":
                    yield entity, eid, field, node, counter, hlc, orjson.dumps(value)
                elif kind is not None:
                    yield entity, eid, field, node, counter, None, None
        if len(rows) < _BACKFILL_PAGE:
            return
        seq = rows[-1][0]


def _lww_meta_logged(meta: list[Any]) -> bool:
    return len(meta) > 3 and bool(meta[4] or meta[5])
