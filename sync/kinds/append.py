"""``append``: immutable records (time logs, part usage, check-ins, photos, signatures).

A record is never edited. A mistake is corrected by a ``void`` op that points at it; a void made
in error is itself voided (which restores the record). A void counts only against an op older
than itself, so no chain of voids can loop. If two appends claim the same record id — a bug in
an author, never a technician's doing — the earlier one is the record and the later one is kept
beside it as a conflict, not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from ..errors import InvalidOp
from ..hlc import order_key
from ..ops import APPEND, VOID, Op, OpId
from ..registry import FieldSpec, RegisterKey
from .base import Conflict, MergeContext, Written, require_action, require_no_refs, require_refs_sane

MAX_REASON_LENGTH = 500


Entry = Written


class VoidEntry(NamedTuple):
    hlc: int
    node: str
    counter: int
    target_node: str
    target_counter: int
    reason: str | None

    @property
    def id(self) -> OpId:
        return OpId(self.node, self.counter)

    @property
    def target(self) -> OpId:
        return OpId(self.target_node, self.target_counter)


class RecordRegister(NamedTuple):
    entries: tuple[Entry, ...]  # in (HLC, node) order: the first is the record, the rest duplicates
    voids: tuple[VoidEntry, ...]
    voided: bool

    @property
    def record(self) -> Entry | None:
        return self.entries[0] if self.entries else None


def effective_voids(entries: Sequence[Entry], voids: Sequence[VoidEntry]) -> set[OpId]:
    """The ids of voids that take effect: aimed at an older op held here, and not voided."""
    order = {e.id: order_key(e.hlc, e.node, e.counter) for e in entries}
    order.update({v.id: order_key(v.hlc, v.node, v.counter) for v in voids})
    effective: set[OpId] = set()
    # A void can only be cancelled by a younger void, so deciding from the youngest down means
    # every void that could cancel this one has already been decided.
    for void in sorted(voids, key=lambda v: order[v.id], reverse=True):
        target_order = order.get(void.target)
        if target_order is None or target_order >= order[void.id]:
            continue
        cancelled = any(
            other.id in effective and other.target == void.id for other in voids
        )
        if not cancelled:
            effective.add(void.id)
    return effective


def is_voided(entries: Sequence[Entry], voids: Sequence[VoidEntry]) -> bool:
    if not entries or not voids:
        return False
    effective = effective_voids(entries, voids)
    record_id = entries[0].id
    return any(v.id in effective and v.target == record_id for v in voids)


# Constructors without NamedTuple's Python-level __new__, for the fast path run once per record.
_entry = partial(tuple.__new__, Entry)
_register = partial(tuple.__new__, RecordRegister)
_op = partial(tuple.__new__, Op)
_WRITTEN = itemgetter(2, 0, 1, 7)  # an op's (hlc, node, counter, value): an Entry's fields


class Append:
    name = "append"
    actions = frozenset({APPEND, VOID})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        if op.action == APPEND:
            if op.refs:
                require_no_refs(op)
            if not isinstance(op.value, dict):
                raise InvalidOp("value", "a record must be an object of named fields")
            if spec is not None and spec.validator is not None:
                # run_validator's work, inline: this runs for every record ingested.
                try:
                    spec.validator(op.value)
                except ValueError as exc:
                    raise InvalidOp("value", str(exc)) from None
        else:
            require_action(op, self.actions, self.name)
            require_refs_sane(op)
            if len(op.refs) != 1:
                raise InvalidOp("refs", "a void names exactly one op: the record or void it cancels")
            if op.value is not None and (not isinstance(op.value, str) or len(op.value) > MAX_REASON_LENGTH):
                raise InvalidOp("value", f"a void's reason is a string of at most {MAX_REASON_LENGTH} characters")

    def merge(self, register: RecordRegister | None, ops: Sequence[Op], ctx: MergeContext) -> RecordRegister:
        if register is None and len(ops) == 1 and ops[0].action == APPEND:
            return _register(((_entry(_WRITTEN(ops[0])),), (), False))
        entries = list(register.entries) if register else []
        voids = list(register.voids) if register else []
        for op in ops:
            if op.action == APPEND:
                entries.append(Entry(op.hlc, op.node, op.counter, op.value))
            else:
                target = op.refs[0]
                voids.append(VoidEntry(op.hlc, op.node, op.counter, target.node, target.counter, op.value))
        entries.sort(key=lambda e: order_key(e.hlc, e.node, e.counter))
        voids.sort(key=lambda v: order_key(v.hlc, v.node, v.counter))
        return RecordRegister(tuple(entries), tuple(voids), is_voided(entries, voids))

    def read(self, register: RecordRegister) -> Any:
        record = register.record
        if record is None:
            return None
        return {"value": record.value, "voided": register.voided, "by": str(record.id), "hlc": record.hlc}

    def conflicts(self, key: RegisterKey, register: RecordRegister) -> list[Conflict]:
        if len(register.entries) < 2:
            return []
        winner = register.entries[0].id
        return [
            Conflict(self.name, key.entity, key.eid, key.field, dup.id, winner, None,
                     "record id already taken by an earlier record; this one is kept apart")
            for dup in register.entries[1:]
        ]

    def is_empty(self, register) -> bool:
        return False

    def history(self, register: RecordRegister) -> list[tuple[str, int]]:
        return [(e.node, e.counter) for e in register.entries] + [(v.node, v.counter) for v in register.voids]

    def history_ops(self, key: RegisterKey, register: RecordRegister) -> list[Op]:
        """A record or a void is never edited, and the register keeps all of it."""
        entity, eid, field = key.entity, key.eid, key.field
        records = [_op((e.node, e.counter, e.hlc, entity, eid, APPEND, field, e.value, ())) for e in register.entries]
        return records + [_op((v.node, v.counter, v.hlc, entity, eid, VOID, field, v.reason, (v.target,)))
                          for v in register.voids]

    def single_record_wire(self, key: RegisterKey, value_json: str | bytes | None, meta: Any) -> list[Any] | None:
        """The wire form (sync.ops.to_wire) of the one op a stored register of a lone record, never
        voided, is made of — straight from its stored row (:meth:`encode`'s layout), the value
        passed on as the JSON text it is stored as; None for any other register. Most of a
        bootstrap's history is such records."""
        if len(meta) != 2 or len(meta[1]) != 1:
            return None
        hlc, node, counter = meta[1][0]
        value = None if value_json is None else orjson.Fragment(value_json)
        return [node, counter, hlc, key.entity, key.eid, APPEND, key.field, value, []]

    def encode(self, register: RecordRegister) -> tuple[Any, Any]:
        entries = register.entries
        if len(entries) == 1 and not register.voids:
            only = entries[0]
            return only.value, [int(register.voided), [[only.hlc, only.node, only.counter]]]
        record = register.record
        value = record.value if record else None
        meta: list[Any] = [int(register.voided), [list(e[:3]) for e in register.entries]]
        if len(register.entries) > 1 or register.voids:
            meta.append([e.value for e in register.entries[1:]])
            meta.append([list(v) for v in register.voids])
        return value, meta

    def decode(self, value: Any, meta: Any) -> RecordRegister:
        voided, heads = meta[0], meta[1]
        others = meta[2] if len(meta) > 2 else []
        values = [value, *others] if heads else []
        entries = tuple(Entry(h[0], h[1], h[2], v) for h, v in zip(heads, values, strict=True))
        voids = tuple(VoidEntry(*v) for v in meta[3]) if len(meta) > 3 else ()
        return RecordRegister(entries, voids, bool(voided))


APPEND_KIND = Append()
