"""A ticket moves on when its work is done: the hub resolves it from the merged state, and
completes each work order whose jobs are all done (:func:`completion_moves`).

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
from .sla_clocks import FINAL, status_steps, work_done, work_of

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


def completion_moves(store: HubStore, order_id: str) -> list[tuple[Any, ...]]:
    """The move completing a released work order whose jobs are all done — each completed or
    cancelled, one completed at least ("Work Order Closed — Status changes to Completed", seed
    002) — so the dispatcher's board no longer lists it as work to plan. A work order planned or
    on hold is left to people; one holding no job has no work done yet."""
    if status_steps(store, "work_order", order_id)[2] != "released":
        return []
    if store.replica.entity("work_order", order_id).get("_deleted"):
        return []
    states = [status_steps(store, "job", job_id)[2]
              for job_id in store.links.sources("job", "work_order_id", [order_id])
              if not store.replica.entity("job", job_id).get("_deleted")]
    if "completed" not in states or not all(state in FINAL for state in states):
        return []
    return [("work_order", order_id, MOVE, "status", "completed")]


def plan(store: HubStore) -> list[list[tuple[Any, ...]]]:
    """One unit per work order to complete and per ticket to resolve (nothing written)."""
    units = []
    for order_id in store.replica.entity_ids("work_order"):
        store.give_way()
        moves = completion_moves(store, order_id)
        if moves:
            units.append(moves)
    for ticket_id in store.replica.entity_ids("ticket"):
        store.give_way()
        moves = resolution_moves(store, ticket_id)
        if moves:
            units.append(moves)
    return units
