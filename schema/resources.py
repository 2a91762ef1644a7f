"""People and stock: technicians, stock locations (warehouses, vans), items and stock levels."""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import fields, validate

from .base import EntitySchema, counter, lww, status, tags
from .common import latitude, longitude, name, price, ref, text, when
from .machines import KIT
from .service import PartLineSchema

MOVE_REASONS = ("receipt", "kit_out", "kit_in", "usage", "count", "return", "adjustment")

# Units counted in whole pieces: half a pump is not a part. Items measured in m, kg, l... take
# fractions (1.5 m of cable).
WHOLE_UNITS = frozenset({"ea"})


def fraction_refused(item: Mapping[str, Any] | None, sku: str, amount: Any) -> str | None:
    """Why ``amount`` cannot be a quantity of ``item`` (the catalogue entry of ``sku``): a
    fraction of an item counted in whole pieces. None when it can, or when the item or the
    amount is unknown or not a number (other checks name those)."""
    if not item:
        return None
    try:
        number = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    unit = item.get("unit") or "ea"
    if unit not in WHOLE_UNITS or not number.is_finite() or number == number.to_integral_value():
        return None
    return f"{sku} is counted in whole pieces (unit {unit}): {amount} is not a whole number"


def pieces_refused(record: Mapping[str, Any], item: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(field, why) when a part use or a stock movement books a fraction of ``item``, counted
    each; else None. A count is judged by the figure counted: its adjustment may mend a fraction
    booked before this rule."""
    name = "counted" if record.get("reason") == "count" else "qty"
    why = fraction_refused(item, str(record.get("sku")), record.get(name))
    return (name, why) if why else None


class TechnicianSchema(EntitySchema):
    entity = "technician"
    name = lww(name(required=True))
    email = lww(fields.Email(allow_none=True))
    skills = tags(fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list))
    home_lat = lww(latitude(allow_none=True))
    home_lon = lww(longitude(allow_none=True))
    # {"mon": ["08:00", "17:00"], ...}; days left out are days off.
    working_hours = lww(fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True))
    van_id = lww(ref(allow_none=True))
    team_lead_id = lww(ref(allow_none=True))
    active = lww(fields.Boolean(load_default=True))


class StockLocationSchema(EntitySchema):
    entity = "stock_location"
    kind = lww(fields.String(required=True, validate=validate.OneOf(("warehouse", "van"))))
    name = lww(name(required=True))
    technician_ids = tags(fields.List(ref(), load_default=list))


class ItemSchema(EntitySchema):
    """A part in the catalogue; the entity id is its SKU."""

    entity = "item"
    name = lww(name(required=True))
    unit = lww(fields.String(validate=validate.Length(1, 20), load_default="ea"))
    unit_cost = lww(price(required=True))
    unit_price = lww(price(required=True))
    active = lww(fields.Boolean(load_default=True))


class StockSchema(EntitySchema):
    """The quantity of one SKU at one location; the entity id is ``<location_id>:<sku>``.

    ``on_hand`` is the sum of every movement's delta (counter), so two technicians taking parts
    from the same van offline both count, and neither overwrites the other.
    """

    entity = "stock"
    location_id = lww(ref(required=True))
    sku = lww(fields.String(required=True, validate=validate.Length(1, 64)))
    on_hand = counter(fields.Decimal(as_string=True))
    reserved = counter(fields.Decimal(as_string=True))


class StockMoveSchema(EntitySchema):
    """One movement in the stock ledger: the audit trail behind ``stock.on_hand``."""

    entity = "stock_move"
    append_only = True
    location_id = ref(required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Decimal(as_string=True, required=True)  # signed: + into the location, - out of it
    reason = fields.String(required=True, validate=validate.OneOf(MOVE_REASONS))
    job_id = ref(allow_none=True)
    kit_id = ref(allow_none=True)
    note = text(500, load_default="")
    device_time = when(required=True)
    # A hand-out names who took the parts: they leave the van then, not again when used on the job.
    technician_id = ref(allow_none=True)
    # A count names what the shelf held: the hub replays it where it was taken (its qty is only
    # what the terminal saw missing, which a use synced later makes wrong).
    counted = fields.Decimal(as_string=True, allow_none=True, validate=validate.Range(min=0))


class PartsKitSchema(EntitySchema):
    """Parts picked at a warehouse for a van (often for one job); the van's terminal receives it."""

    entity = "parts_kit"
    from_location_id = lww(ref(required=True))
    to_location_id = lww(ref(required=True))
    job_id = lww(ref(allow_none=True))
    lines = lww(fields.List(fields.Nested(PartLineSchema), required=True, validate=validate.Length(min=1)))
    note = lww(text(500, allow_none=True))
    status = status(fields.String(), KIT)
