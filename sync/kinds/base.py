"""What every merge kind provides, and the conflict records they report.

A kind owns one *register* type: the merged state of one field (or one record). ``merge`` is
pure and must be a function of the *set* of ops folded in so far — the property tests hold every
kind to that — so the SQLite store and the in-memory replica can both call it and agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ..errors import InvalidOp
from ..ops import Op, OpId
from ..registry import FieldSpec, RegisterKey

# Bound on the ops one op may build on: a write normally names one head, rarely a few.
MAX_REFS = 64


class Conflict(NamedTuple):
    """A write that lost to a concurrent one, or a transition that could not apply. Both values
    stay readable: ``op`` is the losing op, ``winner`` the op that beat it (where one did)."""

    kind: str
    entity: str
    eid: str
    field: str
    op: OpId
    winner: OpId | None
    resolved_by: OpId | None
    detail: str

    def to_json(self) -> list[Any]:
        return [
            self.kind,
            self.entity,
            self.eid,
            self.field,
            list(self.op),
            list(self.winner) if self.winner else None,
            list(self.resolved_by) if self.resolved_by else None,
            self.detail,
        ]


class Written(NamedTuple):
    """A value as one op wrote it: the op's HLC, author and counter (an lww write, a record)."""

    hlc: int
    node: str
    counter: int
    value: Any

    @property
    def id(self) -> OpId:
        return OpId(self.node, self.counter)


@dataclass(frozen=True)
class MergeContext:
    spec: FieldSpec | None
    # Whether an op (by (node, counter) id) is already held by this replica.
    arrived: Callable[[tuple[str, int]], bool]


class MergeKind(Protocol):
    name: str
    actions: frozenset[str]

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        """Raise InvalidOp naming the field and the reason if the op cannot apply to this kind."""

    def merge(self, register: Any | None, ops: Sequence[Op], ctx: MergeContext) -> Any:
        """The register after folding in new ops (never seen before by this replica)."""

    def read(self, register: Any) -> Any:
        """The value people and engines read: JSON-ready."""

    def conflicts(self, key: RegisterKey, register: Any) -> list[Conflict]:
        """Conflicts this register keeps, in a deterministic order."""

    def is_empty(self, register: Any) -> bool:
        """True when the register reads as nothing at all (as if it had never been created)."""

    def history(self, register: Any) -> list[tuple[str, int]] | None:
        """Ids of the ops that rebuild this register's state on a fresh replica; None when only
        the whole log can (a counter)."""

    def history_ops(self, key: RegisterKey, register: Any) -> list[Op] | None:
        """The ops of :meth:`history` made from the register alone, when it keeps every part of
        them; None when they must be read from the log. A bootstrap sends the history of every
        record in a scope: reading and decoding their ops again costs more than the rest."""

    def encode(self, register: Any) -> tuple[Any, Any]:
        """(value, meta), both JSON-ready: what a store persists; ``decode`` inverts it."""

    def decode(self, value: Any, meta: Any) -> Any: ...


def require_action(op: Op, actions: frozenset[str], kind: str) -> None:
    if op.action not in actions:
        raise InvalidOp("action", f"{op.action!r} does not apply to a {kind} field; use {sorted(actions)}")


def require_no_refs(op: Op) -> None:
    if op.refs:
        raise InvalidOp("refs", f"a {op.action!r} op builds on no earlier op; send refs empty")


def require_refs_sane(op: Op) -> None:
    if len(op.refs) > MAX_REFS:
        raise InvalidOp("refs", f"at most {MAX_REFS} refs")
    if (op.node, op.counter) in op.refs:
        raise InvalidOp("refs", "an op cannot refer to itself")


def run_validator(spec_validator: Callable[[Any], None] | None, name: str, value: Any) -> None:
    if spec_validator is None:
        return
    try:
        spec_validator(value)
    except ValueError as exc:
        raise InvalidOp(name, str(exc)) from None


def op_id_json(op_id: OpId) -> list[Any]:
    return [op_id.node, op_id.counter]


def op_id_from_json(raw: Sequence[Any]) -> OpId:
    return OpId(raw[0], raw[1])
