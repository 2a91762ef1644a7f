"""A ticket moves on when its work is done: the hub resolves it from the merged state.

The seeds: a ticket goes open -> assigned -> in_progress -> resolved -> closed (seed 000); the
technician's completion is what ends the work ("Work Order Closed — Status changes to Completed.
SLA 'resolution' clock stops", seed 002; "Completed: done, resolved", seed 004). So once a
ticket's work is done — every job completed or cancelled, the last one completed, no work order
still waiting for a job (:func:`.sla_clocks.work_of`) — the hub moves it to ``resolved``, through
``in_progress`` when it is ``assigned`` (the state machine has no assigned -> resolved). Resolved
is the ticket awaiting the customer's confirmation: people close it (or the customer's "not
fixed" reopens it, resolved -> in_progress, and the hub leaves it open until more work is
completed). A ticket on hold, resolved, closed or cancelled is left as it is.

The SLA engine runs this first, so its clocks and the billing engine (T&M bills a resolved
ticket) see the ticket resolved in the same round; the resolution clock counts the work done
(when the last job completed), not when this ran, so a tablet that syncs late is not blamed for it.
Pure of the state: a second run writes nothing, and the same ops in any order resolve the same
tickets.
"""

from __future__ import annotations

from typing import Any

from sync.ops import MOVE

from ..store import HubStore
from .sla_clocks import status_steps, work_done, work_of

# The way to resolved from each state a ticket with work under way can be in.
TO_RESOLVED = {"open": ("resolved",), "assigned": ("in_progress", "resolved"), "in_progress": ("resolved",)}


def resolution_moves(store: HubStore, ticket_id: str) -> list[tuple[Any, ...]]:
    """The status moves resolving the ticket if its work is done and it is not resolved yet."""
    steps, _, state = status_steps(store, "ticket", ticket_id)
    path = TO_RESOLVED.get(state, ())
    if not path or work_done(steps, work_of(store, ticket_id)) is None:
        return []
    if store.replica.entity("ticket", ticket_id).get("_deleted"):
        return []
    return [("ticket", ticket_id, MOVE, "status", target) for target in path]


def plan(store: HubStore) -> list[list[tuple[Any, ...]]]:
    """One unit per ticket to resolve (nothing written)."""
    units = []
    for ticket_id in store.replica.entity_ids("ticket"):
        store.give_way()
        moves = resolution_moves(store, ticket_id)
        if moves:
            units.append(moves)
    return units
