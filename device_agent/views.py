"""What the technician reads on the tablet, from the local replica alone (works offline)."""

from __future__ import annotations

from typing import Any

from schema.business import SLA_CLOCKS
from schema.common import PRIORITIES
from schema.machines import JOB
from schema.sla_terms import build, clocks_of

from .agent import Agent

RECORD_TYPES = ("check_event", "time_log", "part_usage", "checklist_step", "attachment", "signature")


def my_jobs(agent: Agent) -> list[dict[str, Any]]:
    """Jobs assigned to this technician (or, on a van terminal, to the van's technicians)."""
    replica = agent.replica
    if agent.config.kind == "technician":
        crew = {agent.config.technician_id}
    else:
        crew = {t for t in replica.entity_ids("technician")
                if replica.entity("technician", t).get("van_id") == agent.config.van_id}
    jobs = []
    for job_id in replica.entity_ids("job"):
        job = replica.entity("job", job_id)
        assigned = {job.get("technician_id"), *job.get("crew_ids", [])}
        if agent.has_left("job", job_id) or not assigned & crew or job.get("_deleted"):
            continue
        ticket = replica.entity("ticket", job.get("ticket_id", "")) if job.get("ticket_id") else {}
        customer = replica.entity("customer", ticket.get("customer_id", "")) if ticket.get("customer_id") else {}
        site = replica.entity("site", ticket.get("site_id", "")) if ticket.get("site_id") else {}
        jobs.append({
            "id": job_id, "status": job.get("status", "scheduled"), "title": ticket.get("title"),
            "priority": ticket.get("priority"), "customer": customer.get("name"), "address": site.get("address"),
            "scheduled_start": job.get("scheduled_start"), "technician_id": job.get("technician_id"),
            "crew_ids": job.get("crew_ids", []),
        })
    return sorted(jobs, key=lambda j: (j["scheduled_start"] or "", j["id"]))


def records_of(agent: Agent, job_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of a job, by type, each with its id, author and whether it was voided."""
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in RECORD_TYPES}
    for entity in RECORD_TYPES:
        for eid in agent.replica.entity_ids(entity):
            record = agent.replica.entity(entity, eid)
            if record and record.get("value", {}).get("job_id") == job_id:
                found[entity].append({"id": eid, **record["value"], "voided": record["voided"], "by": record["by"]})
    return found


def _record(agent: Agent, entity: str, eid: Any) -> dict[str, Any]:
    """A record of the local replica; empty when not here or deleted."""
    found = agent.replica.entity(entity, eid) if isinstance(eid, str) and eid else {}
    return {} if not found or found.get("_deleted") else found


def sla_targets(agent: Agent, ticket: dict[str, Any]) -> dict[str, Any]:
    """The SLA the ticket is held to, by the hub's own rule (:func:`schema.sla_terms.build`: the
    seed table or the one the contract's overrides name, then the contract's SLA policy, then its
    overrides) applied to the contract and policy in the local replica. ``targets`` gives minutes
    per clock at the ticket's priority; None is no commitment on that clock."""
    # The hub's SLA engine writes, in ticket.sla, the priority whose targets apply: the one before
    # any raise a breach made (raising calls for attention; it does not move the clocks' targets).
    held = ticket.get("sla")
    given = held.get("priority") if isinstance(held, dict) and held.get("priority") else ticket.get("priority")
    priority = given if isinstance(given, str) and given in PRIORITIES else "Medium"
    contract = _record(agent, "contract", ticket.get("contract_id"))
    policy = _record(agent, "sla_policy", contract.get("sla_policy_id"))
    terms = build(policy or None, contract.get("sla_overrides"), contract.get("sla_policy_id"))
    running = clocks_of(terms, priority)  # the clocks the hub runs for this ticket
    found: dict[str, Any] = {
        "source": terms.source, "policy_name": policy.get("name"), "priority": priority,
        "calendar": terms.calendar.spec, "targets": {clock: running.get(clock) for clock in SLA_CLOCKS},
    }
    if terms.problems:
        found["problems"] = list(terms.problems)
    return found


CLOCK_WORDS = {"response": "respond", "onsite": "on site", "resolution": "resolve"}


