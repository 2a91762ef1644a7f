"""What the hub's engines write: SLA escalations, stock exceptions and purchase requests,
invoices, surveys and follow-up tasks. Hub-authored ops like any other, so they replicate to the
devices whose scope includes them."""

from marshmallow import Schema, fields, validate

from .base import EntitySchema, lww, status
from .common import PRIORITIES, money, name, ref, text, when
from .machines import INVOICE, PURCHASE_REQUEST, SURVEY, TASK

SLA_CLOCKS = ("response", "onsite", "resolution")
ESCALATION_LEVELS = ("near_breach", "breached", "overdue")
INVOICE_KINDS = ("invoice", "supplementary", "credit_note")


class EscalationSchema(EntitySchema):
    """One escalation of one SLA clock of a ticket; written once, by the SLA engine."""

    entity = "escalation"
    append_only = True
    ticket_id = ref(required=True)
    clock = fields.String(required=True, validate=validate.OneOf(SLA_CLOCKS))
    level = fields.String(required=True, validate=validate.OneOf(ESCALATION_LEVELS))
    notify_role = fields.String(required=True, validate=validate.OneOf(("assignee", "team_lead", "service_manager")))
    notify_id = ref(allow_none=True)
    elapsed_min = fields.Float(required=True)
    target_min = fields.Float(required=True)
    at = when(required=True)
    note = text(500, load_default="")
    # A breach raises the ticket's priority one level: from what, to what (None when already Critical).
    priority_from = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(PRIORITIES))
    priority_to = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(PRIORITIES))


class StockExceptionSchema(EntitySchema):
    """Stock that went wrong: a van used more than it held, or parts came from another location."""

    entity = "stock_exception"
    append_only = True
    location_id = ref(required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Decimal(as_string=True, required=True)
    reason = fields.String(required=True, validate=validate.OneOf(("negative_stock", "other_location")))
    job_id = ref(allow_none=True)
    part_usage_id = ref(allow_none=True)
    at = when(required=True)


class PurchaseRequestSchema(EntitySchema):
    entity = "purchase_request"
    sku = lww(fields.String(required=True, validate=validate.Length(1, 64)))
    qty = lww(fields.Decimal(as_string=True, required=True))
    location_id = lww(ref(required=True))
    stock_exception_id = lww(ref(allow_none=True))
    note = lww(text(500, allow_none=True))
    # Set by the inventory engine when ops that arrived later show the stock never ran short.
    withdrawn = lww(fields.Boolean(load_default=False))
    status = status(fields.String(), PURCHASE_REQUEST)


class InvoiceLineSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(1, 500))
    qty = fields.Decimal(as_string=True, required=True)
    unit = fields.String(load_default="ea", validate=validate.Length(1, 20))
    unit_price = money(required=True)
    amount = money(required=True)
    # What this line bills (a time log, a part use, a period, a milestone): a source is billed once.
    source_entity = fields.String(allow_none=True, load_default=None)
    source_id = fields.String(allow_none=True, load_default=None)
    # The contract discount on this line, and (warranty) what the line cost the business.
    discount = money(load_default="0")
    cost = money(allow_none=True, load_default=None)


class InvoiceSchema(EntitySchema):
    """Authored by the hub only. Once sent it is never edited: later billable work goes on a
    supplementary invoice, voided work on a credit note."""

    entity = "invoice"
    number = lww(fields.String(allow_none=True, validate=validate.Length(1, 40)))
    kind = lww(fields.String(validate=validate.OneOf(INVOICE_KINDS), load_default="invoice"))
    contract_id = lww(ref(required=True))
    customer_id = lww(ref(required=True))
    ticket_id = lww(ref(allow_none=True))
    billing_model = lww(fields.String(required=True, validate=validate.Length(1, 40)))
    period_start = lww(when(allow_none=True))
    period_end = lww(when(allow_none=True))
    currency = lww(fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"), load_default="GBP"))
    lines = lww(fields.List(fields.Nested(InvoiceLineSchema), load_default=list))
    subtotal = lww(money(required=True))
    discount = lww(money(load_default="0"))
    total = lww(money(required=True))
    approval_required = lww(fields.Boolean(load_default=False))
    approved_by = lww(name(allow_none=True))
    issued_at = lww(when(allow_none=True))
    due_at = lww(when(allow_none=True))
    related_invoice_id = lww(ref(allow_none=True))  # what a supplementary invoice or credit note follows
    # Work billed at no charge (warranty) still has a cost the business books internally.
    internal_cost = lww(money(allow_none=True))
    # The billing unit it belongs to ("ticket:<id>", "period:<contract>:<start>", "milestone:<id>").
    billing_key = lww(fields.String(allow_none=True, validate=validate.Length(1, 200)))
    status = status(fields.String(), INVOICE)


class SurveySchema(EntitySchema):
    entity = "survey"
    kind = lww(fields.String(required=True, validate=validate.OneOf(("csat", "nps"))))
    customer_id = lww(ref(required=True))
    ticket_id = lww(ref(allow_none=True))
    job_id = lww(ref(allow_none=True))
    due_at = lww(when(required=True))
    sent_at = lww(when(allow_none=True))
    score = lww(fields.Integer(allow_none=True, validate=validate.Range(0, 10)))
    comment = lww(text(2000, allow_none=True))
    category = lww(fields.String(allow_none=True, validate=validate.OneOf(
        ("promoter", "passive", "detractor", "satisfied", "neutral", "dissatisfied"))))
    status = status(fields.String(), SURVEY)


class TaskSchema(EntitySchema):
    entity = "task"
    kind = lww(fields.String(required=True, validate=validate.Length(1, 40)))
    title = lww(name(required=True))
    customer_id = lww(ref(allow_none=True))
    subject_entity = lww(fields.String(allow_none=True))
    subject_id = lww(ref(allow_none=True))
    assignee_role = lww(fields.String(allow_none=True, validate=validate.Length(1, 40)))
    assignee_id = lww(ref(allow_none=True))
    due_at = lww(when(allow_none=True))
    status = status(fields.String(), TASK)
