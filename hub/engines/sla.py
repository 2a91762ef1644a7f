"""The SLA engine: each ticket's clocks (response, on-site, resolution), escalations, and the routes
that show them.

Each run, first, a ticket whose work is done is resolved (:mod:`.sla_lifecycle`). Then, for every
ticket: a VIP customer's ticket is made Critical (the office API does so when
it opens one; tickets that arrive otherwise — synced, imported, a customer made VIP later — are
caught here); the clocks are computed from the merged state (:mod:`.sla_status`); running clocks
past a threshold escalate (:mod:`.sla_escalation`); the picture is written to ``ticket.sla`` when
it differs from what the ticket holds. Then each contract's health lists its overdue tickets.

Pure of the state and ``now_ms``: a second run at the same instant writes nothing, and the picture
changes only at events (see :mod:`.sla_picture`), so a timer does not fill the log.

Routes (``/api/v1/sla``): ``GET /tickets`` (open tickets' live SLA, filterable), ``GET
/tickets/<id>``, ``GET /escalations`` and ``GET /report`` (:mod:`.sla_report`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from schema.business import ESCALATION_LEVELS, SLA_CLOCKS
from schema.common import PRIORITIES
from sync.ops import SET

from .. import office_records
from ..auth import current_store
from ..office_http import READ, doc, listing, office_required, ok, paging, query
from ..store import HubStore
from . import sla_lifecycle, sla_report
from .planning import write_planned
from .sla_escalation import CLOSED, escalate, health_changes
from .sla_picture import STATES
from .sla_status import Context, TicketSla, evaluate, instant, tickets

REPORT = "service_management:report"


def vip_change(store: HubStore, ticket: dict[str, Any]) -> tuple[Any, ...] | None:
    """The op making a VIP customer's open ticket Critical, if it is not already."""
    if ticket.get("priority") == "Critical" or ticket.get("status") in CLOSED:
        return None
    customer_id = ticket.get("customer_id")
    customer = store.replica.entity("customer", customer_id) if isinstance(customer_id, str) else {}
    return ("ticket", ticket["id"], SET, "priority", "Critical") if customer.get("vip") is True else None


class SlaEngine:
    name = "sla"

    def run(self, store: HubStore, now_ms: int) -> int:
        """Resolve the tickets whose work is done (:mod:`.sla_lifecycle`), then bring priorities,
        escalations, ``ticket.sla`` and contract health in line with ``now_ms``."""
        resolved = write_planned(store, sla_lifecycle.plan)
        return resolved + write_planned(store, lambda view: plan(view, instant(now_ms)))


def plan(store: HubStore, now: Any) -> list[list[tuple[Any, ...]]]:
    """The ops that bring every ticket's priority, escalations and SLA picture, and every
    contract's health, in line with the state at ``now`` (nothing written): one unit per ticket,
    then the contracts' health."""
    context = Context(store)
    units: list[list[tuple[Any, ...]]] = []
    flagged: dict[str, set[str]] = defaultdict(set)
    for ticket in tickets(store):
        store.give_way()
        changes: list[tuple[Any, ...]] = []
        vip = vip_change(store, ticket)
        if vip is not None:
            changes.append(vip)
            ticket = {**ticket, "priority": "Critical"}
        status = evaluate(store, ticket, now, context)
        priority = {"now": ticket.get("priority") or "Medium"}
        for result in status.clocks.values():
            changes += escalate(store, ticket, status.facts.jobs, result, priority, status.escalations)
        picture = status.picture()
        if picture != ticket.get("sla"):
            changes.append(("ticket", ticket["id"], SET, "sla", picture))
        units.append(changes)
        contract_id = ticket.get("contract_id")
        if status.open and isinstance(contract_id, str) and any(
                result.overdue_reached for result in status.clocks.values()):
            flagged[contract_id].add(ticket["id"])
    units.append(health_changes(store, flagged))
    return units


ENGINE = SlaEngine()

bp = Blueprint("office_sla", __name__, url_prefix="/api/v1/sla")


def _row(status: TicketSla, now: Any) -> dict[str, Any]:
    ticket = status.ticket
    return {"id": ticket["id"], "title": ticket.get("title"), "status": ticket.get("status"),
            "priority": ticket.get("priority"), "customer_id": ticket.get("customer_id"),
            "contract_id": ticket.get("contract_id"), "opened_at": ticket.get("opened_at"), "sla": status.live(now)}


@bp.get("/tickets")
@office_required(READ)
@doc(tag="sla", query=["state", "clock", "priority", "customer_id", "after", "limit"])
def open_tickets():
    """The live SLA picture of open tickets, in id order; ``state`` (with ``clock``) filters."""
    wanted = query({"state": fields.String(validate=validate.OneOf(STATES)),
                    "clock": fields.String(validate=validate.OneOf(SLA_CLOCKS)),
                    "priority": fields.String(validate=validate.OneOf(PRIORITIES)),
                    "customer_id": fields.String(validate=validate.Length(1, 128))})
    after, limit = paging()
    store = current_store()
    rows = []
    with store.reading():
        now = instant(store.now_ms())
        context = Context(store)
        for ticket in tickets(store):
            if ticket["id"] <= after or ticket.get("status") in CLOSED:
                continue
            if any(ticket.get(name) != wanted[name] for name in ("priority", "customer_id") if name in wanted):
                continue
            status = evaluate(store, ticket, now, context)
            clocks = [status.clocks[wanted["clock"]]] if wanted.get("clock") in status.clocks else (
                [] if "clock" in wanted else list(status.clocks.values()))
            if not clocks or ("state" in wanted and all(result.state != wanted["state"] for result in clocks)):
                continue
            rows.append(_row(status, now))
            if len(rows) >= limit:
                break
    return listing(rows, limit)


@bp.get("/tickets/<eid>")
@office_required(READ)
@doc(tag="sla")
def ticket_sla(eid: str):
    """One ticket's live SLA picture (open or not) and its escalations."""
    store = current_store()
    with store.reading():
        ticket = office_records.require(store, "ticket", eid)
        now = instant(store.now_ms())
        row = _row(evaluate(store, ticket, now, Context(store)), now)
        row["escalations"] = office_records.select(store, "escalation", {"ticket_id": eid}, limit=100)
    return ok(row)


@bp.get("/escalations")
@office_required(READ)
@doc(tag="sla", query=["ticket_id", "clock", "level", "after", "limit"])
def escalations():
    """Escalation records (append-only), in id order, filtered by ticket, clock or level."""
    wanted = query({"ticket_id": fields.String(validate=validate.Length(1, 128)),
                    "clock": fields.String(validate=validate.OneOf(SLA_CLOCKS)),
                    "level": fields.String(validate=validate.OneOf(ESCALATION_LEVELS))})
    after, limit = paging()
    store = current_store()
    with store.reading():
        rows = office_records.select(store, "escalation", wanted, after=after, limit=limit)
    return listing(rows, limit)


@bp.get("/report")
@office_required(REPORT)
@doc(tag="sla", query=["from", "to", "tz"])
def report():
    """SLA compliance, mean first response by priority, and breaches by agent, hour and category,
    over the tickets opened from ``from`` to ``to`` (ISO dates or instants; default: the last 30 days)."""
    store = current_store()
    span = sla_report.ReportQuery().load(query(sla_report.QUERY_FIELDS, paged=False))
    with store.reading():
        found = sla_report.build(store, span, instant(store.now_ms()))
    return ok(found)
