"""Ops: the immutable unit of change, and their wire form.

An op is written once by one node and named by ``(node, counter)``; the counter counts that
node's ops from 1 without gaps, which is what lets a version vector say "I have everything of
node N up to k" in one number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from .errors import InvalidOp
from .hlc import order_key


class OpId(NamedTuple):
    node: str
    counter: int

    def __str__(self) -> str:
        return f"{self.node}:{self.counter}"


# What an op does. Which actions a field accepts follows from its merge kind (see kinds.py).
SET = "set"  # lww: replace the value
INCR = "incr"  # counter: add a delta
MOVE = "move"  # status: request a transition to a target state
ADD = "add"  # set: add an element
REMOVE = "remove"  # set: remove the element tags the author had seen
APPEND = "append"  # append-only entity: create the immutable record
VOID = "void"  # append-only entity: cancel a record (or cancel an earlier void)
DELETE = "delete"  # any entity: tombstone

ACTIONS = frozenset({SET, INCR, MOVE, ADD, REMOVE, APPEND, VOID, DELETE})


class Op(NamedTuple):
    """One change. ``refs`` are the op ids the author had seen and builds on: the heads a write
    overwrites (lww), the element tags a remove cancels (set), the op a void cancels (append)."""

    node: str
    counter: int
    hlc: int
    entity: str
    eid: str
    action: str
    field: str = ""
    value: Any = None
    refs: tuple[OpId, ...] = ()

    @property
    def id(self) -> OpId:
        return OpId(self.node, self.counter)

    @property
    def order(self) -> tuple[int, str, int]:
        return order_key(self.hlc, self.node, self.counter)


def to_wire(op: Op) -> list[Any]:
    """The compact JSON-ready form: a flat list, refs as ``[node, counter]`` pairs."""
    return [
        op.node,
        op.counter,
        op.hlc,
        op.entity,
        op.eid,
        op.action,
        op.field,
        op.value,
        [[r.node, r.counter] for r in op.refs],
    ]


_WIRE_NAMES = ("node", "counter", "hlc", "entity", "eid", "action", "field", "value", "refs")


def from_wire(raw: Any) -> Op:
    """Parse one op from its wire form, naming the offending field on bad input."""
    if not isinstance(raw, list) or len(raw) != len(_WIRE_NAMES):
        raise InvalidOp("op", f"must be a list of {len(_WIRE_NAMES)} items: {', '.join(_WIRE_NAMES)}")
    node, counter, hlc, entity, eid, action, field, value, refs = raw
    _require_text("node", node, 64)
    _require_int("counter", counter, minimum=1)
    _require_int("hlc", hlc, minimum=0)
    _require_text("entity", entity, 64)
    _require_text("eid", eid, 128)
    if action not in ACTIONS:
        raise InvalidOp("action", f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    if not isinstance(field, str) or len(field) > 64:
        raise InvalidOp("field", "must be a string of at most 64 characters")
    if not isinstance(refs, list):
        raise InvalidOp("refs", "must be a list of [node, counter] pairs")
    parsed_refs = []
    for ref in refs:
        if not (isinstance(ref, list) and len(ref) == 2):
            raise InvalidOp("refs", "each ref must be a [node, counter] pair")
        _require_text("refs.node", ref[0], 64)
        _require_int("refs.counter", ref[1], minimum=1)
        parsed_refs.append(OpId(ref[0], ref[1]))
    return Op(node, counter, hlc, entity, eid, action, field, value, tuple(parsed_refs))


def _require_text(name: str, value: Any, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidOp(name, "must be a non-empty string")
    if len(value) > limit:
        raise InvalidOp(name, f"must be at most {limit} characters")


def _require_int(name: str, value: Any, *, minimum: int) -> None:
    # bool is an int subclass in Python; true is never a counter.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidOp(name, "must be an integer")
    if value < minimum:
        raise InvalidOp(name, f"must be at least {minimum}")
    if value >= 1 << 63:
        raise InvalidOp(name, "must fit in 64 bits")


def dumps(data: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace — equal data gives equal bytes."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
