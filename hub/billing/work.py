"""The field work under a contract, read the way billing needs it: which time logs are billable
and for how many minutes, what a part costs and sells for, which jobs were visits, and when a
ticket's work becomes due. Shared by the models that bill per ticket (T&M, warranty, per visit)
and by the retainer, which counts hours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .base import ContractBill, ContractWork, Line, Source, Unit, UnitBill, unit_for
from .money import HUNDRED, decimal, round_up_minutes
from .periods import parse_instant

# Seed 000: "Ticket resolved" triggers T&M billing; a closed ticket was resolved first.
RESOLVED = frozenset({"resolved", "closed"})
# A job whose technician reached the site (the call-out happened).
VISITED = frozenset({"on_site", "completed", "problem"})


@dataclass(frozen=True)
class LoggedTime:
    log: dict[str, Any]
    started: datetime
    minutes_worked: Decimal
    minutes_billed: int

    @property
    def source(self) -> Source:
        return ("time_log", self.log["id"])


def logged_time(work: ContractWork) -> list[LoggedTime]:
    """The time logs that stand and are billable under the contract: not voided, flagged
    billable, in a category the contract bills. Each is rounded UP to the minimum increment on
    its own (see :func:`money.round_up_minutes`). Ordered by start time, then id."""
    found = []
    for log in work.time_logs:
        if log.get("voided") or log.get("billable") is False:
            continue
        if (log.get("category") or "labour") in work.terms.non_billable_categories:
            continue
        started, ended = parse_instant(log.get("started_at")), parse_instant(log.get("ended_at"))
        if started is None or ended is None or ended <= started:
            continue
        seconds = Decimal(str((ended - started).total_seconds()))
        found.append(LoggedTime(log, started, seconds / 60, round_up_minutes(seconds, work.terms.min_increment_min)))
    found.sort(key=lambda t: (t.started, t.log["id"]))
    return found


def standing_parts(work: ContractWork) -> list[dict[str, Any]]:
    """Part uses that stand (not voided), in the order they were recorded."""
    return sorted((p for p in work.part_usages if not p.get("voided")),
                  key=lambda p: (p.get("device_time") or "", p["id"]))


def part_prices(work: ContractWork, sku: str) -> tuple[Decimal, Decimal] | None:
    """(unit sale price, unit cost) of a catalogue item; None if the SKU is not priced yet.

    With ``parts_markup_pct`` set the contract prices parts cost-plus: unit_cost x (1 + markup%)
    *replaces* the list price (a markup on top of the list price would charge the margin twice);
    markup 0 bills at cost (seed 000: "parts x unit cost"). Without it, the item's unit_price
    (seed 002: "actual parts at listed price")."""
    item = work.items.get(sku)
    if item is None:
        return None
    cost, price = decimal(item.get("unit_cost")), decimal(item.get("unit_price"))
    if cost is None:
        return None
    markup = work.terms.parts_markup_pct
    if markup is not None:
        return cost * (1 + markup / HUNDRED), cost
    return (price, cost) if price is not None else None


def jobs_of(work: ContractWork, ticket_id: str) -> list[str]:
    return sorted(jid for jid, job in work.jobs.items() if job.get("ticket_id") == ticket_id)


def was_visited(work: ContractWork, job_id: str) -> bool:
    job = work.jobs[job_id]
    if job.get("status") == "cancelled":
        return False
    return job.get("status") in VISITED or job_id in work.visited_jobs


def triggered(work: ContractWork, ticket_id: str) -> bool:
    """Whether a ticket's work is due: when the ticket is resolved (seed 000, the default) or,
    with ``bill_on: sign_off``, once a job of it is signed off or completed (seed 002)."""
    if work.terms.bill_on == "sign_off":
        return any(jid in work.signed_jobs or work.jobs[jid].get("status") == "completed"
                   for jid in jobs_of(work, ticket_id))
    return work.tickets[ticket_id].get("status") in RESOLVED


def ticket_unit(work: ContractWork, ticket_id: str) -> Unit:
    ticket = work.tickets[ticket_id]
    unit = unit_for(work, f"ticket:{ticket_id}", ticket_id=ticket_id)
    if ticket.get("customer_id"):
        unit = Unit(**{**unit.__dict__, "customer_id": ticket["customer_id"]})
    return unit


def by_ticket(work: ContractWork, records: list[Any], job_of: Callable[[Any], str | None]) -> dict[str, list[Any]]:
    """Records grouped by the ticket of their job."""
    grouped: dict[str, list[Any]] = {}
    for record in records:
        job = work.jobs.get(job_of(record) or "")
        if job is not None and job.get("ticket_id") in work.tickets:
            grouped.setdefault(job["ticket_id"], []).append(record)
    return grouped


# (lines that can be priced, sources that cannot be priced yet) for one ticket.
TicketLines = Callable[[str], tuple[list[Line], set[Source]]]


def per_ticket(work: ContractWork, opened: Callable[[str], bool], lines_of: TicketLines,
               due_at_once: bool = False) -> ContractBill:
    """One unit per ticket. Its lines are due when the ticket's trigger fires (or the office opened
    billing early); before that they are pending. ``due_at_once`` leaves the trigger to the lines
    (per-visit fees are due as each visit completes)."""
    bill = ContractBill()
    for ticket_id in sorted(work.tickets):
        unit = ticket_unit(work, ticket_id)
        lines, unpriced = lines_of(ticket_id)
        if due_at_once or triggered(work, ticket_id) or opened(unit.key):
            bill.bills.append(UnitBill(unit, lines, set(unpriced)))
        else:
            bill.bills.append(UnitBill(unit, [], {line.source for line in lines} | set(unpriced)))
    return bill


def describe_log(logged: LoggedTime) -> str:
    log = logged.log
    ended = parse_instant(log.get("ended_at"))
    span = f"{logged.started:%d %b %Y %H:%M}-{ended:%H:%M}" if ended else f"{logged.started:%d %b %Y %H:%M}"
    worked = logged.minutes_worked.to_integral_value()
    category = (log.get("category") or "labour").capitalize()
    text = f"{category} {span} ({worked} min, billed {logged.minutes_billed} min)"
    if log.get("description"):
        text += f": {log['description']}"
    return text[:500]
