"""How an entity is declared: a marshmallow schema whose fields each carry their merge kind.

``schema/`` alone defines shapes. A schema validates a whole record at the edges (the office API,
the agent's commands) and hands plain dicts inward; :func:`build_registry` turns the same
declarations into the replication engine's registry, so a field's type, its validation and its
merge kind are written once, side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load

from sync.ops import MAX_DEPTH, unstorable
from sync.registry import EntityType, FieldSpec, Registry, StateMachine

# Every value on the wire is JSON; these are the merge kinds a mutable field may declare.
MERGE_KINDS = ("lww", "counter", "status", "set")


def _declare(field: fields.Field, kind: str, **extra: Any) -> fields.Field:
    # marshmallow keeps a field's metadata as a plain dict; its type hint says Mapping.
    metadata: dict[str, Any] = field.metadata  # type: ignore[assignment]
    metadata.update(merge=kind, **extra)
    return field


def lww(field: fields.Field) -> fields.Field:
    """Last writer wins; a concurrent overwrite is kept as a conflict."""
    return _declare(field, "lww")


def counter(field: fields.Field) -> fields.Field:
    return _declare(field, "counter")


def tags(field: fields.Field) -> fields.Field:
    """An add-wins set of strings; each op adds or removes one element."""
    return _declare(field, "set")


def status(field: fields.Field, machine: StateMachine) -> fields.Field:
    return _declare(field, "status", machine=machine)


class EntitySchema(Schema):
    """Base of every entity. ``entity`` names the type on the wire; ``append_only`` types hold
    immutable records (corrected by voids); the others are edited field by field."""

    entity: str = ""
    append_only: bool = False

    @pre_load
    def _refuse_unstorable(self, data: Any, **_: Any) -> Any:
        # A device records only what the hub can keep: refused here, not at the next push. The
        # record is one level; each of its fields may nest MAX_DEPTH deep, as a field's value may.
        found = unstorable(data, MAX_DEPTH + 1)
        if found is not None:
            where, why = found
            raise ValidationError(why, field_name=where or "_schema")
        return data


def reason(error: ValidationError) -> str:
    """One readable line from marshmallow's messages (a list, or a dict for nested data)."""
    messages: Any = error.messages
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {reason(ValidationError(value))}" for key, value in messages.items())
    if isinstance(messages, list):
        return " ".join(str(m) if not isinstance(m, dict | list) else reason(ValidationError(m)) for m in messages)
    return str(messages)


def _field_validator(field: fields.Field):
    def validate(value: Any) -> None:
        if value is None:
            if not field.allow_none:
                raise ValueError("may not be empty")
            return
        found = unstorable(value)
        if found is not None:
            where, why = found
            raise ValueError(f"{where}: {why}" if where else why)
        try:
            field.deserialize(value)
        except ValidationError as exc:
            raise ValueError(reason(exc)) from None

    return validate


def _set_element_validator(field: fields.Field):
    inner = field.inner if isinstance(field, fields.List) else field
    return _field_validator(inner)


def _record_validator(schema: Schema):
    def validate(record: Any) -> None:
        try:
            schema.load(record)
        except ValidationError as exc:
            raise ValueError(reason(exc)) from None

    return validate


def entity_type(schema_class: type[EntitySchema]) -> EntityType:
    schema = schema_class()
    if schema_class.append_only:
        return EntityType(schema_class.entity, append_only=True, record_validator=_record_validator(schema))
    specs = {}
    for name, field in schema.fields.items():
        kind = field.metadata.get("merge")
        if kind not in MERGE_KINDS:
            raise TypeError(f"{schema_class.__name__}.{name} declares no merge kind (one of {MERGE_KINDS})")
        if kind == "set":
            specs[name] = FieldSpec("set", _set_element_validator(field))
        elif kind == "status":
            specs[name] = FieldSpec("status", machine=field.metadata["machine"])
        else:
            specs[name] = FieldSpec(kind, _field_validator(field))
    return EntityType(schema_class.entity, specs)


def build_registry(schema_classes: Iterable[type[EntitySchema]]) -> Registry:
    return Registry(entity_type(schema_class) for schema_class in schema_classes)


def load(schema_class: type[EntitySchema], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate a whole record at an edge; raises ValidationError with per-field messages.

    ``partial`` (an edit) lets the record's own fields be left out, but a nested record that is
    sent must be whole: it replaces the one held, and a field missing from it would be lost."""
    schema = schema_class()
    # marshmallow's partial=True reaches into nested schemas; naming the top-level fields does not.
    return schema.load(data, partial=tuple(schema.fields) if partial else False)
