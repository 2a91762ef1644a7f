"""Office edits as hub-authored ops, and the merged views office staff read.

No Flask here: these functions take the hub store and plain dicts, raise :class:`ApiError` with
field-level reasons, and are shared by the office API, the portal and the timeline. A record is
validated whole by its entity's schema at the edge, put in wire form (Decimals and instants as
strings, instants in UTC), and written as one op per field in one transaction.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from marshmallow import fields, missing
from marshmallow.validate import OneOf

from schema import SCHEMAS, EntitySchema, load
from schema.resources import fraction_refused
from sync.ops import ADD, MOVE, REMOVE, SET, unstorable
from sync.registry import StateMachine

from .errors import ApiError
from .store import HubStore

# Which entity a reference field points at, where the office API can check it exists.
REFERENCES = {
    "customer_id": "customer", "site_id": "site", "asset_id": "asset", "contract_id": "contract",
    "sla_policy_id": "sla_policy", "ticket_id": "ticket", "work_order_id": "work_order",
    "technician_id": "technician", "team_lead_id": "technician", "van_id": "stock_location",
    "location_id": "stock_location",
}
# Sets of references (add-wins sets of ids), indexed in links one row per member.
REFERENCE_SETS = {"crew_ids": "technician", "technician_ids": "technician"}


class IdFactory:
    """Time-ordered ids in the UUIDv7 layout: 48 bits of hub-clock milliseconds, then a 12-bit
    counter that keeps ids made in the same millisecond in order, then 62 random bits.

    Time order is the point: new rows land at the end of every B-tree keyed by id (DESIGN: the
    biggest single lever on insert speed), and listing by id lists in order of creation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._seq = 0

    def __call__(self, now_ms: int) -> str:
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms, self._seq = now_ms, secrets.randbits(8)
            else:
                # Same millisecond (or a clock stepped back): count on from the last id.
                self._seq += 1
                if self._seq > 0xFFF:
                    self._last_ms, self._seq = self._last_ms + 1, 0
            ms, seq = self._last_ms, self._seq
        value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | secrets.randbits(62)
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@cache
def schema_of(entity: str) -> EntitySchema:
    """One schema instance per entity type, for reading its fields and dumping wire forms."""
    return SCHEMAS[entity]()


def merge_kind(entity: str, name: str) -> str | None:
    """The merge kind ``schema/`` declares for a field (None for a name the entity lacks)."""
    found = schema_of(entity).fields.get(name)
    return found.metadata.get("merge") if found is not None else None


