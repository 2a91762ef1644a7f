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

After ``REPLANS`` plans overtaken in a row, the engine plans and writes in one transaction, as
it would with no snapshot: slower for everyone else, but it always ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..store import HubStore

Change = tuple[Any, ...]

REPLANS = 3
# More ops than this landing during one plan: reading them back costs more than planning again.
WATCHED_OPS = 5000


def write_planned(store: HubStore, plan: Callable[[HubStore], Sequence[Change]]) -> int:
    """Run ``plan`` on a snapshot and write the changes it returns; returns the ops written.
    ``plan`` only reads, through the store it is given."""
    for _attempt in range(REPLANS):
        with store.planning() as view:
            as_of = view.replica.log_end()
            changes = plan(view)
        if not changes:
            return 0
        with store.unit_of_work():
            if _still_valid(store, as_of, changes):
                return len(store.write(changes))
    with store.unit_of_work():
        changes = plan(store)
        return len(store.write(changes)) if changes else 0


def _still_valid(store: HubStore, as_of: int, changes: Sequence[Change]) -> bool:
    """Whether the ops taken in since the log position ``as_of`` leave a plan of ``changes`` as
    it would have been made now (see the module docstring)."""
    landed, _cursor = store.replica.ops_since(as_of, WATCHED_OPS + 1)
    if len(landed) > WATCHED_OPS:
        return False
    written = {(change[0], change[1]) for change in changes}
    hub = store.replica.node
    return not any(op.node == hub or (op.entity, op.eid) in written for op in landed)
