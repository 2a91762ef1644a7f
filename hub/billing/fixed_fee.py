"""Fixed fee: a flat amount per period, or per visit.

- ``period: monthly`` (the default) or ``quarterly``: ``fixed_fee`` for each calendar period the
  contract runs in, invoiced when the period ends (``periods.contract_periods``); unit
  ``period:<contract>:<first day>``.
- ``period: per_visit``: a fee for each completed job (seed 002: "contract flat fee per visit /
  job type"): ``job_type_fees[<work order service type>]``, else ``fixed_fee``. Due as each job
  completes, on the invoice of its ticket; parts and hours are included in the fee.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .base import ContractBill, ContractWork, Line, Source, UnitBill, unit_for
from .money import pct_of, priced
from .periods import contract_periods, iso, label, period_key
from .work import jobs_of, per_ticket


def fee_line(work: ContractWork, source: Source, description: str, fee: Decimal, order: tuple) -> Line:
    currency = work.terms.currency
    qty, price, amount = priced(Decimal(1), fee, currency)
    return Line(source, description[:500], qty, "ea", price, amount, pct_of(amount, work.terms.discount_pct, currency),
                order=order)


def per_period(work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
    period = work.terms.period if work.terms.period in ("monthly", "quarterly") else "monthly"
    bill = ContractBill()
    for start, end, ended in contract_periods(work.contract, period, now):
        key = period_key(work.contract_id, start)
        unit = unit_for(work, f"period:{key}", period_start=iso(start), period_end=iso(end))
        source = ("period", key)
        fee = work.terms.fixed_fee
        if fee is None or not (ended or opened(unit.key)):
            bill.bills.append(UnitBill(unit, [], {source}))
            continue
        title = work.contract.get("title") or "contract"
        bill.bills.append(UnitBill(unit, [fee_line(work, source, f"Fixed fee, {label(start, period)}: {title}", fee,
                                                   (0, key))]))
    return bill


def per_visit(work: ContractWork, opened: Callable[[str], bool]) -> ContractBill:
    def lines_of(ticket_id: str) -> tuple[list[Line], set[Source]]:
        lines: list[Line] = []
        later: set[Source] = set()
        for job_id in jobs_of(work, ticket_id):
            job = work.jobs[job_id]
            if job.get("status") == "cancelled":
                continue
            order = work.work_orders.get(job.get("work_order_id") or "", {})
            kind = order.get("service_type") or "repair"
            fee = work.terms.job_type_fees.get(kind, work.terms.fixed_fee)
            if job.get("status") != "completed" or fee is None:
                later.add(("visit", job_id))
                continue
            lines.append(fee_line(work, ("visit", job_id), f"Fixed fee per visit ({kind.replace('_', ' ')}), "
                                  f"job {job_id}", fee, (0, job_id)))
        return lines, later

    return per_ticket(work, opened, lines_of, due_at_once=True)


class FixedFee:
    contract_type = "fixed_fee"
    uses_price_list = False

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        if work.terms.period == "per_visit":
            return per_visit(work, opened)
        return per_period(work, now, opened)


MODEL = FixedFee()
