"""Reading what billing needs from the hub store: contracts with their work, and the invoices.

The only module of the package that touches the store; everything it returns is plain data
(office views), read through the ``links`` index so a contract's work is found without scanning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..office_records import view
from ..store import HubStore
from .base import ContractWork, Terms


def _views(store: HubStore, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for eid in sorted(set(ids)):
        record = view(store, entity, eid)
        if record is not None:
            found[eid] = record
    return found


def contract_work(store: HubStore, contract: dict[str, Any]) -> ContractWork:
    """The contract's tickets, their jobs and work orders, the jobs' time logs, part uses,
    check-ins and signatures, the catalogue items used, and the contract's milestones."""
    links = store.links
    cid = contract["id"]
    tickets = _views(store, "ticket", links.sources("ticket", "contract_id", [cid]))
    jobs = _views(store, "job", links.sources("job", "ticket_id", tickets))
    orders = _views(store, "work_order", (job["work_order_id"] for job in jobs.values() if job.get("work_order_id")))
    logs = _views(store, "time_log", links.sources("time_log", "job_id", jobs))
    parts = _views(store, "part_usage", links.sources("part_usage", "job_id", jobs))
    checks = _views(store, "check_event", links.sources("check_event", "job_id", jobs))
    signatures = _views(store, "signature", links.sources("signature", "job_id", jobs))
    items = _views(store, "item", {part["sku"] for part in parts.values() if part.get("sku")})
    milestones = _views(store, "milestone", links.sources("milestone", "contract_id", [cid]))
    return ContractWork(
        contract=contract, terms=Terms.of(contract), tickets=tickets, jobs=jobs, work_orders=orders,
        time_logs=list(logs.values()), part_usages=list(parts.values()),
        visited_jobs={c["job_id"] for c in checks.values() if c.get("direction") == "in" and not c.get("voided")},
        signed_jobs={s["job_id"] for s in signatures.values() if not s.get("voided")},
        items=items, milestones=list(milestones.values()),
    )


def contracts(store: HubStore) -> list[dict[str, Any]]:
    """Every contract (views), in id order."""
    return list(_views(store, "contract", store.replica.entity_ids("contract")).values())


def invoices(store: HubStore) -> list[dict[str, Any]]:
    """Every invoice (views, void ones included), in id order."""
    return list(_views(store, "invoice", store.replica.entity_ids("invoice")).values())
