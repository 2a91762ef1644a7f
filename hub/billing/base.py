"""What every billing model works with: the contract's terms, a snapshot of its work, and what
it answers — the lines due now in each billing unit, and the sources not due yet.

A *source* is what one line bills, named ``(source_entity, source_id)``: a time log, a part use,
a job's call-out or visit fee, a contract period, a retainer period's overage, a milestone. A
*unit* is what one invoice covers: a ticket (``ticket:<id>``), a contract period
(``period:<contract>:<first day>``) or a milestone (``milestone:<id>``).

Everything here is plain data: models are pure functions of a snapshot and the time, so the
same state gives the same bill however the work arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from .money import ZERO, decimal

Source = tuple[str, str]


@dataclass(frozen=True)
class Terms:
    """A contract's rates and billing terms, with the schema's defaults where left out."""

    currency: str = "GBP"
    labour_rate: Decimal | None = None
    overtime_rate: Decimal | None = None
    callout_fee: Decimal | None = None
    travel_rate: Decimal | None = None
    parts_markup_pct: Decimal | None = None
    discount_pct: Decimal | None = None
    payment_days: int = 30
    min_increment_min: int = 30
    fixed_fee: Decimal | None = None
    period: str | None = None
    retainer_fee: Decimal | None = None
    retainer_hours: Decimal | None = None
    overage_rate: Decimal | None = None
    carry_over: str | None = None
    rollover_cap_hours: Decimal | None = None
    approval_threshold: Decimal | None = None
    non_billable_categories: frozenset[str] = frozenset()
    bill_on: str = "ticket_resolved"
    job_type_fees: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, contract: dict[str, Any]) -> Terms:
        rates = contract.get("rates") or {}
        billing = contract.get("billing") or {}
        money_names = ("labour_rate", "overtime_rate", "callout_fee", "travel_rate", "parts_markup_pct",
                       "discount_pct")
        billing_money = ("fixed_fee", "retainer_fee", "retainer_hours", "overage_rate", "rollover_cap_hours",
                         "approval_threshold")
        return cls(
            currency=contract.get("currency") or "GBP",
            **{name: decimal(rates.get(name)) for name in money_names},
            **{name: decimal(billing.get(name)) for name in billing_money},
            payment_days=int(billing.get("payment_days", 30)),
            min_increment_min=int(billing.get("min_increment_min", 30)),
            period=billing.get("period"),
            carry_over=billing.get("carry_over"),
            non_billable_categories=frozenset(billing.get("non_billable_categories") or ()),
            bill_on=billing.get("bill_on") or "ticket_resolved",
            job_type_fees={kind: fee for kind, raw in (billing.get("job_type_fees") or {}).items()
                           if (fee := decimal(raw)) is not None},
        )


@dataclass
class ContractWork:
    """A snapshot of one contract and everything billed under it, read from the merged state.
    Records are office views: append-only ones carry ``voided``; others their ``status``."""

    contract: dict[str, Any]
    terms: Terms
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    work_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    time_logs: list[dict[str, Any]] = field(default_factory=list)
    part_usages: list[dict[str, Any]] = field(default_factory=list)
    visited_jobs: set[str] = field(default_factory=set)  # a check-in that stands (not voided)
    signed_jobs: set[str] = field(default_factory=set)  # a customer signature that stands
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    milestones: list[dict[str, Any]] = field(default_factory=list)

    @property
    def contract_id(self) -> str:
        return self.contract["id"]


@dataclass(frozen=True)
class Line:
    """One line a model says is due. ``amount`` and ``discount`` are already rounded.

    ``adjustable`` lines bill a quantity that may still change after the invoice is sent (a
    retainer period's overage hours): the difference goes on a supplementary invoice or a credit
    note. Every other source is billed once at the price of the day it was billed.
    """

    source: Source
    description: str
    qty: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    discount: Decimal = ZERO
    cost: Decimal | None = None
    adjustable: bool = False
    order: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Unit:
    """What one invoice covers, and the header every invoice of it carries."""

    key: str
    contract_id: str
    customer_id: str
    billing_model: str
    currency: str
    ticket_id: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    approval_threshold: Decimal | None = None


@dataclass
class UnitBill:
    unit: Unit
    due: list[Line] = field(default_factory=list)
    pending: set[Source] = field(default_factory=set)  # billable, but not due yet: never credited


@dataclass
class ContractBill:
    bills: list[UnitBill] = field(default_factory=list)
    state: dict[str, Any] | None = None  # the contract's billing_state (retainer carry-over), if kept


class BillingModel(Protocol):
    """One contract type's rules. ``opened(unit_key)`` says the office has started billing that
    unit early (an open draft exists, or a draft was asked for now): its work is due at once."""

    contract_type: str
    # Whether it bills parts at the price list's prices or costs (then the contract must be in the
    # price list's currency: see ``hub.billing.currency_problem``).
    uses_price_list: bool

    def bill(self, work: ContractWork, now: datetime, opened: Callable[[str], bool]) -> ContractBill:
        """Every unit of this contract known at ``now``, with its due lines and pending sources."""


def unit_for(work: ContractWork, key: str, **extra: Any) -> Unit:
    """A unit of this contract with the header taken from the contract."""
    return Unit(key=key, contract_id=work.contract_id, customer_id=work.contract.get("customer_id") or "",
                billing_model=work.contract.get("type") or "", currency=work.terms.currency,
                approval_threshold=work.terms.approval_threshold, **extra)
