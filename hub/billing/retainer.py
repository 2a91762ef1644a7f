"""Retainer: a fee per period for a block of hours; hours beyond it at the overage rate.

Seed 000, at month end: invoice the retainer fee; hours used above the block are invoiced at the
overage rate (``overage_rate``, else ``labour_rate``); hours left unused follow ``carry_over``:

- ``use_it_or_lose_it`` (the default): nothing carries into the next period;
- ``rollover``: the unused hours carry into the next period, at most ``rollover_cap_hours``
  (no cap: all of them). Carried hours simply add to the next period's block.

Hours used are the contract's billable time logs (any category the contract bills, each rounded
UP to the increment like T&M) that *started* in the period. The whole chain is recomputed from
the contract's start every time, so a log synced late into an earlier month moves that month's
carry-over and every overage after it; each period's overage is an *adjustable* line, so a
change after sending lands on a supplementary invoice or a credit note for the difference.
What was used and carried per period is published in ``contract.billing_state["retainer"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .base import ContractBill, ContractWork, Line, UnitBill, unit_for
from .fixed_fee import fee_line
from .money import ZERO, hours, pct_of, priced, qty_text
from .periods import contract_periods, iso, label, period_key
from .work import logged_time


def _hours_text(minutes: Decimal) -> str:
    return qty_text(hours(minutes))


class Retainer:
    contract_type = "retainer"
    uses_price_list = False

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        terms, currency = work.terms, work.terms.currency
        period = terms.period if terms.period in ("monthly", "quarterly") else "monthly"
        block = (terms.retainer_hours or ZERO) * 60
        cap = terms.rollover_cap_hours * 60 if terms.rollover_cap_hours is not None else None
        rate = terms.overage_rate if terms.overage_rate is not None else terms.labour_rate
        logs = logged_time(work)
        bill, state = ContractBill(), {}
        carried_in = ZERO
        for start, end, ended in contract_periods(work.contract, period, now):
            key = period_key(work.contract_id, start)
            unit = unit_for(work, f"period:{key}", period_start=iso(start), period_end=iso(end))
            used = Decimal(sum(t.minutes_billed for t in logs if start <= t.started < end))
            available = block + carried_in
            over = max(ZERO, used - available)
            unused = max(ZERO, available - used)
            carried_out = ZERO
            if terms.carry_over == "rollover":
                carried_out = unused if cap is None else min(unused, cap)
            state[start.date().isoformat()] = {
                "period": label(start, period), "block_hours": _hours_text(block),
                "carried_in_hours": _hours_text(carried_in), "used_hours": _hours_text(used),
                "overage_hours": _hours_text(over), "carried_out_hours": _hours_text(carried_out), "closed": ended}
            carried_in = carried_out

            lines: list[Line] = []
            sources = {("period", key), ("retainer_overage", key)}
            name = label(start, period)
            if terms.retainer_fee is not None:
                lines.append(fee_line(work, ("period", key), f"Retainer, {name}: block of {_hours_text(block)} h",
                                      terms.retainer_fee, (0, key)))
            if rate is not None:
                qty, price, amount = priced(hours(over), rate, currency)
                lines.append(Line(("retainer_overage", key),
                                  f"Overage, {name}: {_hours_text(used)} h used of {_hours_text(available)} h "
                                  f"({_hours_text(block)} h block + {_hours_text(available - block)} h carried)",
                                  qty, "h", price, amount, pct_of(amount, terms.discount_pct, currency),
                                  adjustable=True, order=(1, key)))
            if ended or opened(unit.key):
                bill.bills.append(UnitBill(unit, lines, sources - {line.source for line in lines}))
            else:
                bill.bills.append(UnitBill(unit, [], sources))
        bill.state = {"retainer": state}
        return bill


MODEL = Retainer()
