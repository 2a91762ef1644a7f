"""Field types shared by several entities."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate

PRIORITIES = ("Low", "Medium", "High", "Critical")


def ref(**kwargs) -> fields.String:
    """An id of another entity (a time-ordered UUID string)."""
    return fields.String(validate=validate.Length(1, 128), **kwargs)


def text(limit: int = 200, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(0, limit), **kwargs)


def name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, 200), **kwargs)


# Beyond a trillion a sum of money is a typing mistake ("1e30"), and rounding it to cents would
# overflow Decimal's 28 digits inside the billing engine.
MONEY_LIMIT = Decimal("1000000000000")


def _checks(first: Any, kwargs: dict[str, Any]) -> list[Any]:
    """``first`` and whatever ``validate`` the caller gave, as one list."""
    given = kwargs.pop("validate", None)
    return [first, *([] if given is None else given if isinstance(given, list | tuple) else [given])]


def money(**kwargs) -> fields.Decimal:
    """Money travels as a decimal string ("12.50") and is a Decimal in memory, never a float."""
    return fields.Decimal(as_string=True, places=None, allow_nan=False,
                          validate=_checks(validate.Range(-MONEY_LIMIT, MONEY_LIMIT), kwargs), **kwargs)


def price(**kwargs) -> fields.Decimal:
    """An amount charged, paid or agreed (a rate, a fee, a price): never below zero — money going
    back to a customer is a credit note, not a negative price."""
    return money(validate=_checks(validate.Range(min=0), kwargs), **kwargs)


def percent(**kwargs) -> fields.Decimal:
    """A share of an amount, 0 to 100 (a discount)."""
    return money(validate=_checks(validate.Range(0, 100), kwargs), **kwargs)


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
    return fields.AwareDateTime(validate=_checks(_within_calendar, kwargs), **kwargs)


def sha256(**kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be a lowercase hex SHA-256"),
                         **kwargs)
