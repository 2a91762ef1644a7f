"""The ``links`` read model: every reference from one entity to another, kept in step with the
replica inside each ingest transaction.

A field named ``*_id`` (an lww field, or a key of an append-only record) is a reference. One
indexed table of them answers every traversal the hub needs — a technician's jobs, a job's
records, an asset's history — without a table per entity type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sync.kinds import KINDS
from sync.registry import RegisterKey
from sync.store import SqlReplica

if TYPE_CHECKING:
    from .db import Database

# Portable: SQLite (3.24+) and PostgreSQL both skip a row already there.
_INSERT = "INSERT INTO links VALUES (?,?,?,?) ON CONFLICT DO NOTHING"


def is_reference(field: str) -> bool:
    return field.endswith("_id")


def is_reference_set(field: str) -> bool:
    return field.endswith("_ids")


def update_links(db: Database, registers: Mapping[RegisterKey, Any]) -> None:
    """Bring the links of the registers an ingest changed in line (inside its transaction)."""
    # Each changed reference field is replaced whole: its old targets out, its current ones in.
    clears: list[tuple[str, str, str]] = []
    inserts: list[tuple[str, str, str, str]] = []
    for key, register in registers.items():
        if key.kind == "lww" and is_reference(key.field):
            value = KINDS["lww"].read(register)
            clears.append((key.entity, key.eid, key.field))
            if isinstance(value, str) and value:
                inserts.append((key.entity, key.eid, key.field, value))
        elif key.kind == "set" and is_reference_set(key.field):
            clears.append((key.entity, key.eid, key.field))
            inserts.extend((key.entity, key.eid, key.field, member) for member in KINDS["set"].read(register))
        elif key.kind == "append":
            record = KINDS["append"].read(register)
            if record:
                inserts.extend(
                    (key.entity, key.eid, name, value)
                    for name, value in record["value"].items()
                    if is_reference(name) and isinstance(value, str) and value
                )
    if clears:
        db.executemany("DELETE FROM links WHERE entity = ? AND eid = ? AND ref_field = ?", clears)
    if inserts:
        db.executemany(_INSERT, inserts)


def rebuild(replica: SqlReplica, db: Database) -> int:
    """Recompute the whole table from the registers (after a restore, or a change of rules)."""
    db.execute("DELETE FROM links")
    count = 0
    for entity_type in replica.registry:
        for eid in replica.entity_ids(entity_type.name):
            view = replica.entity(entity_type.name, eid)
            fields = view.get("value", {}) if entity_type.append_only else view
            rows = [(entity_type.name, eid, name, value) for name, value in fields.items()
                    if is_reference(name) and isinstance(value, str) and value]
            rows += [(entity_type.name, eid, name, member) for name, members in fields.items()
                     if is_reference_set(name) and isinstance(members, list) for member in members]
            db.executemany(_INSERT, rows)
            count += len(rows)
    return count


class Links:
    """Queries over the links table."""

    def __init__(self, db: Database) -> None:
        self.conn = db

    def sources(self, entity: str, field: str, targets: Iterable[str]) -> set[str]:
        """Ids of ``entity`` rows whose ``field`` points at one of ``targets``."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(targets))):
            marks = ",".join("?" * len(chunk))
            found.update(eid for (eid,) in self.conn.execute(
                f"SELECT eid FROM links WHERE ref_eid IN ({marks}) AND ref_field = ? AND entity = ?",
                (*chunk, field, entity)))
        return found

    def targets(self, entity: str, eids: Iterable[str], field: str) -> set[str]:
        """What ``field`` of these ``entity`` rows points at."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(eids))):
            marks = ",".join("?" * len(chunk))
            found.update(ref for (ref,) in self.conn.execute(
                f"SELECT ref_eid FROM links WHERE entity = ? AND eid IN ({marks}) AND ref_field = ?",
                (entity, *chunk, field)))
        return found

    def referrers(self, field: str, targets: Iterable[str], entities: Iterable[str]) -> set[tuple[str, str]]:
        """(entity, eid) of rows of any of ``entities`` whose ``field`` points at ``targets``."""
        wanted = set(entities)
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(set(targets))):
            marks = ",".join("?" * len(chunk))
            found.update((entity, eid) for entity, eid in self.conn.execute(
                f"SELECT entity, eid FROM links WHERE ref_eid IN ({marks}) AND ref_field = ?", (*chunk, field))
                if entity in wanted)
        return found


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