def status_machine(entity: str) -> StateMachine | None:
    """The state machine of the entity's ``status`` field, if it has one."""
    found = schema_of(entity).fields.get("status")
    return found.metadata.get("machine") if found is not None else None


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, dict):
        return {key: _utc(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_utc(item) for item in value]
    return value


def validate(entity: str, data: Mapping[str, Any], *, partial: bool = False,
             fixed: Iterable[str] = ()) -> dict[str, Any]:
    """The record in wire form after validating it with the entity's schema.

    ``partial`` validates only the fields given (an edit). Fields in ``fixed`` (and the status,
    which moves only through its own endpoint) may not be sent. Raises ValidationError or ApiError
    naming each bad field.
    """
    fixed = set(fixed)
    refused = []
    for name in data:
        if merge_kind(entity, name) == "status":
            refused.append((name, "changes only through POST .../status"))
        elif name in fixed:
            refused.append((name, "cannot be changed here"))
    if refused:
        raise ApiError(400, "the request is not valid", refused, hint="leave these fields out")
    loaded = load(SCHEMAS[entity], dict(data), partial=partial)
    return schema_of(entity).dump(_utc(loaded))


def view(store: HubStore, entity: str, eid: str) -> dict[str, Any] | None:
    """The merged record as people read it, every schema field present (a field never written
    reads as its schema default, or null); None if absent or deleted."""
    if unstorable(eid) is not None:
        return None  # an id no store can keep (a NUL in a path) names nothing, on every backend
    raw = store.replica.entity(entity, eid)
    if not raw or raw.get("_deleted"):
        return None
    if schema_of(entity).append_only:
        return {"id": eid, **raw["value"], "voided": raw["voided"], "by": raw["by"]}
    found: dict[str, Any] = {"id": eid}
    for name, spec in schema_of(entity).fields.items():
        kind = spec.metadata.get("merge")
        if name in raw:
            found[name] = raw[name]
        elif kind == "status":
            found[name] = spec.metadata["machine"].initial
        elif kind == "set":
            found[name] = []
        else:
            # A field never written reads as the schema's default, as if the record had been
            # validated here (records written by devices or engines leave defaults out).
            default = spec.load_default
            found[name] = None if default is missing else default() if callable(default) else default
    return found


def require(store: HubStore, entity: str, eid: str) -> dict[str, Any]:
    """The view of ``eid``, or a 404 in the error shape."""
    found = view(store, entity, eid)
    if found is None:
        raise ApiError(404, f"no {entity} {eid!r}", [("id", f"no {entity} with this id")],
                       hint="check the id; list them with GET on the collection")
    return found


def check_references(store: HubStore, record: Mapping[str, Any]) -> None:
    """Refuse (400) a record naming a customer, site, technician... that does not exist."""
    missing = []
    for name, value in record.items():
        target = REFERENCES.get(name)
        if target and isinstance(value, str) and view(store, target, value) is None:
            missing.append((name, f"no {target} {value!r}"))
        elif name in REFERENCE_SETS and isinstance(value, list):
            missing.extend((name, f"no {REFERENCE_SETS[name]} {member!r}") for member in value
                           if view(store, REFERENCE_SETS[name], member) is None)
        elif name == "van_id" and isinstance(value, str) and view(store, "stock_location", value)["kind"] != "van":
            missing.append((name, f"{value!r} is a warehouse, not a van"))
    if missing:
        raise ApiError(400, "the record names records that do not exist", missing,
                       hint="create them first, or correct the ids")


def field_ops(entity: str, eid: str, record: Mapping[str, Any],
              current: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The ops that write ``record`` (wire form) over ``current`` (the merged view, if any).

    A set field is written as the adds and removes that turn its current members into the ones
    given; the engine works out which add tags a remove cancels.
    """
    changes: list[tuple[Any, ...]] = []
    for name, value in record.items():
        kind = merge_kind(entity, name)
        if kind == "lww":
            changes.append((entity, eid, SET, name, value))
        elif kind == "set":
            have = set(current.get(name) or []) if current else set()
            wanted = set(value or [])
            changes.extend((entity, eid, ADD, name, element) for element in sorted(wanted - have))
            changes.extend((entity, eid, REMOVE, name, element) for element in sorted(have - wanted))
        else:
            raise ApiError(400, "the request is not valid", [(name, f"a {kind} field is not edited directly")])
    return changes


def create(store: HubStore, entity: str, eid: str, record: Mapping[str, Any],
           extra: Iterable[tuple[Any, ...]] = ()) -> dict[str, Any]:
    """Write a new record (and ``extra`` ops, e.g. status moves it causes) in one transaction."""
    with store.unit_of_work():
        if view(store, entity, eid) is not None:
            raise ApiError(409, f"{entity} {eid!r} exists", [("id", "already taken")], hint="edit it with PATCH")
        check_references(store, record)
        store.write([*field_ops(entity, eid, record), *extra])
        return require(store, entity, eid)


def update(store: HubStore, entity: str, eid: str, changes: Mapping[str, Any],
           extra: Iterable[tuple[Any, ...]] = ()) -> dict[str, Any]:
    """Write the fields given (and ``extra`` ops) over the current record. Rewriting a field that
    holds a conflict closes the conflict: the new write names every value it saw."""
    with store.unit_of_work():
        current = require(store, entity, eid)
        check_references(store, changes)
        ops = [*field_ops(entity, eid, changes, current), *extra]
        if ops:
            store.write(ops)
        return require(store, entity, eid)


def status_of(store: HubStore, entity: str, eid: str) -> tuple[str, str | None]:
    """(current state, state held before on_hold) of the entity's status field."""
    register = store.replica.register(entity, eid, "status")
    machine = status_machine(entity)
    assert machine is not None
    return (register.state, register.held) if register is not None else (machine.initial, None)


def allowed_moves(store: HubStore, entity: str, eid: str) -> list[str]:
    """The states the entity's status may move to from where it is now."""
    machine = status_machine(entity)
    assert machine is not None
    state, held = status_of(store, entity, eid)
    return sorted(target for target in machine.states if machine.step(state, held, target) is not None)


def move_op(store: HubStore, entity: str, eid: str, target: str) -> tuple[Any, ...]:
    """The op moving the status to ``target``; 409 saying what is allowed if the move is not."""
    machine = status_machine(entity)
    if machine is None:
        raise ApiError(404, f"a {entity} has no status", [("status", "not a field of this record")])
    if target not in machine.states:
        raise ApiError(400, "unknown status", [("status", f"must be one of {', '.join(sorted(machine.states))}")])
    state, held = status_of(store, entity, eid)
    if machine.step(state, held, target) is None:
        allowed = allowed_moves(store, entity, eid)
        why = "it is final" if state in machine.terminal else f"allowed from {state}: {', '.join(allowed) or 'none'}"
        raise ApiError(409, f"cannot move {entity} {eid} from {state} to {target}", [("status", why)],
                       hint="read the record again; someone may have moved it meanwhile")
    return (entity, eid, MOVE, "status", target)


def move(store: HubStore, entity: str, eid: str, target: str) -> dict[str, Any]:
    """Move the status, checked against the state reached now, in one transaction."""
    with store.unit_of_work():
        require(store, entity, eid)
        store.write([move_op(store, entity, eid, target)])
        return require(store, entity, eid)


def filterable(entity: str, name: str) -> fields.Field | None:
    """The schema field a list may be filtered on: plain strings, flags, whole numbers, set members,
    and a status, which must be a state of the entity's state machine (a state it never reaches
    would list nothing, as if there were no such records)."""
    found = schema_of(entity).fields.get(name)
    machine = found.metadata.get("machine") if found is not None else None
    if machine is not None:
        states = ", ".join(sorted(machine.states))
        noun = entity.replace("_", " ")
        return fields.String(validate=OneOf(
            sorted(machine.states), error=f"{{input}} is not a state of a {noun}; use one of {states}"))
    if isinstance(found, fields.List) and found.metadata.get("merge") == "set":
        return found.inner
    if isinstance(found, fields.String | fields.Boolean | fields.Integer) and not isinstance(found, fields.Email):
        return found
    return None


def select(store: HubStore, entity: str, filters: Mapping[str, Any], *, after: str = "",
           limit: int = 100) -> list[dict[str, Any]]:
    """Views of ``entity`` matching every filter (field -> deserialised value), in id order.

    Reference filters (``*_id``, and members of ``*_ids`` sets) are answered from the links
    index; the rest by reading the candidates' merged views.
    """
    candidates: set[str] | None = None
    for name, value in filters.items():
        if name.endswith(("_id", "_ids")):
            found = store.links.sources(entity, name, [value])
            candidates = found if candidates is None else candidates & found
    ids = sorted(candidates) if candidates is not None else store.replica.entity_ids(entity)
    rows = []
    for eid in ids:
        if eid <= after:
            continue
        row = view(store, entity, eid)
        if row is None or not all(_matches(row.get(name), value) for name, value in filters.items()):
            continue
        rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def _matches(held: Any, wanted: Any) -> bool:
    return wanted in held if isinstance(held, list) else held == wanted


def require_whole_pieces(store: HubStore, lines: Iterable[Mapping[str, Any]], field: str) -> None:
    """Part lines (a kit's, a work order's estimate) of items counted each hold whole pieces; a 400
    naming each line (``field.N.qty``) that does not."""
    errors = [(f"{field}.{index}.qty", why) for index, line in enumerate(lines)
              if (why := fraction_refused(store.replica.entity("item", line.get("sku") or ""), str(line.get("sku")),
                                          line.get("qty")))]
    if errors:
        raise ApiError(400, "the request is not valid", errors, hint="give items counted each in whole pieces")
