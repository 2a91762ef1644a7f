"""Ops: the immutable unit of change, and their wire form.

An op is written once by one node and named by ``(node, counter)``; the counter counts that
node's ops from 1 without gaps, which is what lets a version vector say "I have everything of
node N up to k" in one number.
"""

from __future__ import annotations

from functools import partial
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

# What every store can keep (SQLite's INTEGER, PostgreSQL's BIGINT and TEXT, orjson): JSON whose
# integers fit in signed 64 bits and whose text holds no NUL character. SQLite would keep a NUL,
# PostgreSQL refuses it: one rule for both keeps the backends interchangeable.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
BEYOND_64_BITS = f"an integer must lie between {INT64_MIN} and {INT64_MAX} (signed 64 bits)"
HOLDS_NUL = "text may not contain a NUL character (\\u0000)"
# How deep a value may nest, lists and objects within one another: real records nest a few levels.
# The one bound on nesting, far within what every walk of a value stands (Python's parser stops
# near 1,000 levels, orjson's encoder at 254). A record's fields each may nest this deep.
MAX_DEPTH = 64
TOO_DEEP = f"lists and objects may nest at most {MAX_DEPTH} levels deep"
# How deep a whole message may nest (a hub's request body, a peer's sync message): the values'
# bound with room for what carries them — a pushed op's value lies three levels down, a record's
# field one more. A value too deep within that is refused by the check that names it (a schema's:
# the op is quarantined with the reason, not its whole push refused); anything deeper is refused
# whole, far within what the parser (about 1,000 levels) and orjson (254: the quarantine keeps an
# op whole) handle.
MESSAGE_LEVELS = 2 * MAX_DEPTH
_PLAIN = frozenset({float, bool, type(None)})  # JSON values that always fit


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


_new_op = partial(tuple.__new__, Op)


def from_wire(raw: Any) -> Op:
    """Parse one op from its wire form, naming the offending field on bad input."""
    # The common op (no refs, every part well formed) passes the very checks below in one
    # expression: a bootstrap parses 100,000 of them. JSON gives exact types (no bool for an
    # int: type() is not isinstance()). Anything else takes the path that names the field.
    if type(raw) is list and len(raw) == 9:
        node, counter, hlc, entity, eid, action, field, value, refs = raw
        if (type(node) is str and 0 < len(node) <= 64 and type(counter) is int and 1 <= counter <= INT64_MAX
                and type(hlc) is int and 0 <= hlc <= INT64_MAX and type(entity) is str and 0 < len(entity) <= 64
                and type(eid) is str and 0 < len(eid) <= 128 and action in ACTIONS and type(field) is str
                and len(field) <= 64 and type(refs) is list and not refs):
            return _new_op((node, counter, hlc, entity, eid, action, field, value, ()))
    return _checked_from_wire(raw)


def _checked_from_wire(raw: Any) -> Op:
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
    if value > INT64_MAX:
        raise InvalidOp(name, BEYOND_64_BITS)


def unstorable(value: Any, levels: int = MAX_DEPTH) -> tuple[str, str] | None:
    """Where a JSON value (as parsed: object keys are strings) holds what no store can keep, and
    why: ``(dotted.path, reason)`` for the first integer beyond signed 64 bits, string (or key)
    holding a NUL, or list or object nested more than ``levels`` deep (:data:`MAX_DEPTH`; a
    record, whose fields each may nest that deep, one more); None if it all fits. The path is
    empty for the value itself; list items are named by their index, and a value nested too deep
    by the path to its first list or object beyond the bound."""
    if _fits(value, levels):
        return None
    found = _first_unfit(value, levels)
    assert found is not None
    parts, why = found
    return ".".join(reversed(parts)), why


def _fits(value: Any, levels: int) -> bool:
    # Every value a request carries passes here (a push: thousands of ops), so this walk is flat
    # and matches exact JSON types; the path is worked out only once something does not fit. It
    # goes one level of nesting at a time, which counts the levels at no cost per value.
    layer = [value]
    depth = 0
    while layer:
        below: list[Any] = []
        for item in layer:
            kind = type(item)
            if kind is str:
                if "\x00" in item:
                    return False
            elif kind is int:
                if not INT64_MIN <= item <= INT64_MAX:
                    return False
            elif kind is list:
                if depth == levels:
                    return False
                below.extend(item)
            elif kind is dict:
                if depth == levels or "\x00" in "".join(item):  # the keys, in one look
                    return False
                below.extend(item.values())
            elif kind not in _PLAIN and _first_unfit(item, levels - depth) is not None:
                return False  # a subclass (of str, int...) or a tuple: the thorough walk said no
        layer = below
        depth += 1
    return True


def _first_unfit(value: Any, levels: int) -> tuple[list[str], str] | None:
    # Recursive, but never deeper than ``levels``: what lies below is not looked at.
    if isinstance(value, str):
        return ([], HOLDS_NUL) if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if INT64_MIN <= value <= INT64_MAX else ([], BEYOND_64_BITS)
    if isinstance(value, dict | list | tuple) and levels <= 0:
        return [], TOO_DEEP
    if isinstance(value, dict):
        for key, item in value.items():
            found = ([], HOLDS_NUL) if isinstance(key, str) and "\x00" in key else _first_unfit(item, levels - 1)
            if found is not None:
                found[0].append(str(key))
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first_unfit(item, levels - 1)
            if found is not None:
                found[0].append(str(index))
                return found
    return None


def dumps(data: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace — equal data gives equal bytes."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
