"""Tickets and work orders: how they are opened, and the ticket's two comment threads.

A ticket for a VIP customer is Critical whatever its issue (field service flow, stage 1); the SLA
clock starts at ``opened_at``, the hub's clock unless the caller says when the request came in;
a ticket with no contract named is linked to the customer's one active contract, from which it
inherits its SLA. A work order inherits its scope from the ticket when none is given.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, fields, validate

from sync.ops import APPEND

from . import office_records, timeline
from .auth import current_store
from .device_time import parse_instant
from .errors import ApiError
from .office_http import READ, WRITE, doc, json_object, new_id, office_required, ok
from .store import HubStore

bp = Blueprint("office_tickets", __name__, url_prefix="/api/v1")

# How far ahead of the hub's clock a ticket's opened_at may be: an office PC's clock a little fast.
OPENED_AHEAD_MS = 5 * 60 * 1000
# Fields of a ticket that must belong to the ticket's customer, and the entity each names.
OWNED = {"site_id": "site", "asset_id": "asset", "contract_id": "contract"}


def ownership_errors(store: HubStore, customer_id: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """Reasons a ticket's site, asset or contract is not the customer's (or the asset not on the site)."""
    errors = []
    for name, entity in OWNED.items():
        value = record.get(name)
        found = office_records.view(store, entity, value) if isinstance(value, str) else None
        if isinstance(value, str) and found is None:
            errors.append((name, f"no {entity} {value!r}"))
        elif isinstance(value, str) and found["customer_id"] != customer_id:
            errors.append((name, f"{value} is not a {entity} of customer {customer_id}"))
    asset = office_records.view(store, "asset", record["asset_id"]) if record.get("asset_id") else None
    if asset and record.get("site_id") and asset["site_id"] != record["site_id"]:
        errors.append(("asset_id", f"the asset is on site {asset['site_id']}, not {record['site_id']}"))
    return errors


def active_contract(store: HubStore, customer_id: str) -> str | None:
    """The customer's active contract when there is exactly one; with several, people choose."""
    active = [eid for eid in sorted(store.links.sources("contract", "customer_id", [customer_id]))
              if office_records.status_of(store, "contract", eid)[0] == "active"]
    return active[0] if len(active) == 1 else None


def create_ticket(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    """Open a ticket (see the module docstring for the rules applied); returns it and warnings."""
    data = {"opened_at": store.now_iso(), **data}
    record = office_records.validate("ticket", data)
    opened = parse_instant(record["opened_at"])
    if opened is not None and opened.timestamp() * 1000 > store.now_ms() + OPENED_AHEAD_MS:
        # An SLA clock that starts in the future would show a ticket as on time that is not yet open.
        raise ApiError(400, "a ticket cannot be opened in the future", [("opened_at", "later than the hub's clock")],
                       hint="leave opened_at out to open it now, or give when the customer called")
    warnings: list[str] = []
    with store.unit_of_work():
        office_records.check_references(store, {"customer_id": record["customer_id"]})
        customer = office_records.require(store, "customer", record["customer_id"])
        errors = ownership_errors(store, customer["id"], record)
        if errors:
            raise ApiError(400, "the ticket names records of another customer", errors)
        if customer["vip"] and record.get("priority") != "Critical":
            if "priority" in data:
                warnings.append(f"{customer['name']} is a VIP customer: priority {data['priority']} raised to Critical")
            record["priority"] = "Critical"
        if not record.get("contract_id"):
            contract = active_contract(store, customer["id"])
            if contract:
                record["contract_id"] = contract
        return office_records.create(store, "ticket", eid, record), warnings


def check_edit(store: HubStore, eid: str, changes: dict[str, Any]) -> None:
    """A ticket moved to another site, asset or contract must stay with its own customer's."""
    if not OWNED.keys() & changes.keys():
        return
    ticket = office_records.require(store, "ticket", eid)
    errors = ownership_errors(store, ticket["customer_id"], {**ticket, **changes})
    if errors:
        raise ApiError(400, "the ticket names records of another customer", errors)


def create_work_order(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    """Convert a ticket into a work order; the scope defaults to the ticket's description."""
    with store.unit_of_work():
        ticket_id = data.get("ticket_id")
        ticket = office_records.view(store, "ticket", ticket_id) if isinstance(ticket_id, str) else None
        if ticket is not None and "scope" not in data:
            data = {**data, "scope": ticket["description"] or ticket["title"]}
        record = office_records.validate("work_order", data)
        office_records.require_whole_pieces(store, record.get("parts_estimate") or [], "parts_estimate")
        if ticket is not None and ticket["status"] in ("closed", "cancelled"):
            raise ApiError(409, f"ticket {ticket_id} is {ticket['status']}", [("ticket_id", "the ticket is final")],
                           hint="reopen work on a new ticket")
        return office_records.create(store, "work_order", eid, record), []


def check_work_order_edit(store: HubStore, order_id: str, changes: dict[str, Any]) -> None:
    """An estimate's parts counted each are whole pieces, as at creation."""
    if changes.get("parts_estimate"):
        office_records.require_whole_pieces(store, changes["parts_estimate"], "parts_estimate")


class CommentSchema(Schema):
    visibility = fields.String(required=True, validate=validate.OneOf(("internal", "customer")))
    body = fields.String(required=True, validate=validate.Length(1, 5000))


def add_comment(store: HubStore, ticket_id: str, visibility: str, body: str, author: str,
                eid: str) -> dict[str, Any]:
    """Append a comment to one of the ticket's threads (internal notes, or customer-visible)."""
    record = office_records.validate("ticket_comment", {
        "ticket_id": ticket_id, "visibility": visibility, "body": body, "author": author,
        "written_at": store.now_iso(),
    })
    with store.unit_of_work():
        office_records.require(store, "ticket", ticket_id)
        store.write([("ticket_comment", eid, APPEND, "", record)])
        return office_records.require(store, "ticket_comment", eid)


@bp.get("/tickets/<eid>/comments")
@office_required(READ)
@doc(tag="ticket")
def comments(eid: str):
    """Both threads of a ticket (internal notes and customer-visible comments), oldest first."""
    store = current_store()
    with store.reading():
        office_records.require(store, "ticket", eid)
        found = timeline.comments(store, eid)
    return ok(found, count=len(found))


@bp.post("/tickets/<eid>/comments")
@office_required(WRITE)
@doc(tag="ticket", body=CommentSchema, status=201)
def comment(eid: str):
    """Add an internal note or a customer-visible comment to a ticket."""
    data = CommentSchema().load(json_object())
    created = add_comment(current_store(), eid, data["visibility"], data["body"], g.user.name, new_id())
    return ok(created, 201)
