"""Money and quantities: Decimal in memory, decimal strings on the wire, never float.

Rounding rule — an invoice line shows a quantity, a unit price and an amount, and the customer
checks that quantity x unit price = amount, so the amount is computed from exactly what is shown:

- the quantity is shown to 4 places (20 minutes = 0.3333 h) and charged as shown;
- the unit price is shown and charged as agreed, to 6 places at most — never rounded to the
  currency's minor unit first (87.333/h stays 87.333, 0.0125 each stays 0.0125: rounded to 0.01,
  1000 of them would bill 10.00 instead of 12.50), and never shown with fewer places than the
  currency has (12.50, 8500 JPY);
- the amount is quantity x unit price, rounded once, half up, to the currency's minor unit (2
  places for GBP, EUR, USD...; 0 for JPY; 3 for KWD...); a line's discount is rounded the same way,
  and an invoice's totals are sums of rounded lines, so the same work billed on one invoice or
  split over several adds up to the same pennies.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MINUTES_PER_HOUR = Decimal(60)
# ISO 4217 minor units that are not 2; every other currency has two decimal places.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
               "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3}
QTY_PLACES = Decimal("0.0001")
# Finer than any rate or price people agree (0.0125 each, 87.333/h), so an agreed price is kept
# whole, while a computed one (cost-plus) gets a fixed number of places the customer can multiply.
PRICE_PLACES = Decimal("0.000001")


def decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    """A Decimal from a wire value (string or int); ``default`` when absent or unreadable."""
    if value is None or value == "" or isinstance(value, float | bool):
        return default
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return default
    return found if found.is_finite() else default


def amount_of(value: Any) -> Decimal:
    """A Decimal from a wire value, zero when absent or unreadable."""
    found = decimal(value)
    return ZERO if found is None else found


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def money(value: Decimal, currency: str) -> Decimal:
    """``value`` rounded half-up to the currency's minor unit (and never a negative zero)."""
    rounded = value.quantize(quantum(currency), rounding=ROUND_HALF_UP)
    return rounded + 0 if rounded.is_zero() else rounded


def money_text(value: Decimal, currency: str) -> str:
    return str(money(value, currency))


def unit_price(value: Decimal, currency: str) -> Decimal:
    """A unit price as shown and charged: to 6 places at most, at least the currency's minor unit."""
    rounded = value.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP).normalize()
    places = max(MINOR_UNITS.get(currency, 2), -int(rounded.as_tuple().exponent))
    shown = rounded.quantize(Decimal(1).scaleb(-places))
    return shown + 0 if shown.is_zero() else shown


def price_text(value: Decimal, currency: str) -> str:
    return format(unit_price(value, currency), "f")


def priced(qty: Decimal, price: Decimal, currency: str) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, unit price, amount) of a line, each as shown: the amount is the shown quantity
    times the shown unit price, rounded once (the module's rounding rule)."""
    shown_qty = qty.quantize(QTY_PLACES, rounding=ROUND_HALF_UP)
    shown_price = unit_price(price, currency)
    return shown_qty, shown_price, money(shown_qty * shown_price, currency)


def qty_text(value: Decimal) -> str:
    """A quantity as a plain decimal string: ``1.5``, ``2``, ``0.3333`` (never ``1E+2``)."""
    rounded = value.quantize(QTY_PLACES, rounding=ROUND_HALF_UP).normalize()
    text = format(rounded, "f")
    return "0" if text in ("-0", "0") else text


def round_up_minutes(seconds: Decimal, increment_min: int) -> int:
    """Minutes billed for a span: rounded UP to the next whole increment (30 min: 1h10m -> 90 min,
    30m00s -> 30 min, 30m01s -> 60 min). Each time log is rounded on its own."""
    steps = (seconds / (increment_min * 60)).to_integral_value(rounding=ROUND_CEILING)
    return int(steps) * increment_min


def hours(minutes: int | Decimal) -> Decimal:
    return Decimal(minutes) / MINUTES_PER_HOUR


def pct_of(amount: Decimal, pct: Decimal | None, currency: str) -> Decimal:
    """``pct`` percent of ``amount``, rounded like any amount (zero when no percentage)."""
    if not pct:
        return ZERO
    return money(amount * pct / HUNDRED, currency)
