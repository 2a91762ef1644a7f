"""Field types shared by several entities."""

from datetime import UTC, datetime

from marshmallow import ValidationError, fields, validate

PRIORITIES = ("Low", "Medium", "High", "Critical")


def ref(**kwargs) -> fields.String:
    """An id of another entity (a time-ordered UUID string)."""
    return fields.String(validate=validate.Length(1, 128), **kwargs)


def text(limit: int = 200, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(0, limit), **kwargs)


def name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, 200), **kwargs)


def money(**kwargs) -> fields.Decimal:
    """Money travels as a decimal string ("12.50") and is a Decimal in memory, never a float."""
    return fields.Decimal(as_string=True, places=None, allow_nan=False, **kwargs)


def latitude(**kwargs) -> fields.Float:
    return fields.Float(validate=validate.Range(-90, 90), **kwargs)


def longitude(**kwargs) -> fields.Float:
    return fields.Float(validate=validate.Range(-180, 180), **kwargs)


# The instants a record may hold, in UTC: wide enough for equipment installed long ago, and far
# enough from the calendar's ends that reading one in UTC, or correcting it by a device's clock
# offset, cannot overflow (year 1 at +01:00 is year 0 in UTC, which Python cannot hold).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _within_calendar(value: datetime) -> None:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise ValidationError(f"must lie between {EARLIEST:%Y} and {LATEST:%Y} (UTC)")


def when(**kwargs) -> fields.AwareDateTime:
    """A timezone-aware instant, ISO 8601 ("2026-11-27T09:30:00+00:00")."""
    given = kwargs.pop("validate", None)
    checks = [_within_calendar, *([] if given is None else given if isinstance(given, list | tuple) else [given])]
    return fields.AwareDateTime(validate=checks, **kwargs)


def sha256(**kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be a lowercase hex SHA-256"),
                         **kwargs)
