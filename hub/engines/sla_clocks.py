"""What happened to a ticket, read from the merged state: when its SLA clocks start, pause and stop.

Every clock starts at ``ticket.opened_at`` and pauses while the ticket is ``on_hold``. They stop at:

- **response**: the first of — the ticket leaving ``open`` for ``assigned`` or ``in_progress``; a
  customer-visible comment by staff (anyone but a portal user: office users at the hub, technicians
  from their tablets); a job of the ticket accepted (or set off for straight from ``scheduled``);
  the ticket resolved (a resolved ticket has been answered).
- **onsite**: the first check-in (``check_event`` ``in``, not voided) of a job of the ticket.
- **resolution**: the ticket resolved (the latest move into ``resolved`` when it is resolved or
  closed now), or its work done (:func:`work_of`: every job completed or cancelled, the last one
  completed), whichever is first — the hub resolves a ticket whose work is done
  (:mod:`.sla_lifecycle`), and its clock must not depend on when that engine ran. With
  ``resolution_stops_at: job_completed`` (the field service flow's rule) the first job of the
  ticket completed stops it instead of the last.

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

from schema.machines import JOB, TICKET, WORK_ORDER
from sync.hlc import to_datetime
from sync.kinds.status import Applied, replay

from ..device_time import DeviceOffsets, parse_instant
from ..store import HubStore

RESOLVED = ("resolved", "closed")
RESPONDED = ("assigned", "in_progress")
FINAL = ("completed", "cancelled")  # a job's or a work order's: nothing more will be done in it
MACHINES = {"ticket": TICKET, "job": JOB, "work_order": WORK_ORDER}


@dataclass(frozen=True)
class Job:
    id: str
    technician_id: str | None
    status: str


@dataclass(frozen=True)
class Work:
    """A ticket's jobs and when they moved; every instant in hub time."""

    jobs: tuple[Job, ...]
    accepted: tuple[datetime, ...]  # each acceptance (or setting off straight from scheduled)
    completed: tuple[datetime, ...]  # each move into completed
    # When the last of its work was completed, if all of it is done now: every job completed or
    # cancelled, one completed at least, and no work order (not completed or cancelled) still
    # waiting for a job. A ticket may have several jobs (a return visit): the last one counts.
    done_at: datetime | None


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


def status_steps(store: HubStore, entity: str, eid: str) -> tuple[list[Applied], str | None, str]:
    """(the moves that applied, in order; the state held before on_hold; the state now)."""
    register = store.replica.register(entity, eid, "status")
    machine = MACHINES[entity]
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


def work_of(store: HubStore, ticket_id: str) -> Work:
    """The ticket's jobs, their acceptances and completions, and when its work was all done."""
    jobs, accepted, completed, last_done, dispatched = [], [], [], [], set()
    for job_id in sorted(store.links.sources("job", "ticket_id", [ticket_id])):
        job_steps, _, job_state = status_steps(store, "job", job_id)
        job = store.replica.entity("job", job_id)
        technician = job.get("technician_id")
        dispatched.add(job.get("work_order_id"))
        jobs.append(Job(job_id, technician if isinstance(technician, str) else None, job_state))
        accepted += [to_datetime(s.hlc) for s in job_steps
                     if s.target == "accepted" or (s.source == "scheduled" and s.target == "en_route")]
        done = [to_datetime(s.hlc) for s in job_steps if s.target == "completed"]
        completed += done
        if job_state == "completed" and done:
            last_done.append(done[-1])
    waiting = any(eid not in dispatched and status_steps(store, "work_order", eid)[2] not in FINAL
                  for eid in store.links.sources("work_order", "ticket_id", [ticket_id]))
    all_done = bool(last_done) and not waiting and all(job.status in FINAL for job in jobs)
    return Work(tuple(jobs), tuple(accepted), tuple(completed), max(last_done) if all_done else None)


def gather(store: HubStore, ticket: dict, offsets: DeviceOffsets, portal_users: frozenset[str],
           resolution_stops_at: str = "ticket_resolved") -> TicketFacts:
    """The facts of one ticket (its merged view ``ticket``) that its SLA clocks are computed from.
    ``resolution_stops_at`` "job_completed" stops resolution at the first job completed even when
    the ticket is resolved later (the field service flow's rule)."""
    ticket_id = ticket["id"]
    steps, held, state = status_steps(store, "ticket", ticket_id)
    work = work_of(store, ticket_id)
    job_ids = [job.id for job in work.jobs]
    resolved_now = state in RESOLVED or (state == "on_hold" and held in RESOLVED)
    into_resolved = [to_datetime(s.hlc) for s in steps if s.target == "resolved"]
    if resolution_stops_at == "job_completed":
        by_job = _first(work.completed)
    else:
        by_job = work_done(steps, work)
    # The work first: the hub resolves a ticket the moment its work is done, and the tie is its doing.
    settled = _earliest((by_job, "job completed"),
                        (into_resolved[-1] if resolved_now and into_resolved else None, "ticket resolved"))
    stops: dict[str, tuple[datetime, str]] = {}
    response = _earliest(
        (_first(to_datetime(s.hlc) for s in steps if s.source == "open" and s.target in RESPONDED), "ticket taken"),
        (_first(_staff_comments(store, ticket_id, offsets, portal_users)), "staff comment"),
        (_first(work.accepted), "job accepted"),
        (_first(into_resolved), "ticket resolved"),
        settled or (None, ""),
    )
    onsite = _earliest((_first(_check_ins(store, job_ids, offsets)), "check-in"), settled or (None, ""))
    for clock, stop in (("response", response), ("onsite", onsite), ("resolution", settled)):
        if stop is not None:
            stops[clock] = stop
    cancelled = next((to_datetime(s.hlc) for s in steps if s.target == "cancelled"), None) \
        if state == "cancelled" else None
    return TicketFacts(ticket_id, opened_at(store, ticket), state, _pauses(steps), stops, cancelled, work.jobs)


def work_done(steps: list[Applied], work: Work) -> datetime | None:
    """When the ticket's work was done in its current round: a ticket reopened after that (resolved
    -> in_progress: the customer says it is not fixed) waits for more work to be completed."""
    reopened = [to_datetime(s.hlc) for s in steps if s.source == "resolved" and s.target == "in_progress"]
    if work.done_at is None or (reopened and reopened[-1] >= work.done_at):
        return None
    return work.done_at
