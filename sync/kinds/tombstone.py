"""``tombstone``: the delete of a mutable entity.

A delete is permanent and wins over concurrent edits; edits that arrive later are still merged
into the entity's fields (nothing is lost, the audit trail stays whole) but the entity reads as
deleted. The earliest delete is the one reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import InvalidOp
from ..hlc import order_key
from ..ops import DELETE, Op, OpId
from ..registry import FieldSpec, RegisterKey
from .base import Conflict, MergeContext, require_action, require_no_refs

MAX_REASON_LENGTH = 500


class Tombstone(NamedTuple):
    hlc: int
    node: str
    counter: int
    reason: str | None

    @property
    def id(self) -> OpId:
        return OpId(self.node, self.counter)


class TombstoneKind:
    name = "tombstone"
    actions = frozenset({DELETE})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        require_action(op, self.actions, self.name)
        require_no_refs(op)
        if op.value is not None and (not isinstance(op.value, str) or len(op.value) > MAX_REASON_LENGTH):
            raise InvalidOp("value", f"a delete's reason is a string of at most {MAX_REASON_LENGTH} characters")

    def merge(self, register: Tombstone | None, ops: Sequence[Op], ctx: MergeContext) -> Tombstone:
        candidates = [Tombstone(op.hlc, op.node, op.counter, op.value) for op in ops]
        if register is not None:
            candidates.append(register)
        return min(candidates, key=lambda t: order_key(t.hlc, t.node, t.counter))

    def read(self, register: Tombstone) -> Any:
        return {"deleted_by": str(register.id), "hlc": register.hlc, "reason": register.reason}

    def conflicts(self, key: RegisterKey, register: Tombstone) -> list[Conflict]:
        return []

    def is_empty(self, register) -> bool:
        return False

    def history(self, register: Tombstone) -> list[tuple[str, int]]:
        return [(register.node, register.counter)]

    def history_ops(self, key: RegisterKey, register: Any) -> None:
        return None

    def encode(self, register: Tombstone) -> tuple[Any, Any]:
        return register.reason, [register.hlc, register.node, register.counter]

    def decode(self, value: Any, meta: Any) -> Tombstone:
        return Tombstone(meta[0], meta[1], meta[2], value)


TOMBSTONE = TombstoneKind()
