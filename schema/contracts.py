"""The commercial layer: SLA policies and service contracts."""

from marshmallow import Schema, fields, validate

from .base import EntitySchema, lww, status
from .common import PRIORITIES, name, percent, price, ref, text, when
from .machines import CONTRACT
from .sla_defaults import TABLES

CURRENCY_CODE = r"^[A-Z]{3}$"  # ISO 4217: three capital letters (GBP, EUR, JPY)

CONTRACT_TYPES = ("fixed_fee", "time_material", "retainer", "milestone", "warranty")


class TargetSchema(Schema):
    """Minutes allowed for each commitment at one priority."""

    response_min = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 60))
    onsite_min = fields.Integer(allow_none=True, validate=validate.Range(1, 60 * 24 * 60))
    resolution_min = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 120))


class TargetsSchema(Schema):
    Low = fields.Nested(TargetSchema, required=True)
    Medium = fields.Nested(TargetSchema, required=True)
    High = fields.Nested(TargetSchema, required=True)
    Critical = fields.Nested(TargetSchema, required=True)


class SlaPolicySchema(EntitySchema):
    entity = "sla_policy"
    name = lww(name(required=True))
    targets = lww(fields.Nested(TargetsSchema, required=True))
    # "24x7", or business hours in a named calendar (working days, hours, public holidays):
    # "business:GB" = Mon-Fri 09:00-17:00 Europe/London, England & Wales holidays; the full form
    # "business[:CC[-SUB]][;days=mon-fri][;hours=09:00-17:00][;tz=Area/City]" (hub/engines/sla_calendar.py).
    calendar = lww(fields.String(validate=validate.Length(1, 80), load_default="24x7"))
    near_breach_share = lww(fields.Float(validate=validate.Range(0.1, 0.99), load_default=0.75))
    # Overdue (second escalation, to the service manager) at this multiple of the target.
    overdue_multiple = lww(fields.Float(validate=validate.Range(1.01, 10), load_default=1.5))
    # When the resolution clock stops. The seeds disagree: the service management flow stops it
    # when the ticket is resolved (by the office, or by the hub once its last job is completed); the
    # field service flow when the first job of its work is completed.
    resolution_stops_at = lww(fields.String(validate=validate.OneOf(("ticket_resolved", "job_completed")),
                                            load_default="ticket_resolved"))


class TargetOverrideSchema(Schema):
    """The minutes a contract changes at one priority; those left out come from its policy."""

    response_min = fields.Integer(validate=validate.Range(1, 60 * 24 * 60))
    onsite_min = fields.Integer(allow_none=True, validate=validate.Range(1, 60 * 24 * 60))
    resolution_min = fields.Integer(validate=validate.Range(1, 60 * 24 * 120))


class SlaOverridesSchema(Schema):
    """A contract's own SLA terms over its policy (or the seed table it falls back to): only the
    priorities, minutes and settings named change."""

    table = fields.String(validate=validate.OneOf(tuple(TABLES)))
    Low = fields.Nested(TargetOverrideSchema)
    Medium = fields.Nested(TargetOverrideSchema)
    High = fields.Nested(TargetOverrideSchema)
    Critical = fields.Nested(TargetOverrideSchema)
    calendar = fields.String(validate=validate.Length(1, 80))
    near_breach_share = fields.Float(validate=validate.Range(0.1, 0.99))
    overdue_multiple = fields.Float(validate=validate.Range(1.01, 10))
    resolution_stops_at = fields.String(validate=validate.OneOf(("ticket_resolved", "job_completed")))


class RatesSchema(Schema):
    labour_rate = price(required=True)
    overtime_rate = price(allow_none=True)
    callout_fee = price(allow_none=True)
    travel_rate = price(allow_none=True)
    parts_markup_pct = price(allow_none=True)
    discount_pct = percent(allow_none=True)


class BillingTermsSchema(Schema):
    payment_days = fields.Integer(validate=validate.Range(0, 365), load_default=30)
    min_increment_min = fields.Integer(validate=validate.Range(1, 240), load_default=30)
    fixed_fee = price(allow_none=True)
    period = fields.String(validate=validate.OneOf(("monthly", "quarterly", "per_visit")), allow_none=True)
    retainer_fee = price(allow_none=True)
    retainer_hours = price(allow_none=True)
    overage_rate = price(allow_none=True)
    carry_over = fields.String(validate=validate.OneOf(("use_it_or_lose_it", "rollover")), allow_none=True)
    rollover_cap_hours = price(allow_none=True)
    approval_threshold = price(allow_none=True)
    non_billable_categories = fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list)
    # Seed 000 bills T&M when the ticket is resolved; seed 002 after the customer's sign-off.
    bill_on = fields.String(validate=validate.OneOf(("ticket_resolved", "sign_off")), load_default="ticket_resolved")
    # Fixed fee per visit by job type (work order service type); others pay ``fixed_fee``.
    job_type_fees = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)), values=price(), allow_none=True)


class ContractSchema(EntitySchema):
    entity = "contract"
    customer_id = lww(ref(required=True))
    title = lww(name(required=True))
    type = lww(fields.String(required=True, validate=validate.OneOf(CONTRACT_TYPES)))
    status = status(fields.String(), CONTRACT)
    sla_policy_id = lww(ref(allow_none=True))
    sla_overrides = lww(fields.Nested(SlaOverridesSchema, allow_none=True))
    currency = lww(fields.String(validate=validate.Regexp(CURRENCY_CODE), load_default="GBP"))
    rates = lww(fields.Nested(RatesSchema, allow_none=True))
    billing = lww(fields.Nested(BillingTermsSchema, allow_none=True))
    starts_at = lww(when(allow_none=True))
    ends_at = lww(when(allow_none=True))
    value = lww(price(allow_none=True))
    notes = lww(text(2000, allow_none=True))
    # Written by the engines: SLA overdue flags and billing state per period (retainer carry-over).
    health = lww(fields.Dict(allow_none=True))
    billing_state = lww(fields.Dict(allow_none=True))


class MilestoneSchema(EntitySchema):
    """A stage of a milestone contract, invoiced on approval."""

    entity = "milestone"
    contract_id = lww(ref(required=True))
    title = lww(name(required=True))
    amount = lww(price(required=True))
    sequence = lww(fields.Integer(validate=validate.Range(1, 1000), required=True))
    approved_at = lww(when(allow_none=True))


PRIORITY = validate.OneOf(PRIORITIES)
