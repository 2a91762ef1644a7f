"""Milestone: each stage of a project is invoiced on its own when approved (seed 000:
installation complete £5,000, user acceptance testing £3,000, go-live and handover £2,000).

A milestone is due once its ``approved_at`` is set, on an invoice of its own (unit
``milestone:<id>``). Withdrawing the approval of a milestone already invoiced credits it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .base import ContractBill, ContractWork, UnitBill, unit_for
from .fixed_fee import fee_line
from .money import decimal


class Milestone:
    contract_type = "milestone"
    uses_price_list = False

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        bill = ContractBill()
        for stage in sorted(work.milestones, key=lambda m: (m.get("sequence") or 0, m["id"])):
            amount = decimal(stage.get("amount"))
            if not stage.get("approved_at") or amount is None:
                continue
            title = f"Milestone {stage.get('sequence')}: {stage.get('title')}"
            line = fee_line(work, ("milestone", stage["id"]), title, amount, (stage.get("sequence") or 0, stage["id"]))
            bill.bills.append(UnitBill(unit_for(work, f"milestone:{stage['id']}"), [line]))
        return bill


MODEL = Milestone()
