"""What the technician reads on the tablet, from the local replica alone (works offline)."""

from __future__ import annotations

from typing import Any

from schema.sla_defaults import DEFAULT_TABLE, TABLES

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


def sla_targets(agent: Agent, ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket's targets: its contract's SLA policy, else the default table of the seeds."""
    priority = ticket.get("priority") or "Medium"
    contract = agent.replica.entity("contract", ticket["contract_id"]) if ticket.get("contract_id") else {}
    policy = agent.replica.entity("sla_policy", contract["sla_policy_id"]) if contract.get("sla_policy_id") else {}
    if policy.get("targets"):
        return {"source": f"policy {policy.get('name', contract['sla_policy_id'])}", "priority": priority,
                **policy["targets"].get(priority, {})}
    return {"source": f"default ({DEFAULT_TABLE})", "priority": priority, **TABLES[DEFAULT_TABLE][priority]}


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


def asset_history(agent: Agent, asset_id: str | None, except_job: str) -> list[dict[str, Any]]:
    if not asset_id:
        return []
    replica = agent.replica
    history = []
    for job_id in replica.entity_ids("job"):
        if job_id == except_job:
            continue
        job = replica.entity("job", job_id)
        ticket = replica.entity("ticket", job.get("ticket_id", "")) if job.get("ticket_id") else {}
        if ticket.get("asset_id") != asset_id:
            continue
        parts = [r for r in records_of(agent, job_id)["part_usage"] if not r["voided"]]
        history.append({"job": job_id, "status": job.get("status"), "title": ticket.get("title"),
                        "notes": job.get("completion_notes"), "parts": [(p["sku"], p["qty"]) for p in parts]})
    return history
