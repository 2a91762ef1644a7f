"""What a technician records on site: immutable records, corrected by voids, never edited.

``device_time`` and the other instants are what the device's clock said; the hub corrects them by
the device's measured clock offset before any SLA uses them.
"""

from datetime import UTC, datetime

from marshmallow import ValidationError, fields, validate, validates_schema

from .base import EntitySchema
from .common import latitude, longitude, name, ref, sha256, text, when

STAGES = ("before", "during", "after", "document")
TIME_CATEGORIES = ("labour", "travel", "overtime", "training", "admin")
# Work logged before 2000 is a dead battery's clock (1970) or a year typed wrong (0001), never
# work to bill. The tablet refuses it as it is typed; this refuses it in a log sent any other way.
EARLIEST_WORK = datetime(2000, 1, 1, tzinfo=UTC)


class CheckEventSchema(EntitySchema):
    """GPS check-in on arrival, check-out on departure."""

    entity = "check_event"
    append_only = True
    job_id = ref(required=True)
    technician_id = ref(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(("in", "out")))
    lat = latitude(required=True)
    lon = longitude(required=True)
    accuracy_m = fields.Float(validate=validate.Range(0, 100_000), allow_none=True)
    device_time = when(required=True)


class TimeLogSchema(EntitySchema):
    entity = "time_log"
    append_only = True
    job_id = ref(required=True)
    technician_id = ref(required=True)
    started_at = when(required=True)
    ended_at = when(required=True)
    description = text(2000, load_default="")
    billable = fields.Boolean(load_default=True)
    category = fields.String(validate=validate.OneOf(TIME_CATEGORIES), load_default="labour")

    @validates_schema
    def _ends_after_start(self, data, **kwargs):
        if data["started_at"] < EARLIEST_WORK:
            raise ValidationError(f"must be in {EARLIEST_WORK.year} or later: a time before that is a clock "
                                  "set wrong or a typo, never work to bill", "started_at")
        if data["ended_at"] <= data["started_at"]:
            raise ValidationError("must be after started_at", "ended_at")
        if (data["ended_at"] - data["started_at"]).total_seconds() > 24 * 3600:
            raise ValidationError("a single time log may span at most 24 hours", "ended_at")


class PartUsageSchema(EntitySchema):
    entity = "part_usage"
    append_only = True
    job_id = ref(required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Decimal(as_string=True, required=True, validate=validate.Range(0, min_inclusive=False))
    location_id = ref(required=True)
    technician_id = ref(allow_none=True)
    note = text(500, load_default="")
    device_time = when(required=True)


class ChecklistStepSchema(EntitySchema):
    entity = "checklist_step"
    append_only = True
    job_id = ref(required=True)
    step_id = fields.String(required=True, validate=validate.Length(1, 64))
    done = fields.Boolean(required=True)
    note = text(2000, load_default="")
    device_time = when(required=True)


class AttachmentSchema(EntitySchema):
    """A photo or document. The bytes travel as a content-addressed blob; this is its record."""

    entity = "attachment"
    append_only = True
    job_id = ref(required=True)
    sha256 = sha256(required=True)
    size = fields.Integer(required=True, validate=validate.Range(1, 200 * 1024 * 1024))
    mime = fields.String(required=True, validate=validate.Regexp(r"^[a-z]+/[a-z0-9.+-]+$"))
    filename = text(255, load_default="")
    caption = text(500, load_default="")
    stage = fields.String(validate=validate.OneOf(STAGES), load_default="during")
    device_time = when(required=True)


class SignatureSchema(EntitySchema):
    """The customer's sign-off: who signed, the image, and the hash of the summary they saw."""

    entity = "signature"
    append_only = True
    job_id = ref(required=True)
    signer_name = name(required=True)
    image_sha256 = sha256(required=True)
    summary_sha256 = sha256(required=True)
    signed_at = when(required=True)
