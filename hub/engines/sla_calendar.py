"""SLA calendars: which minutes count toward an SLA target.

The calendars live in :mod:`schema.sla_terms` (pure, shared with the tablet's job card, which
reads a contract's terms by the same rule); this module keeps the hub's names for them.
"""

from __future__ import annotations

from schema.sla_terms import (
    COUNTRY_ZONES,
    DAY_NAMES,
    DEFAULT_SUBDIVISIONS,
    MAX_DAYS,
    AlwaysOn,
    BusinessHours,
    Calendar,
    CalendarError,
    parse,
)

__all__ = ["COUNTRY_ZONES", "DAY_NAMES", "DEFAULT_SUBDIVISIONS", "MAX_DAYS", "AlwaysOn", "BusinessHours", "Calendar",
           "CalendarError", "parse"]
