"""Field types shared by several entities."""

from marshmallow import fields, validate

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


def when(**kwargs) -> fields.AwareDateTime:
    """A timezone-aware instant, ISO 8601 ("2026-11-27T09:30:00+00:00")."""
    return fields.AwareDateTime(**kwargs)


def sha256(**kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be a lowercase hex SHA-256"),
                         **kwargs)
