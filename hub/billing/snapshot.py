"""Reading what billing needs from the hub store: contracts with their work, and the invoices.

The only module of the package that touches the store; everything it returns is plain data
(office views), read through the ``links`` index so a contract's work is found without scanning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..device_time import DeviceOffsets, iso, parse_instant
from ..office_records import view
from ..store import HubStore
from .base import ContractWork, Terms
from .plan import ISSUED


def _views(store: HubStore, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for eid in sorted(set(ids)):
        record = view(store, entity, eid)
        if record is not None:
            found[eid] = record
    return found


def _corrected(store: HubStore, logs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Time logs with their start and end moved onto the hub's clock (the device's measured
    offset; see hub.device_time), the same correction the SLA engine applies: a tablet whose
    clock is slow bills the hours it really worked, in the period it really worked them."""
    offsets = DeviceOffsets(store)
    for eid, log in logs.items():
        register = store.replica.register("time_log", eid, "")
        record = register.record if register is not None else None
        if record is None or record.node == offsets.hub_node:
            continue
        for name in ("started_at", "ended_at"):
            if parse_instant(log.get(name)) is not None:
                log[name] = iso(offsets.business_time(record.node, log[name], record.hlc))
    return logs


def contract_work(store: HubStore, contract: dict[str, Any]) -> ContractWork:
    """The contract's tickets, their jobs and work orders, the jobs' time logs, part uses,
    check-ins and signatures, the catalogue items used, and the contract's milestones."""
    links = store.links
    cid = contract["id"]
    tickets = _views(store, "ticket", links.sources("ticket", "contract_id", [cid]))
    jobs = _views(store, "job", links.sources("job", "ticket_id", tickets))
    orders = _views(store, "work_order", (job["work_order_id"] for job in jobs.values() if job.get("work_order_id")))
    logs = _corrected(store, _views(store, "time_log", links.sources("time_log", "job_id", jobs)))
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


def issued_currencies(store: HubStore, contract_id: str) -> set[str]:
    """The currencies of the invoices a contract has issued (sent or paid)."""
    found = _views(store, "invoice", store.links.sources("invoice", "contract_id", [contract_id])).values()
    return {invoice["currency"] for invoice in found if invoice.get("status") in ISSUED}
