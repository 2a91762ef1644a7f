"""Milestone: each stage of a project is invoiced on its own when approved (seed 000:
installation complete £5,000, user acceptance testing £3,000, go-live and handover £2,000).

A milestone is due once its ``approved_at`` is set, on an invoice of its own (unit
``milestone:<id>``). Withdrawing the approval of a milestone already invoiced credits it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from .base import ContractBill, ContractWork, Line, UnitBill, unit_for
from .money import decimal, money, pct_of


class Milestone:
    contract_type = "milestone"

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        currency = work.terms.currency
        bill = ContractBill()
        for stage in sorted(work.milestones, key=lambda m: (m.get("sequence") or 0, m["id"])):
            amount = decimal(stage.get("amount"))
            if not stage.get("approved_at") or amount is None:
                continue
            amount = money(amount, currency)
            line = Line(("milestone", stage["id"]), f"Milestone {stage.get('sequence')}: {stage.get('title')}"[:500],
                        Decimal(1), "ea", amount, amount, pct_of(amount, work.terms.discount_pct, currency),
                        order=(stage.get("sequence") or 0, stage["id"]))
            bill.bills.append(UnitBill(unit_for(work, f"milestone:{stage['id']}"), [line]))
        return bill


MODEL = Milestone()
