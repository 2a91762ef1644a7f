"""Warranty: a zero invoice (seed 002: "$0 invoice; cost booked internally").

The customer's invoice lists the work at no charge — each billable time log (rounded like T&M)
and each part use, every line at 0.00 — and ``internal_cost`` books what it cost the business:

- labour at cost: the same billed hours x the contract's ``labour_rate``, which under a warranty
  contract states what an hour of a technician costs (no rate: labour costs 0.00);
- parts at ``unit_cost`` from the catalogue (never the sale price or a markup).

No call-out is charged or costed. Due like T&M: ticket resolved, or sign-off with ``bill_on``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .base import ContractBill, ContractWork, Line, Source
from .money import ZERO, hours, money, priced
from .work import by_ticket, describe_log, logged_time, part_prices, per_ticket, standing_parts


def ticket_lines(work: ContractWork) -> Callable[[str], tuple[list[Line], set[Source]]]:
    currency = work.terms.currency
    cost_rate = work.terms.labour_rate or ZERO
    free = money(ZERO, currency)
    logs = by_ticket(work, logged_time(work), lambda t: t.log.get("job_id"))
    parts = by_ticket(work, standing_parts(work), lambda p: p.get("job_id"))

    def lines_of(ticket_id: str) -> tuple[list[Line], set[Source]]:
        lines: list[Line] = []
        unpriced: set[Source] = set()
        for logged in logs.get(ticket_id, []):
            qty, _, cost = priced(hours(logged.minutes_billed), cost_rate, currency)
            lines.append(Line(logged.source, f"Warranty: {describe_log(logged)}"[:500], qty, "h", free, free, cost=cost,
                              order=(0, logged.started.isoformat(), logged.log["id"])))
        for part in parts.get(ticket_id, []):
            prices = part_prices(work, part["sku"])
            if prices is None:
                unpriced.add(("part_usage", part["id"]))
                continue
            qty, _, cost = priced(Decimal(str(part["qty"])), prices[1], currency)
            item = work.items[part["sku"]]
            name = f"Warranty: {item.get('name') or part['sku']} ({part['sku']})"
            lines.append(Line(("part_usage", part["id"]), name, qty, item.get("unit") or "ea", free, free, cost=cost,
                              order=(1, part.get("device_time") or "", part["id"])))
        return lines, unpriced

    return lines_of


class Warranty:
    contract_type = "warranty"
    uses_price_list = True

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        return per_ticket(work, opened, ticket_lines(work))


MODEL = Warranty()
