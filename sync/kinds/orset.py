"""``set``: add-wins observed-remove set (skills, tags).

Every add is a unique tag (its op id). A remove cancels only the tags its author had seen, so an
add made concurrently with a remove survives it: add wins. A remove that arrives before the add
it cancels is remembered in ``pending`` until that add turns up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import InvalidOp
from ..ops import ADD, REMOVE, Op, OpId
from ..registry import FieldSpec, RegisterKey
from .base import (
    Conflict,
    MergeContext,
    op_id_from_json,
    op_id_json,
    require_action,
    require_no_refs,
    require_refs_sane,
    run_validator,
)

MAX_ELEMENT_LENGTH = 200


class SetRegister(NamedTuple):
    tags: Mapping[str, frozenset[OpId]]  # element -> live add tags (never empty)
    pending: frozenset[tuple[str, OpId]] = frozenset()  # (element, tag) removed before its add arrived

    @property
    def members(self) -> list[str]:
        return sorted(self.tags)


class OrSet:
    name = "set"
    actions = frozenset({ADD, REMOVE})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        require_action(op, self.actions, self.name)
        if not isinstance(op.value, str) or not op.value or len(op.value) > MAX_ELEMENT_LENGTH:
            raise InvalidOp(
                op.field, f"a set element must be a non-empty string of at most {MAX_ELEMENT_LENGTH} characters"
            )
        if op.action == ADD:
            require_no_refs(op)
            run_validator(spec.validator if spec else None, op.field, op.value)
        else:
            require_refs_sane(op)
            if not op.refs:
                raise InvalidOp("refs", "a remove must name the add ops it cancels")

    def merge(self, register: SetRegister | None, ops: Sequence[Op], ctx: MergeContext) -> SetRegister:
        tags = {element: set(ids) for element, ids in register.tags.items()} if register else {}
        pending = set(register.pending) if register else set()
        removed = {(op.value, ref) for op in ops if op.action == REMOVE for ref in op.refs}
        batch_adds = {(op.value, op.id) for op in ops if op.action == ADD}
        for element, tag in batch_adds:
            if (element, tag) in pending:
                pending.discard((element, tag))
            elif (element, tag) not in removed:
                tags.setdefault(element, set()).add(tag)
        for element, tag in removed:
            if tag in tags.get(element, ()):
                tags[element].discard(tag)
            elif (element, tag) not in batch_adds and not ctx.arrived(tag):
                pending.add((element, tag))
        return SetRegister({e: frozenset(ids) for e, ids in tags.items() if ids}, frozenset(pending))

    def read(self, register: SetRegister) -> list[str]:
        return register.members

    def conflicts(self, key: RegisterKey, register: SetRegister) -> list[Conflict]:
        return []

    def is_empty(self, register) -> bool:
        return not register.tags

    def history(self, register: SetRegister) -> list[tuple[str, int]]:
        """The live adds: removed elements need neither their adds nor their removes."""
        return [(tag.node, tag.counter) for tags in register.tags.values() for tag in tags]

    def history_ops(self, key: RegisterKey, register: Any) -> None:
        return None

    def encode(self, register: SetRegister) -> tuple[Any, Any]:
        meta = {
            "t": {e: sorted(op_id_json(t) for t in ids) for e, ids in sorted(register.tags.items())},
            "p": sorted([e, *op_id_json(t)] for e, t in register.pending),
        }
        return register.members, meta

    def decode(self, value: Any, meta: Any) -> SetRegister:
        return SetRegister(
            {e: frozenset(op_id_from_json(t) for t in ids) for e, ids in meta["t"].items()},
            frozenset((p[0], OpId(p[1], p[2])) for p in meta["p"]),
        )

    def refs_for_remove(self, register: SetRegister | None, element: str) -> tuple[OpId, ...]:
        """The tags a local remove of ``element`` must cancel: every add of it seen so far."""
        return tuple(sorted(register.tags.get(element, ()))) if register else ()


ORSET = OrSet()
