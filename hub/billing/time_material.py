"""Time & material: hours x rate + parts at contract price + call-out, less the contract discount.

- Labour: each billable time log rounded UP to the contract's minimum increment (see
  ``money.round_up_minutes``), at the labour rate; ``overtime`` logs at the overtime rate and
  ``travel`` logs at the travel rate (each falls back to the labour rate when not set).
  ``billable: false`` logs and the contract's non-billable categories are left out.
- Parts: each part use that stands, at the contract's part price (``work.part_prices``).
- Call-out: ``callout_fee`` once per job the technician went out on (reached the site).
- Discount: ``discount_pct`` of every line, rounded per line.
- Due when the ticket is resolved (seed 000), or after sign-off with ``bill_on: sign_off``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .base import ContractBill, ContractWork, Line, Source, Terms
from .money import hours, pct_of, priced
from .work import by_ticket, describe_log, jobs_of, logged_time, part_prices, per_ticket, standing_parts, was_visited


def rate_for(terms: Terms, category: str) -> Decimal | None:
    """The hourly rate of a time category: overtime and travel have their own, else labour."""
    if category == "overtime" and terms.overtime_rate is not None:
        return terms.overtime_rate
    if category == "travel" and terms.travel_rate is not None:
        return terms.travel_rate
    return terms.labour_rate


def charged(work: ContractWork, source: Source, description: str, qty: Decimal, unit: str, price: Decimal,
            order: tuple) -> Line:
    currency = work.terms.currency
    qty, price, amount = priced(qty, price, currency)
    return Line(source, description, qty, unit, price, amount, pct_of(amount, work.terms.discount_pct, currency),
                order=order)


def ticket_lines(work: ContractWork) -> Callable[[str], tuple[list[Line], set[Source]]]:
    logs = by_ticket(work, logged_time(work), lambda t: t.log.get("job_id"))
    parts = by_ticket(work, standing_parts(work), lambda p: p.get("job_id"))

    def lines_of(ticket_id: str) -> tuple[list[Line], set[Source]]:
        lines: list[Line] = []
        unpriced: set[Source] = set()
        for logged in logs.get(ticket_id, []):
            rate = rate_for(work.terms, logged.log.get("category") or "labour")
            if rate is None:
                unpriced.add(logged.source)
                continue
            lines.append(charged(work, logged.source, describe_log(logged), hours(logged.minutes_billed), "h", rate,
                                 (0, logged.started.isoformat(), logged.log["id"])))
        for part in parts.get(ticket_id, []):
            prices = part_prices(work, part["sku"])
            qty = Decimal(str(part["qty"]))
            if prices is None:
                unpriced.add(("part_usage", part["id"]))
                continue
            item = work.items[part["sku"]]
            name = f"{item.get('name') or part['sku']} ({part['sku']})"
            lines.append(charged(work, ("part_usage", part["id"]), name, qty, item.get("unit") or "ea", prices[0],
                                 (1, part.get("device_time") or "", part["id"])))
        fee = work.terms.callout_fee
        if fee:
            for job_id in jobs_of(work, ticket_id):
                if was_visited(work, job_id):
                    lines.append(charged(work, ("callout", job_id), f"Call-out, job {job_id}", Decimal(1), "ea",
                                         fee, (2, job_id)))
        return lines, unpriced

    return lines_of


class TimeMaterial:
    contract_type = "time_material"
    uses_price_list = True

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        return per_ticket(work, opened, ticket_lines(work))


MODEL = TimeMaterial()
