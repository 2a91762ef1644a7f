"""``lww``: last-writer-wins register that keeps concurrent losers visible.

Each write names, in ``refs``, the heads its author saw (winner first). The register keeps every
write no other write has seen — its *heads*. One head: no conflict. Several: the greatest by
(HLC, node) is the value, the others are open conflicts with their values kept. A later write
that saw them all closes the conflict, and the register remembers who resolved it.

``pending`` holds ids that some write says it saw but that have not reached this replica yet:
when one arrives late it is already overwritten and never becomes a head. Heads and pending are
functions of the set of writes held, which is what makes the register converge.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

from ..errors import InvalidOp
from ..hlc import order_key
from ..ops import SET, Op, OpId
from ..registry import FieldSpec, RegisterKey
from .base import (
    Conflict,
    MergeContext,
    Written,
    op_id_from_json,
    op_id_json,
    require_action,
    require_refs_sane,
)

LwwWrite = Written


class LwwRegister(NamedTuple):
    heads: tuple[LwwWrite, ...]  # winner first, then the overwritten concurrent writes
    pending: frozenset[OpId] = frozenset()
    resolved: tuple[tuple[OpId, OpId, OpId], ...] = ()  # (loser, winner, resolved by)

    @property
    def winner(self) -> LwwWrite:
        return self.heads[0]


# Constructors without NamedTuple's Python-level __new__, for the fast paths run once per op.
_write = partial(tuple.__new__, LwwWrite)
_register = partial(tuple.__new__, LwwRegister)
_NONE: frozenset[OpId] = frozenset()
_WRITTEN = itemgetter(2, 0, 1, 7)  # an op's (hlc, node, counter, value): an LwwWrite's fields


def _order(write: LwwWrite) -> tuple[int, str, int]:
    return order_key(write.hlc, write.node, write.counter)


class Lww:
    name = "lww"
    actions = frozenset({SET})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        if op.action != SET:
            require_action(op, self.actions, self.name)
        if op.refs:
            require_refs_sane(op)
        if spec is not None and spec.validator is not None:
            # run_validator's work, inline: this runs for every lww write ingested.
            try:
                spec.validator(op.value)
            except ValueError as exc:
                raise InvalidOp(op.field, str(exc)) from None

    def merge(self, register: LwwRegister | None, ops: Sequence[Op], ctx: MergeContext) -> LwwRegister:
        if len(ops) == 1 and register is None:
            op = ops[0]
            if not op.refs:  # the first write of a field, the commonest merge of all
                return _register(((_write(_WRITTEN(op)),), _NONE, ()))
        if register is None or (len(register.heads) == 1 and not register.pending):
            # The common case, decided without building sets: a chain of writes, each of which
            # saw exactly the single head the one before left (the first write of a field names
            # nothing). The last is the only head; nothing is pending or newly resolved.
            if register is None:
                seen: tuple[Any, ...] = ()
            else:
                head = register.heads[0]
                seen = ((head.node, head.counter),)
            for op in ops:
                if op.refs != seen:
                    break
                seen = ((op.node, op.counter),)
            else:
                last = ops[-1]
                return _register(((_write((last.hlc, last.node, last.counter, last.value)),), _NONE,
                                  register.resolved if register is not None else ()))
        # Ids are compared as plain (node, counter) tuples, which equal and hash like OpIds.
        heads = {(w.node, w.counter): w for w in register.heads} if register else {}
        pending = set(register.pending) if register else set()
        resolved = set(register.resolved) if register else set()
        batch_ids = {(op.node, op.counter) for op in ops}
        seen_by_batch: set[OpId] = set()
        for op in ops:
            seen_by_batch.update(op.refs)
            if len(op.refs) > 1:
                resolved.update((ref, op.refs[0], op.id) for ref in op.refs[1:])
        for op in ops:
            op_id = (op.node, op.counter)
            if op_id in pending:
                pending.discard(op_id)
            elif op_id not in seen_by_batch:
                heads[op_id] = _write((op.hlc, op.node, op.counter, op.value))
        for ref in seen_by_batch:
            if ref in heads:
                del heads[ref]
            elif ref not in batch_ids and not ctx.arrived(ref):
                pending.add(ref)
        ordered = tuple(sorted(heads.values(), key=_order, reverse=True))
        return LwwRegister(ordered, frozenset(pending), tuple(sorted(resolved)))

    def read(self, register: LwwRegister) -> Any:
        return register.heads[0].value if register.heads else None

    def conflicts(self, key: RegisterKey, register: LwwRegister) -> list[Conflict]:
        if len(register.heads) < 2 and not register.resolved:
            return []
        found = []
        if register.heads:
            winner = register.heads[0].id
            for loser in register.heads[1:]:
                found.append(
                    Conflict(self.name, key.entity, key.eid, key.field, loser.id, winner, None,
                             "concurrent write overwritten; both values kept")
                )
        for loser_id, winner_id, by in register.resolved:
            found.append(
                Conflict(self.name, key.entity, key.eid, key.field, loser_id, winner_id, by,
                         "resolved by a later write that saw both values")
            )
        return found

    def encode(self, register: LwwRegister) -> tuple[Any, Any]:
        heads = register.heads
        if len(heads) == 1 and not register.pending and not register.resolved:
            winner = heads[0]
            return winner.value, [winner.hlc, winner.node, winner.counter]
        if not heads:
            # Every write held is overwritten by writes still in transit: nothing to show yet.
            value = None
            meta: list[Any] = [0, "", 0]
        else:
            winner = register.heads[0]
            value = winner.value
            meta = [winner.hlc, winner.node, winner.counter]
        if len(register.heads) > 1 or register.pending or register.resolved:
            meta.append([[w.hlc, w.node, w.counter, w.value] for w in register.heads[1:]])
            meta.append(sorted(op_id_json(p) for p in register.pending))
            meta.append([[op_id_json(a), op_id_json(b), op_id_json(c)] for a, b, c in register.resolved])
        return value, meta

    def decode(self, value: Any, meta: Any) -> LwwRegister:
        hlc, node, counter = meta[0], meta[1], meta[2]
        heads = [LwwWrite(hlc, node, counter, value)] if node else []
        pending: frozenset[OpId] = frozenset()
        resolved: tuple[tuple[OpId, OpId, OpId], ...] = ()
        if len(meta) > 3:
            heads.extend(LwwWrite(*w) for w in meta[3])
            pending = frozenset(op_id_from_json(p) for p in meta[4])
            resolved = tuple(
                (op_id_from_json(a), op_id_from_json(b), op_id_from_json(c)) for a, b, c in meta[5]
            )
        return LwwRegister(tuple(heads), pending, resolved)

    def is_empty(self, register) -> bool:
        return not register.heads and not register.resolved

    def history(self, register: LwwRegister) -> list[tuple[str, int]] | None:
        """The ops that rebuild this register elsewhere: its heads — every write that resolved a
        conflict among them, whose refs recreate the resolved record — or, once such a write has
        been overwritten, None: they must come from the log.

        Sent without the writes that overwrote it, a resolving write would be a head again where
        it is rebuilt: a conflict that never happened. Those writes are forgotten here and the
        resolved record is kept for good, so only the log still links the two (a store finds
        them without reading all of it: sync.store.history)."""
        heads = [(w.node, w.counter) for w in register.heads]
        if register.resolved and not {by for _, _, by in register.resolved} <= set(heads):
            return None
        return heads

    def history_ops(self, key: RegisterKey, register: Any) -> None:
        return None

    def refs_for_write(self, register: LwwRegister | None) -> tuple[OpId, ...]:
        """What a new local write must name: every head it overwrites, winner first."""
        return tuple(w.id for w in register.heads) if register else ()


LWW = Lww()
