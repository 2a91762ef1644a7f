"""Escalations of running SLA clocks, the priority raised on a breach, and contracts flagged overdue.

Levels (service management flow, "Escalation rules"):

- ``near_breach`` -> the assignee: the technician of the ticket's job for the on-site and
  resolution clocks, the ticket's ``assignee_id`` for the response clock (each falling back on the
  other);
- ``breached`` -> the assignee's team lead (``technician.team_lead_id``), and the ticket's priority
  goes up one level — once per breach, because the escalation record that goes with it is written
  once;
- ``overdue`` -> the service manager (a role: ``notify_id`` is empty), and the contract's health
  lists the ticket under ``sla_overdue`` until it is resolved.

Only clocks still running escalate: a clock that stopped — met or missed — calls for nobody's
attention any more. An engine that first sees a clock already overdue writes every level passed,
each at the instant it was reached. Records are append-only with ids
``esc-<ticket>-<clock>-<level>``, looked up before writing, so each is written once.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from sync.ops import APPEND, SET

from ..device_time import iso
from ..store import HubStore
from .sla_clocks import Job
from .sla_picture import ClockResult
from .sla_policy import raised

LEVELS = (("near_breach", "assignee"), ("breached", "team_lead"), ("overdue", "service_manager"))
REACHED = {"near_breach": ("near_breach", "breached", "overdue"), "breached": ("breached", "overdue"),
           "overdue": ("overdue",)}
CLOSED = ("resolved", "closed", "cancelled")


def record_id(ticket_id: str, clock: str, level: str) -> str:
    return f"esc-{ticket_id}-{clock}-{level}"


def recorded(store: HubStore, ticket_id: str) -> dict[str, dict[str, Any]]:
    """The escalation records of a ticket: id -> record."""
    found = {}
    for _, eid in sorted(store.links.referrers("ticket_id", [ticket_id], ("escalation",))):
        value = store.replica.entity("escalation", eid).get("value")
        if isinstance(value, dict):
            found[eid] = value
    return found


def raises_of(records: dict[str, dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    """(from, to) of every priority raise the engine made on a ticket's breaches."""
    return [(value.get("priority_from"), value.get("priority_to")) for value in records.values()
            if value.get("level") == "breached"]


def assignee(ticket: dict[str, Any], jobs: Iterable[Job], clock: str) -> str | None:
    """Who is notified first about ``clock``: see the module docstring."""
    live = [job for job in jobs if job.technician_id and job.status != "cancelled"]
    technician = live[-1].technician_id if live else None
    owner = ticket.get("assignee_id") if isinstance(ticket.get("assignee_id"), str) else None
    return (owner or technician) if clock == "response" else (technician or owner)


def team_lead(store: HubStore, technician_id: str | None) -> str | None:
    if not technician_id:
        return None
    lead = store.replica.entity("technician", technician_id).get("team_lead_id")
    return lead if isinstance(lead, str) and lead else None


def escalate(store: HubStore, ticket: dict[str, Any], jobs: Iterable[Job], result: ClockResult,
             priority: dict[str, str], existing: Container[str]) -> list[tuple[Any, ...]]:
    """The ops escalating one running clock: each level reached and not in ``existing`` (the ids
    of the ticket's escalation records). ``priority`` holds the ticket's current priority under
    "now" and is raised in place on a breach, so two clocks breaching in one run raise it twice
    (once per breach)."""
    if not result.running or ticket.get("status") in CLOSED:
        return []
    changes: list[tuple[Any, ...]] = []
    ticket_id = ticket["id"]
    notified = assignee(ticket, jobs, result.clock)
    recipients = {"assignee": notified, "team_lead": team_lead(store, notified), "service_manager": None}
    for level, role in LEVELS:
        if result.state not in REACHED[level]:
            continue
        eid = record_id(ticket_id, result.clock, level)
        if eid in existing:
            continue
        at, elapsed_ms = result.level_at(level)
        elapsed = round(elapsed_ms / 60_000, 2)
        record: dict[str, Any] = {
            "ticket_id": ticket_id, "clock": result.clock, "level": level, "notify_role": role,
            "notify_id": recipients[role],
            "elapsed_min": elapsed, "target_min": float(result.target_min), "at": iso(at or result.as_of),
            "note": f"{result.clock} clock {level.replace('_', ' ')}: {elapsed:g} of {result.target_min} working min",
        }
        if level == "breached":
            before = priority["now"]
            after = raised(before)
            record.update({"priority_from": before, "priority_to": after})
            if after != before:
                changes.append(("ticket", ticket_id, SET, "priority", after))
                priority["now"] = after
        changes.append(("escalation", eid, APPEND, "", record))
    return changes


def health_changes(store: HubStore, flagged: dict[str, set[str]]) -> list[tuple[Any, ...]]:
    """Bring every contract's ``health["sla_overdue"]`` in line with ``flagged`` (contract -> tickets)."""
    changes = []
    for contract_id in store.replica.entity_ids("contract"):
        health = store.replica.entity("contract", contract_id).get("health")
        current = dict(health) if isinstance(health, dict) else {}
        wanted = sorted(flagged.get(contract_id, ()))
        updated = {key: value for key, value in current.items() if key != "sla_overdue"}
        if wanted:
            updated["sla_overdue"] = wanted
        if updated != current:
            changes.append(("contract", contract_id, SET, "health", updated))
    return changes
