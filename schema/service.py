"""The work: tickets, their comments, work orders and dispatch jobs (service trips)."""

from marshmallow import Schema, fields, validate

from .base import EntitySchema, lww, status, tags
from .common import PRIORITIES, name, ref, text, when
from .machines import JOB, TICKET, WORK_ORDER

CHANNELS = ("portal", "email", "phone", "manual", "chatbot", "agent")
CATEGORIES = ("installation", "repair", "preventive_maintenance", "warranty_claim", "inspection", "other")


class TicketSchema(EntitySchema):
    entity = "ticket"
    customer_id = lww(ref(required=True))
    contract_id = lww(ref(allow_none=True))
    site_id = lww(ref(allow_none=True))
    asset_id = lww(ref(allow_none=True))
    title = lww(name(required=True))
    description = lww(text(5000, allow_none=True))
    priority = lww(fields.String(validate=validate.OneOf(PRIORITIES), load_default="Medium"))
    channel = lww(fields.String(validate=validate.OneOf(CHANNELS), load_default="manual"))
    category = lww(fields.String(validate=validate.OneOf(CATEGORIES), load_default="repair"))
    assignee_id = lww(ref(allow_none=True))
    # The SLA clock starts here (set once, by whoever opened the ticket).
    opened_at = lww(when(required=True))
    status = status(fields.String(), TICKET)
    # Written by the SLA engine: each clock's target, due time, elapsed and state (met, running,
    # near breach, breached), so dispatchers and tablets see the same SLA picture.
    sla = lww(fields.Dict(allow_none=True))


class TicketCommentSchema(EntitySchema):
    """Internal notes and customer-visible comments: two threads, one record type."""

    entity = "ticket_comment"
    append_only = True
    ticket_id = ref(required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(("internal", "customer")))
    body = text(5000, required=True)
    author = name(required=True)
    written_at = when(required=True)


class PartLineSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Decimal(as_string=True, required=True, validate=validate.Range(0, min_inclusive=False))


class ChecklistItemSchema(Schema):
    step_id = fields.String(required=True, validate=validate.Length(1, 64))
    text = fields.String(required=True, validate=validate.Length(1, 500))
    required = fields.Boolean(load_default=True)


class WorkOrderSchema(EntitySchema):
    entity = "work_order"
    ticket_id = lww(ref(required=True))
    service_type = lww(fields.String(validate=validate.OneOf(CATEGORIES), load_default="repair"))
    scope = lww(text(5000, required=True))
    required_skills = tags(fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list))
    estimated_minutes = lww(fields.Integer(validate=validate.Range(1, 60 * 24 * 14), allow_none=True))
    parts_estimate = lww(fields.List(fields.Nested(PartLineSchema), load_default=list))
    checklist = lww(fields.List(fields.Nested(ChecklistItemSchema), load_default=list))
    status = status(fields.String(), WORK_ORDER)


class JobSchema(EntitySchema):
    """A dispatch job (service trip): one technician's visit to carry out a work order."""

    entity = "job"
    work_order_id = lww(ref(required=True))
    ticket_id = lww(ref(required=True))
    technician_id = lww(ref(allow_none=True))
    # Technicians who work the visit with the lead (a two-person job): they receive the job too.
    crew_ids = tags(fields.List(ref(), load_default=list))
    van_id = lww(ref(allow_none=True))
    scheduled_start = lww(when(allow_none=True))
    scheduled_end = lww(when(allow_none=True))
    completion_notes = lww(text(5000, allow_none=True))
    problem = lww(text(2000, allow_none=True))
    status = status(fields.String(), JOB)


class ChecklistTemplateSchema(EntitySchema):
    """A reusable checklist (e.g. an annual boiler service) copied into work orders."""

    entity = "checklist_template"
    name = lww(name(required=True))
    service_type = lww(fields.String(validate=validate.OneOf(CATEGORIES), load_default="preventive_maintenance"))
    steps = lww(fields.List(fields.Nested(ChecklistItemSchema), required=True, validate=validate.Length(min=1)))
