"""The billing engine and its office routes.

The engine brings the invoices in line with the merged state at ``now_ms``: T&M and warranty
tickets drafted when resolved, fixed-fee and retainer periods when they end, milestones when
approved, per-visit fees when a visit completes — with late work on supplementary invoices and
voided work on credit notes (the rules: ``hub.billing``). A second run writes nothing.

Routes (permission ``service_management:billing``): list and read invoices; draft a ticket or a
contract period now (or preview the draft); approve, send, mark paid, void; approve a milestone.
"""

from __future__ import annotations

from flask import Blueprint, g
from marshmallow import Schema, fields, validate

from ..auth import current_store
from ..billing import invoices
from ..office_http import doc, json_object, listing, office_required, ok, paging, query
from ..office_records import filterable, require, schema_of, select
from ..store import HubStore
from .planning import write_planned

BILLING = "service_management:billing"


class BillingEngine:
    name = "billing"

    def run(self, store: HubStore, now_ms: int) -> int:
        """Draft, rewrite, credit or void what the state at ``now_ms`` calls for; ops written."""
        return write_planned(store, lambda view: [invoices.build(view, now_ms).changes])


ENGINE = BillingEngine()

bp = Blueprint("office_billing", __name__, url_prefix="/api/v1")


class DraftSchema(Schema):
    """A ticket, or a contract (with a period for fixed-fee and retainer contracts)."""

    ticket_id = fields.String(validate=validate.Length(1, 128))
    contract_id = fields.String(validate=validate.Length(1, 128))
    period_start = fields.AwareDateTime()
    period_end = fields.AwareDateTime()


FILTERS = {name: spec for name in schema_of("invoice").fields
           if (spec := filterable("invoice", name)) is not None}


@bp.get("/invoices")
@office_required(BILLING)
@doc(tag="invoice", query=[*sorted(FILTERS), "after", "limit"], response=["Invoice"])
def list_invoices():
    """List invoices, filtered (contract, customer, ticket, status, kind, number...)."""
    store = current_store()
    wanted = query(FILTERS)
    after, limit = paging()
    with store.reading():
        rows = select(store, "invoice", wanted, after=after, limit=limit)
    return listing(rows, limit)


@bp.get("/invoices/draft")
@office_required(BILLING)
@doc(tag="invoice", query=sorted(DraftSchema().fields), response=["Invoice"])
def preview_draft():
    """What drafting a ticket or contract period now would put on its invoices (nothing written)."""
    store = current_store()
    request_ = query(DraftSchema().fields, paged=False)
    found = invoices.draft(store, store.now_ms(), request_, preview=True)
    return ok(found, count=len(found))


@bp.post("/invoices/draft")
@office_required(BILLING)
@doc(tag="invoice", body=DraftSchema, response=["Invoice"], status=201)
def create_draft():
    """Draft the invoice of a ticket or a contract period now, every billable line carried over."""
    store = current_store()
    request_ = DraftSchema().load(json_object())
    found = invoices.draft(store, store.now_ms(), request_)
    return ok(found, 201, count=len(found))


@bp.get("/invoices/<eid>")
@office_required(BILLING)
@doc(tag="invoice", response="Invoice")
def read_invoice(eid: str):
    """One invoice with its lines."""
    store = current_store()
    with store.reading():
        return ok(require(store, "invoice", eid))


@bp.post("/invoices/<eid>/approve")
@office_required(BILLING)
@doc(tag="invoice", response="Invoice")
def approve_invoice(eid: str):
    """Approve a draft (needed before sending when above the contract's approval threshold)."""
    store = current_store()
    return ok(invoices.approve(store, store.now_ms(), eid, g.user.name))


@bp.post("/invoices/<eid>/send")
@office_required(BILLING)
@doc(tag="invoice", response="Invoice")
def send_invoice(eid: str):
    """Send: the invoice gets its number, issue and due dates, and never changes again."""
    store = current_store()
    return ok(invoices.send(store, store.now_ms(), eid))


@bp.post("/invoices/<eid>/paid")
@office_required(BILLING)
@doc(tag="invoice", response="Invoice")
def pay_invoice(eid: str):
    """Record that a sent invoice was paid."""
    return ok(invoices.mark_paid(current_store(), eid))


@bp.post("/invoices/<eid>/void")
@office_required(BILLING)
@doc(tag="invoice", response="Invoice")
def void_invoice(eid: str):
    """Discard a draft or approved invoice (work still billable is drafted again)."""
    return ok(invoices.void(current_store(), eid))


@bp.post("/milestones/<eid>/approve")
@office_required(BILLING)
@doc(tag="invoice", response="Milestone")
def approve_milestone(eid: str):
    """Approve a project milestone now; its invoice is drafted at once."""
    store = current_store()
    return ok(invoices.approve_milestone(store, store.now_ms(), eid))
