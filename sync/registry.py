"""What the engine knows of the data: entity types, their fields and each field's merge kind.

The engine itself is schema-agnostic; ``schema/`` fills a :class:`Registry` with the field-service
model. A mutable entity has fields of kind ``lww``, ``counter``, ``status`` or ``set`` and can be
deleted (tombstone); an append-only entity holds one immutable record per id, corrected by voids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, NamedTuple

from .errors import InvalidOp
from .ops import DELETE, Op

# Validators raise ValueError with a reason a person can act on; the engine names the field.
Validator = Callable[[Any], None]

# The register of an entity as a whole: the record of an append-only entity, the tombstone of a
# mutable one. No real field may use this name.
ENTITY_FIELD = ""


@dataclass(frozen=True)
class StateMachine:
    """The allowed transitions of a ``status`` field.

    ``from_any`` targets may be entered from every non-terminal state (cancelled, on hold);
    leaving a ``resumable`` state back to the state held before entering it is always allowed
    ("any stage -> on_hold, then back").
    """

    initial: str
    edges: Mapping[str, frozenset[str]]
    from_any: frozenset[str] = frozenset()
    resumable: frozenset[str] = frozenset()
    terminal: frozenset[str] = frozenset()

    @cached_property
    def states(self) -> frozenset[str]:
        named = {self.initial, *self.edges, *self.from_any, *self.resumable, *self.terminal}
        for targets in self.edges.values():
            named.update(targets)
        return frozenset(named)

    def step(self, current: str, held: str | None, target: str) -> tuple[str, str | None] | None:
        """The (state, held-before-resumable) after moving to ``target``, or None if not allowed."""
        if current in self.terminal or target == current:
            return None
        if current in self.resumable and target == held:
            return target, None
        allowed = target in self.edges.get(current, ()) or target in self.from_any
        if not allowed:
            return None
        return target, (current if target in self.resumable else None)


def machine(initial: str, edges: Mapping[str, Iterable[str]], **extra: Iterable[str]) -> StateMachine:
    """Shorthand: ``machine("open", {"open": ["assigned"]}, from_any=["on_hold"], ...)``."""
    return StateMachine(
        initial=initial,
        edges={state: frozenset(targets) for state, targets in edges.items()},
        **{name: frozenset(values) for name, values in extra.items()},
    )


@dataclass(frozen=True)
class FieldSpec:
    kind: str
    validator: Validator | None = None
    machine: StateMachine | None = None


@dataclass(frozen=True)
class EntityType:
    name: str
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    append_only: bool = False
    # For append-only entities: checks the whole record (a dict) before it is accepted.
    record_validator: Validator | None = None


class RegisterKey(NamedTuple):
    """Where an op lands: one field of one entity, or the entity as a whole."""

    kind: str
    entity: str
    eid: str
    field: str


# Builds a RegisterKey from a (kind, entity, eid, field) tuple without the Python-level __new__ of
# NamedTuple: this runs once per op ingested.
new_key = partial(tuple.__new__, RegisterKey)


class Registry:
    """The entity types a replica accepts, looked up by name."""

    def __init__(self, types: Iterable[EntityType] = ()) -> None:
        self._types: dict[str, EntityType] = {}
        self._whole: dict[str, FieldSpec] = {}  # the spec of each type's entity-level register
        # (entity, field) -> (kind, spec) of every register but tombstones: what ``route`` looks up
        # first, read directly by the ingest loop. Read-only outside ``add``.
        self.routes: dict[tuple[str, str], tuple[str, FieldSpec]] = {}
        for entity_type in types:
            self.add(entity_type)

    def add(self, entity_type: EntityType) -> None:
        from .kinds import KINDS  # the kinds module imports this one for FieldSpec

        if entity_type.name in self._types:
            raise ValueError(f"entity type {entity_type.name!r} is registered twice")
        for name, spec in entity_type.fields.items():
            if name == ENTITY_FIELD:
                raise ValueError(f"{entity_type.name}: a field may not have an empty name")
            if spec.kind not in KINDS or spec.kind in ("append", "tombstone"):
                raise ValueError(f"{entity_type.name}.{name}: unknown field kind {spec.kind!r}")
            if spec.kind == "status" and spec.machine is None:
                raise ValueError(f"{entity_type.name}.{name}: a status field needs a state machine")
        self._types[entity_type.name] = entity_type
        self._whole[entity_type.name] = (
            FieldSpec("append", entity_type.record_validator) if entity_type.append_only else FieldSpec("tombstone")
        )
        if entity_type.append_only:
            self.routes[(entity_type.name, ENTITY_FIELD)] = ("append", self._whole[entity_type.name])
        for name, spec in entity_type.fields.items():
            self.routes[(entity_type.name, name)] = (spec.kind, spec)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self):
        return iter(self._types.values())

    def get(self, name: str) -> EntityType:
        try:
            return self._types[name]
        except KeyError:
            raise InvalidOp("entity", f"unknown entity type {name!r}") from None

    def route(self, op: Op) -> tuple[RegisterKey, FieldSpec]:
        """The register an op belongs to and its field spec; raises InvalidOp if it fits nowhere."""
        found = self.routes.get((op.entity, op.field))
        if found is not None and (op.action != DELETE or found[0] == "append"):
            kind, spec = found
            return new_key((kind, op.entity, op.eid, op.field)), spec
        entity_type = self.get(op.entity)
        if entity_type.append_only:
            raise InvalidOp("field", f"{op.entity} records have no fields to edit; send the whole record")
        if op.action == DELETE:
            if op.field != ENTITY_FIELD:
                raise InvalidOp("field", "a delete applies to the whole entity; leave field empty")
            return RegisterKey("tombstone", op.entity, op.eid, ENTITY_FIELD), self._whole[op.entity]
        raise InvalidOp("field", f"{op.entity} has no field {op.field!r}")
