"""The customer portal (``/api/v1/portal``): a customer's own requests, and nothing else.

A portal user is a user created with a ``customer_id``. It sees only that customer's tickets — a
ticket of another customer answers 404 exactly as a missing one does, so ids cannot be probed —
only the customer-visible comment thread (never internal notes), and the visits (jobs) booked.
Reading needs ``service_management:read``; opening a request or commenting needs ``write``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, fields, validate

from schema.service import CATEGORIES

from . import office_records, timeline
from .auth import current_store
from .errors import ApiError
from .office_http import READ, WRITE, doc, json_object, listing, new_id, ok, paging, portal_required, query
from .office_tickets import add_comment, create_ticket
from .store import HubStore

bp = Blueprint("portal", __name__, url_prefix="/api/v1/portal")

# What a customer sees of a ticket: not the contract, the assignee, or anything internal.
TICKET_FIELDS = ("id", "title", "description", "status", "priority", "category", "channel", "opened_at",
                 "site_id", "asset_id")


class PortalRequestSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(load_default=None, validate=validate.Length(0, 5000))
    site_id = fields.String(load_default=None, validate=validate.Length(1, 128))
    asset_id = fields.String(load_default=None, validate=validate.Length(1, 128))
    category = fields.String(load_default="repair", validate=validate.OneOf(CATEGORIES))


class PortalCommentSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(1, 5000))


def _own_ticket(store: HubStore, eid: str) -> dict[str, Any]:
    ticket = office_records.view(store, "ticket", eid)
    if ticket is None or ticket["customer_id"] != g.user.customer_id:
        raise ApiError(404, f"no ticket {eid!r}", [("id", "no ticket of yours with this id")],
                       hint="list your requests with GET /api/v1/portal/tickets")
    return ticket


def _visits(store: HubStore, ticket_id: str) -> list[dict[str, Any]]:
    """The jobs booked for a ticket, with the technician's name (as the customer is told it)."""
    visits = []
    for eid in sorted(store.links.sources("job", "ticket_id", [ticket_id])):
        job = office_records.view(store, "job", eid)
        if job is None:
            continue
        technician = office_records.view(store, "technician", job["technician_id"]) if job["technician_id"] else None
        visits.append({"id": eid, "status": job["status"], "scheduled_start": job["scheduled_start"],
                       "scheduled_end": job["scheduled_end"], "technician": technician["name"] if technician else None})
    return visits


def _customer_comment(event: dict[str, Any]) -> dict[str, Any]:
    record = event["record"]
    return {"id": event["id"], "author": record["author"], "body": record["body"], "written_at": record["written_at"]}


def public(ticket: dict[str, Any]) -> dict[str, Any]:
    """What a customer may see of a ticket."""
    return {name: ticket[name] for name in TICKET_FIELDS}


@bp.get("/tickets")
@portal_required(READ)
@doc(tag="portal", query=["status", "after", "limit"])
def tickets():
    """The customer's own requests, oldest first."""
    store = current_store()
    wanted = query({"status": office_records.filterable("ticket", "status")})
    after, limit = paging()
    with store.reading():
        rows = office_records.select(store, "ticket", {"customer_id": g.user.customer_id, **wanted},
                                     after=after, limit=limit)
    return listing([public(row) for row in rows], limit)


@bp.get("/tickets/<eid>")
@portal_required(READ)
@doc(tag="portal")
def ticket(eid: str):
    """One of the customer's requests, its customer-visible comments and its visits."""
    store = current_store()
    with store.reading():
        found = public(_own_ticket(store, eid))
        found["comments"] = [_customer_comment(e) for e in timeline.comments(store, eid, customer_only=True)]
        found["visits"] = _visits(store, eid)
    return ok(found)


@bp.post("/tickets")
@portal_required(WRITE)
@doc(tag="portal", body=PortalRequestSchema, status=201)
def open_request():
    """Open a service request: a ticket on the portal channel, for the customer's own site or asset."""
    store = current_store()
    data = PortalRequestSchema().load(json_object())
    record = {name: value for name, value in data.items() if value is not None}
    created, _ = create_ticket(store, {**record, "customer_id": g.user.customer_id, "channel": "portal"}, new_id())
    response, status = ok(public(created), 201)
    response.headers["Location"] = f"{request.path}/{created['id']}"
    return response, status


@bp.post("/tickets/<eid>/comments")
@portal_required(WRITE)
@doc(tag="portal", body=PortalCommentSchema, status=201)
def comment(eid: str):
    """Add a comment to one of the customer's requests (the customer-visible thread)."""
    store = current_store()
    data = PortalCommentSchema().load(json_object())
    with store.reading():
        _own_ticket(store, eid)
    created = add_comment(store, eid, "customer", data["body"], g.user.name, new_id())
    return ok({"id": created["id"], "author": created["author"], "body": created["body"],
               "written_at": created["written_at"]}, 201)