def sla_summary(sla: dict[str, Any]) -> str:
    """One line of :func:`sla_targets` for the job card: where the terms come from, the calendar
    the minutes count in and each clock's target at the ticket's priority."""
    source = f"policy {sla['policy_name']}, {sla['source']}" if sla.get("policy_name") else sla["source"]
    clocks = [f"{CLOCK_WORDS.get(clock, clock)} " + (f"{minutes} min" if minutes else "— no commitment")
              for clock, minutes in sla["targets"].items()]
    return f"SLA for {sla['priority']} ({source}; calendar {sla['calendar']}): {', '.join(clocks)}"


def job_card(agent: Agent, job_id: str) -> dict[str, Any]:
    """Everything the technician needs on site: the job, the work, the customer and place, the
    asset and its service history, the SLA targets, the checklist and what has been recorded."""
    replica = agent.replica
    job = replica.entity("job", job_id)
    if not job:
        raise KeyError(job_id)
    work_order = replica.entity("work_order", job.get("work_order_id", "")) if job.get("work_order_id") else {}
    ticket = replica.entity("ticket", job.get("ticket_id", "")) if job.get("ticket_id") else {}
    customer = replica.entity("customer", ticket["customer_id"]) if ticket.get("customer_id") else {}
    site = replica.entity("site", ticket["site_id"]) if ticket.get("site_id") else {}
    asset = replica.entity("asset", ticket["asset_id"]) if ticket.get("asset_id") else {}
    records = records_of(agent, job_id)
    done_steps = {r["step_id"]: r for r in records["checklist_step"] if not r["voided"]}
    checklist = [{**step, "done": done_steps.get(step["step_id"], {}).get("done", False)}
                 for step in work_order.get("checklist", [])]
    return {
        "id": job_id, "job": job, "work_order": work_order, "ticket": ticket, "customer": customer, "site": site,
        "asset": {**asset, "history": asset_history(agent, ticket.get("asset_id"), job_id)} if asset else {},
        "sla": sla_targets(agent, ticket) if ticket else {}, "checklist": checklist, "records": records,
        "conflicts": replica.conflicts("job", job_id),
    }


# Visits that happened: the equipment's service history is what was found and done on them.
_VISITED = {"completed", "problem"}


def asset_history(agent: Agent, asset_id: str | None, except_job: str) -> list[dict[str, Any]]:
    """The asset's other jobs: its service history first (visits that happened, latest first),
    then those still open on it (a colleague due on the same equipment), marked ``open``."""
    if not asset_id:
        return []
    replica = agent.replica
    visited, still_open = [], []
    for job_id in replica.entity_ids("job"):
        if job_id == except_job:
            continue
        job = replica.entity("job", job_id)
        ticket = replica.entity("ticket", job.get("ticket_id", "")) if job.get("ticket_id") else {}
        if ticket.get("asset_id") != asset_id or job.get("status") == "cancelled":
            continue
        parts = [{"sku": r["sku"], "qty": r["qty"]}
                 for r in records_of(agent, job_id)["part_usage"] if not r["voided"]]
        status = job.get("status") or JOB.initial  # a job nobody has moved yet
        entry = {"job": job_id, "status": status, "title": ticket.get("title"),
                 "opened_at": ticket.get("opened_at"), "notes": job.get("completion_notes"), "parts": parts,
                 "open": status not in _VISITED}
        (still_open if entry["open"] else visited).append(entry)
    visited.sort(key=lambda entry: entry["opened_at"] or "", reverse=True)
    return visited + still_open


def conflict_line(conflict: dict[str, Any]) -> str:
    """A conflict kept, as a technician reads it: what was not applied, what stands, and why."""
    field = conflict["field"] or "record"
    if conflict.get("winner") is None:
        # A status move the job's state machine could not take, or a record kept apart.
        return (f"{field}: {conflict['value']!r} (by {conflict['op']}) was kept but not applied — "
                f"{conflict['detail']}")
    return (f"{field}: {conflict['value']!r} (by {conflict['op']}) and {conflict['winner_value']!r} "
            f"(by {conflict['winner']}, which stands) — {conflict['detail']}")
