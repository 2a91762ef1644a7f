"""What the feedback engine reads from the hub's merged state, as plain data.

No Flask and no clock here: the times used are the ones the ops carry. A ticket counts as closed
at the HLC of the transition that closed it, a survey as answered at the HLC of its answer. A
customer's sign-off counts from the signature's ``signed_at`` corrected by the device's measured
clock offset — the correction every engine applies (``hub.device_time``: the offset logged at the
push that delivered the record), so it does not move when the device syncs again later.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sync.hlc import wall_ms
from sync.kinds.status import replay

from .. import office_records
from ..device_time import DeviceOffsets
from ..store import HubStore
from .feedback_rules import AccountFacts, Answer

# Clock states in ``ticket.sla`` (written by the SLA engine) that count as a breach on the account.
BREACH_STATES = frozenset({"breached", "overdue", "missed"})
# Where a breached clock says when it breached, most precise first.
BREACH_TIME_KEYS = ("breached_at", "due_at", "due")


def iso(ms: int) -> str:
    """An instant as the hub writes it: ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def parse_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of an ISO instant with a zone; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000)


def reached_ms(store: HubStore, entity: str, eid: str, target: str) -> int | None:
    """When the record's status last moved into ``target`` (the HLC of that move), if it did."""
    register = store.replica.register(entity, eid, "status")
    machine = office_records.status_machine(entity)
    if register is None or machine is None:
        return None
    _, applied = replay(machine, register.transitions)
    times = [step.hlc for step in applied if step.target == target]
    return wall_ms(times[-1]) if times else None


def signoffs(store: HubStore) -> dict[str, int]:
    """Each signed job's first standing sign-off (a voided signature does not count), on the hub's
    clock: the device's ``signed_at`` corrected by its measured offset (hub.device_time), the one
    correction every engine applies. A sign-off the office typed in at the hub is taken as given."""
    offsets = DeviceOffsets(store)
    found: dict[str, int] = {}
    for eid in store.replica.entity_ids("signature"):
        register = store.replica.register("signature", eid, "")
        record = register.record if register is not None else None
        if record is None or register.voided or parse_ms(record.value.get("signed_at")) is None:
            continue
        job_id = record.value.get("job_id")
        at = int(offsets.business_time(record.node, record.value["signed_at"], record.hlc).timestamp() * 1000)
        if isinstance(job_id, str):
            found[job_id] = min(at, found.get(job_id, at))
    return found


def closed_tickets(store: HubStore) -> dict[str, tuple[str, int]]:
    """Closed tickets: id -> (customer id, when it closed)."""
    found = {}
    for eid in store.replica.entity_ids("ticket"):
        ticket = store.replica.entity("ticket", eid)
        if ticket.get("status") != "closed" or ticket.get("_deleted") or not ticket.get("customer_id"):
            continue
        at = reached_ms(store, "ticket", eid, "closed")
        if at is not None:
            found[eid] = (ticket["customer_id"], at)
    return found


def job_customer(store: HubStore, job_id: str) -> tuple[str, str] | None:
    """(customer id, ticket id) of a job, once its ticket has reached the hub."""
    job = store.replica.entity("job", job_id)
    ticket_id = job.get("ticket_id") if job and not job.get("_deleted") else None
    if not ticket_id:
        return None
    customer_id = store.replica.entity("ticket", ticket_id).get("customer_id")
    return (customer_id, ticket_id) if customer_id else None


def recipient(store: HubStore, customer_id: str) -> tuple[str | None, str | None]:
    """(account name, address): the primary contact's email, else another contact's (lowest id
    first), else the account's own."""
    customer = office_records.view(store, "customer", customer_id) or {}
    contacts = [office_records.view(store, "contact", eid)
                for eid in sorted(store.links.sources("contact", "customer_id", [customer_id]))]
    emails = [c["email"] for c in contacts if c and c.get("primary") and c.get("email")]
    emails += [c["email"] for c in contacts if c and c.get("email")]
    return customer.get("name"), (emails[0] if emails else customer.get("email"))


def _clock_pictures(sla: dict[str, Any], depth: int = 2) -> list[dict[str, Any]]:
    found = []
    for value in sla.values():
        if isinstance(value, dict):
            if "state" in value or "status" in value or "breached" in value:
                found.append(value)
            elif depth > 1:
                found += _clock_pictures(value, depth - 1)
    return found


def breach_times(ticket: dict[str, Any]) -> list[int]:
    """When each breached SLA clock of a ticket breached, from ``ticket.sla``; none when the SLA
    engine has not written it. A clock's picture is a dict with a ``state`` (or ``status``) —
    ``breached``, ``overdue`` or ``missed`` (stopped after its due time) count — or ``breached:
    true``, directly under ``sla`` or one level down; it breached at its ``breached_at``, else its
    due time, else when the ticket was opened."""
    sla = ticket.get("sla")
    if not isinstance(sla, dict):
        return []
    found = []
    for clock in _clock_pictures(sla):
        state = clock.get("state", clock.get("status"))
        if state in BREACH_STATES or clock.get("breached") is True:
            times = [parse_ms(clock.get(key)) for key in BREACH_TIME_KEYS]
            at = next((t for t in times if t is not None), parse_ms(ticket.get("opened_at")))
            if at is not None:
                found.append(at)
    return found


def answered_surveys(store: HubStore) -> list[tuple[dict[str, Any], int]]:
    """Every answered survey with its answer time."""
    found = []
    for eid in store.replica.entity_ids("survey"):
        survey = office_records.view(store, "survey", eid)
        if survey is None or survey["status"] != "answered" or survey["score"] is None:
            continue
        at = reached_ms(store, "survey", eid, "answered")
        if at is not None:
            found.append((survey, at))
    return found


def account_facts(store: HubStore) -> dict[str, AccountFacts]:
    """Every customer's health inputs: answers, SLA breaches, tickets by asset."""
    answers: dict[str, list[Answer]] = defaultdict(list)
    for survey, at in answered_surveys(store):
        answers[survey["customer_id"]].append(Answer(survey["kind"], survey["score"], at))
    breaches: dict[str, list[int]] = defaultdict(list)
    tickets: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    for eid in store.replica.entity_ids("ticket"):
        ticket = store.replica.entity("ticket", eid)
        customer_id = ticket.get("customer_id")
        if not customer_id or ticket.get("_deleted") or ticket.get("status") == "cancelled":
            continue
        breaches[customer_id].extend(breach_times(ticket))
        opened = parse_ms(ticket.get("opened_at"))
        if opened is not None:
            tickets[customer_id].append((ticket.get("asset_id"), opened))
    return {
        customer_id: AccountFacts(tuple(sorted(answers[customer_id], key=lambda a: (a.at_ms, a.kind, a.score))),
                                  tuple(sorted(breaches[customer_id])), tuple(sorted(tickets[customer_id],
                                                                                     key=lambda t: (t[1], t[0] or ""))))
        for customer_id in store.replica.entity_ids("customer")
    }
