"""Who we serve and where: customer accounts, contacts, sites and the assets on them."""

from marshmallow import fields, validate

from .base import EntitySchema, lww
from .common import latitude, longitude, name, ref, text, when


class CustomerSchema(EntitySchema):
    entity = "customer"
    name = lww(name(required=True))
    # VIP accounts get the top priority on every ticket (field service flow, stage 1).
    vip = lww(fields.Boolean(load_default=False))
    email = lww(fields.Email(allow_none=True))
    phone = lww(text(40, allow_none=True))
    billing_address = lww(text(500, allow_none=True))
    currency = lww(fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"), load_default="GBP"))
    # Written by the engines: satisfaction, SLA breaches and repeat tickets folded into one score.
    health = lww(fields.Dict(allow_none=True))


class ContactSchema(EntitySchema):
    entity = "contact"
    customer_id = lww(ref(required=True))
    name = lww(name(required=True))
    email = lww(fields.Email(allow_none=True))
    phone = lww(text(40, allow_none=True))
    role = lww(text(80, allow_none=True))
    primary = lww(fields.Boolean(load_default=False))


class SiteSchema(EntitySchema):
    entity = "site"
    customer_id = lww(ref(required=True))
    name = lww(name(required=True))
    address = lww(text(500, required=True))
    lat = lww(latitude(allow_none=True))
    lon = lww(longitude(allow_none=True))
    access_notes = lww(text(1000, allow_none=True))


class AssetSchema(EntitySchema):
    """Equipment on a site. Its service history is every job that names it."""

    entity = "asset"
    customer_id = lww(ref(required=True))
    site_id = lww(ref(required=True))
    product = lww(name(required=True))
    serial = lww(text(120, required=True))
    model = lww(text(120, allow_none=True))
    installed_at = lww(when(allow_none=True))
    warranty_until = lww(when(allow_none=True))
