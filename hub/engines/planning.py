"""How an engine writes what it decided without holding the database while it decides.

An engine reads much (every open ticket, every stock row) and writes little. So it plans on a
read-only snapshot (:meth:`HubStore.planning`), while pushes and pulls go on, and then writes
the plan in one short transaction, if nothing that landed in between can make the plan wrong:

- ops of devices that touch none of the entities the plan writes are what a late sync looks
  like. The plan is exactly what the engine would have written had those ops arrived a moment
  later, which every engine allows for already: each is a pure function of the state, and the
  push that brought them pokes the next round, which sees them;
- an op of the hub itself (an office action, in this worker or another) or any op on an entity
  the plan writes is not like a late sync: an invoice sent, a survey answered, a stock row
  moved meanwhile. The plan is made again from a fresh snapshot.

A plan is a list of units, each written whole (a stock movement with the counter delta beside
it; a ticket's escalation with its SLA picture), a few units per transaction: a plan that
catches up on a day of work is written in slices too, each slice checked as above against what
landed since the one before.

After ``REPLANS`` plans overtaken in a row, the engine plans and writes in one transaction, as
it would with no snapshot: slower for everyone else, but it always ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..store import WRITE_SLICE, HubStore

Change = tuple[Any, ...]
Unit = Sequence[Change]

REPLANS = 3
# More ops than this landing during one plan: reading them back costs more than planning again.
WATCHED_OPS = 5000


def write_planned(store: HubStore, plan: Callable[[HubStore], Sequence[Unit]]) -> int:
    """Run ``plan`` on a snapshot and write the units of changes it returns; returns the ops
    written. ``plan`` only reads, through the store it is given."""
    written = 0
    for _attempt in range(REPLANS):
        with store.planning() as view:
            as_of = view.replica.log_end()
            units = [unit for unit in plan(view) if unit]
        while units:
            # What landed since the plan (a busy push decodes to thousands of ops) is read on a
            # fresh snapshot, no writer waiting; the transaction reads only what landed after.
            with store.planning() as view:
                if not _still_valid(view, as_of, units):
                    break
                as_of = view.replica.log_end()
            store.let_queued_writes_in()
            with store.unit_of_work():
                if not _still_valid(store, as_of, units):
                    break
                taken, units = _slice(units)
                written += len(store.write([change for unit in taken for change in unit]))
                as_of = store.replica.log_end()
        else:
            return written
    with store.unit_of_work():
        changes = [change for unit in plan(store) for change in unit]
        return written + (len(store.write(changes)) if changes else 0)


def by_entity(changes: Sequence[Change]) -> list[list[Change]]:
    """``changes`` as units of one entity each, for a plan whose entities stand alone."""
    units: dict[tuple[Any, Any], list[Change]] = {}
    for change in changes:
        units.setdefault((change[0], change[1]), []).append(change)
    return list(units.values())


def _slice(units: Sequence[Unit]) -> tuple[Sequence[Unit], Sequence[Unit]]:
    """The first units making up about ``WRITE_SLICE`` ops (one at least), and the rest."""
    size = 0
    for end, unit in enumerate(units, 1):
        size += len(unit)
        if size >= WRITE_SLICE:
            return units[:end], units[end:]
    return units, []


def _still_valid(store: HubStore, as_of: int, units: Sequence[Unit]) -> bool:
    """Whether the ops taken in since the log position ``as_of`` leave a plan of ``units`` as
    it would have been made now (see the module docstring)."""
    landed, _cursor = store.replica.ops_since(as_of, WATCHED_OPS + 1)
    if not landed:
        return True
    if len(landed) > WATCHED_OPS:
        return False
    written = {(change[0], change[1]) for unit in units for change in unit}
    hub = store.replica.node
    return not any(op.node == hub or (op.entity, op.eid) in written for op in landed)
