"""What happened to a ticket, read from the merged state: when its SLA clocks start, pause and stop.

Every clock starts at ``ticket.opened_at`` and pauses while the ticket is ``on_hold``. They stop at:

- **response**: the first of — the ticket leaving ``open`` for ``assigned`` or ``in_progress``; a
  customer-visible comment by staff (anyone but a portal user: office users at the hub, technicians
  from their tablets); a job of the ticket accepted (or set off for straight from ``scheduled``);
  the ticket resolved (a resolved ticket has been answered).
- **onsite**: the first check-in (``check_event`` ``in``, not voided) of a job of the ticket.
- **resolution**: the ticket resolved (the latest move into ``resolved`` when it is resolved or
  closed now), or — when it is not, or when the policy says ``resolution_stops_at: job_completed``
  (the field service flow's rule) — the first job of the ticket completed, whichever is first.

A clock still running when the resolution clock stops, stops with it (the work is done); a ticket
cancelled stops its running clocks as ``cancelled``.

Status moves count at their op's HLC: the hub-corrected time of authoring (a device stamps its ops
in hub time). Records count at the business time the device recorded (``device_time``,
``written_at``) corrected by its measured offset (:mod:`hub.device_time`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from schema.machines import JOB, TICKET
from sync.hlc import to_datetime
from sync.kinds.status import Applied, replay

from ..device_time import DeviceOffsets, parse_instant
from ..store import HubStore

RESOLVED = ("resolved", "closed")
RESPONDED = ("assigned", "in_progress")


@dataclass(frozen=True)
class Job:
    id: str
    technician_id: str | None
    status: str


@dataclass(frozen=True)
class TicketFacts:
    """A ticket's SLA-relevant history; every instant in hub time."""

    ticket_id: str
    opened_at: datetime
    status: str
    pauses: tuple[tuple[datetime, datetime | None], ...]
    stops: dict[str, tuple[datetime, str]]  # clock -> (when, what stopped it)
    cancelled_at: datetime | None = None
    jobs: tuple[Job, ...] = field(default=())


def _steps(store: HubStore, entity: str, eid: str) -> tuple[list[Applied], str | None, str]:
    register = store.replica.register(entity, eid, "status")
    machine = TICKET if entity == "ticket" else JOB
    if register is None:
        return [], None, machine.initial
    _, applied = replay(machine, register.transitions)
    return applied, register.held, register.state


def _earliest(*candidates: tuple[datetime | None, str]) -> tuple[datetime, str] | None:
    found = [(when, why) for when, why in candidates if when is not None]
    return min(found, key=lambda pair: pair[0]) if found else None


def _first(instants: Iterable[datetime]) -> datetime | None:
    return min(instants, default=None)


def opened_at(store: HubStore, ticket: dict) -> datetime:
    """``opened_at``, or — for a ticket that arrived without one — the time of its first write."""
    found = parse_instant(ticket.get("opened_at"))
    if found is not None:
        return found
    register = store.replica.register("ticket", ticket["id"], "customer_id")
    heads = getattr(register, "heads", ())
    return to_datetime(min(head.hlc for head in heads)) if heads else to_datetime(0)


def _pauses(steps: list[Applied]) -> tuple[tuple[datetime, datetime | None], ...]:
    pauses: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = None
    for step in steps:
        when = to_datetime(step.hlc)
        if step.target == "on_hold" and since is None:
            since = when
        elif step.source == "on_hold" and since is not None:
            pauses.append((since, when))
            since = None
    if since is not None:
        pauses.append((since, None))
    return tuple(pauses)


def _staff_comments(store: HubStore, ticket_id: str, offsets: DeviceOffsets,
                    portal_users: frozenset[str]) -> list[datetime]:
    found = []
    for _, eid in store.links.referrers("ticket_id", [ticket_id], ("ticket_comment",)):
        register = store.replica.register("ticket_comment", eid, "")
        record = register.record if register is not None else None
        if record is None or register.voided or record.value.get("visibility") != "customer":
            continue
        if record.node == offsets.hub_node and record.value.get("author") in portal_users:
            continue  # the customer writing, not us answering
        found.append(offsets.business_time(record.node, record.value.get("written_at"), record.hlc))
    return found


def _check_ins(store: HubStore, job_ids: list[str], offsets: DeviceOffsets) -> list[datetime]:
    found = []
    for _, eid in store.links.referrers("job_id", job_ids, ("check_event",)):
        register = store.replica.register("check_event", eid, "")
        record = register.record if register is not None else None
        if record is None or register.voided or record.value.get("direction") != "in":
            continue
        found.append(offsets.business_time(record.node, record.value.get("device_time"), record.hlc))
    return found


def gather(store: HubStore, ticket: dict, offsets: DeviceOffsets, portal_users: frozenset[str],
           resolution_stops_at: str = "ticket_resolved") -> TicketFacts:
    """The facts of one ticket (its merged view ``ticket``) that its SLA clocks are computed from.
    ``resolution_stops_at`` "job_completed" stops resolution at the first job completed even when
    the ticket is resolved later (the field service flow's rule)."""
    ticket_id = ticket["id"]
    steps, held, state = _steps(store, "ticket", ticket_id)
    job_ids = sorted(store.links.sources("job", "ticket_id", [ticket_id]))
    jobs, accepted, completed = [], [], []
    for job_id in job_ids:
        job_steps, _, job_state = _steps(store, "job", job_id)
        technician = store.replica.entity("job", job_id).get("technician_id")
        jobs.append(Job(job_id, technician if isinstance(technician, str) else None, job_state))
        accepted += [to_datetime(s.hlc) for s in job_steps
                     if s.target == "accepted" or (s.source == "scheduled" and s.target == "en_route")]
        completed += [to_datetime(s.hlc) for s in job_steps if s.target == "completed"]
    resolved_now = state in RESOLVED or (state == "on_hold" and held in RESOLVED)
    into_resolved = [to_datetime(s.hlc) for s in steps if s.target == "resolved"]
    by_job = resolution_stops_at == "job_completed" or not resolved_now
    settled = _earliest((into_resolved[-1] if resolved_now and into_resolved else None, "ticket resolved"),
                        (_first(completed) if by_job else None, "job completed"))
    stops: dict[str, tuple[datetime, str]] = {}
    response = _earliest(
        (_first(to_datetime(s.hlc) for s in steps if s.source == "open" and s.target in RESPONDED), "ticket taken"),
        (_first(_staff_comments(store, ticket_id, offsets, portal_users)), "staff comment"),
        (_first(accepted), "job accepted"),
        (_first(into_resolved), "ticket resolved"),
        settled or (None, ""),
    )
    onsite = _earliest((_first(_check_ins(store, job_ids, offsets)), "check-in"), settled or (None, ""))
    for clock, stop in (("response", response), ("onsite", onsite), ("resolution", settled)):
        if stop is not None:
            stops[clock] = stop
    cancelled = next((to_datetime(s.hlc) for s in steps if s.target == "cancelled"), None) \
        if state == "cancelled" else None
    return TicketFacts(ticket_id, opened_at(store, ticket), state, _pauses(steps), stops, cancelled, tuple(jobs))
