"""Shared by the SLA engine's tests: the hub's time under freezegun, a small service business
written as hub ops, and short ways to move statuses and run the engine. (No tests here.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from hub.engines.sla import ENGINE
from schema.sla_defaults import SERVICE_MANAGEMENT
from sync.ops import APPEND, MOVE, SET


@pytest.fixture
def hub_time(clock):
    """``hub_time("2026-11-27T10:00:00Z")`` moves the frozen wall clock and the hub's clock together
    and returns the hub's milliseconds; agents created meanwhile read the same frozen clock."""
    with freeze_time("2026-11-27T08:00:00Z") as frozen:
        def at(text: str) -> int:
            frozen.move_to(text)
            clock.ms = int(time.time() * 1000)
            return clock.ms

        at("2026-11-27T08:00:00Z")
        yield at


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def targets(table):
    return {priority: {key: value for key, value in row.items() if value is not None or key != "onsite_min"}
            for priority, row in table.items()}


def business(store, *, calendar="24x7", table=SERVICE_MANAGEMENT, share=None, multiple=None, vip=False):
    """A customer on a contract whose SLA policy holds ``table``'s targets in ``calendar``, and a
    technician (tech-1, team lead lead-1) with a van."""
    policy = [("sla_policy", "pol-1", SET, "name", "Enterprise Support"),
              ("sla_policy", "pol-1", SET, "targets", targets(table)),
              ("sla_policy", "pol-1", SET, "calendar", calendar)]
    if share is not None:
        policy.append(("sla_policy", "pol-1", SET, "near_breach_share", share))
    if multiple is not None:
        policy.append(("sla_policy", "pol-1", SET, "overdue_multiple", multiple))
    store.write([
        *policy,
        ("customer", "cust-1", SET, "name", "Harbour Hotel"),
        ("customer", "cust-1", SET, "vip", vip),
        ("contract", "con-1", SET, "customer_id", "cust-1"),
        ("contract", "con-1", SET, "title", "Harbour support"),
        ("contract", "con-1", SET, "type", "time_material"),
        ("contract", "con-1", SET, "sla_policy_id", "pol-1"),
        ("technician", "lead-1", SET, "name", "Lee Lead"),
        ("technician", "tech-1", SET, "name", "Ana Silva"),
        ("technician", "tech-1", SET, "team_lead_id", "lead-1"),
        ("technician", "tech-1", SET, "van_id", "van-7"),
        ("stock_location", "van-7", SET, "kind", "van"),
        ("stock_location", "van-7", SET, "name", "Van 7"),
    ])


def open_ticket(store, eid="tkt-1", *, priority="High", opened_at="2026-11-27T08:00:00+00:00", contract="con-1",
                customer="cust-1", category="repair"):
    changes = [("ticket", eid, SET, "customer_id", customer), ("ticket", eid, SET, "title", f"Ticket {eid}"),
               ("ticket", eid, SET, "priority", priority), ("ticket", eid, SET, "opened_at", opened_at),
               ("ticket", eid, SET, "category", category)]
    if contract:
        changes.append(("ticket", eid, SET, "contract_id", contract))
    store.write(changes)


def dispatch(store, job="job-1", ticket="tkt-1", technician="tech-1"):
    """A work order for the ticket and a job for the technician, who drives van-7."""
    store.write([
        ("work_order", f"wo-{job}", SET, "ticket_id", ticket),
        ("work_order", f"wo-{job}", SET, "scope", "Repair"),
        ("job", job, SET, "work_order_id", f"wo-{job}"),
        ("job", job, SET, "ticket_id", ticket),
        ("job", job, SET, "technician_id", technician),
        ("job", job, SET, "van_id", "van-7"),
    ])


def move(store, entity, eid, *targets_):
    store.write([(entity, eid, MOVE, "status", target) for target in targets_])


def comment(store, eid, ticket="tkt-1", visibility="customer", author="office"):
    store.write([("ticket_comment", eid, APPEND, "", {
        "ticket_id": ticket, "visibility": visibility, "body": "On it", "author": author,
        "written_at": store.now_iso()})])


def run(store):
    """One engine run at the hub's time; the number of ops written."""
    return ENGINE.run(store, store.now_ms())


def sla(store, ticket="tkt-1"):
    return store.replica.entity("ticket", ticket).get("sla")


def escalations(store):
    found = {}
    for eid in store.replica.entity_ids("escalation"):
        found[eid] = store.replica.entity("escalation", eid)["value"]
    return found


def iso_ms(text: str) -> str:
    """How the engine writes an instant: UTC with milliseconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="milliseconds")
