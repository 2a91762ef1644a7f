"""The plan: which invoice ops make the invoices agree with what the models say is due.

The law it keeps: for every source, the lines of all non-void invoices (credit notes counting
negative) add up to exactly one billing of it while it is billable, and to nothing once it is not
— whatever order the work arrived in and however often this runs.

- *Issued* invoices (sent, paid) are never touched. What they bill, net of credit notes, is the
  ``billed`` ledger per source.
- A source due and not billed goes on its unit's open draft: the first invoice of the unit, or a
  *supplementary* invoice (``related_invoice_id``: the unit's first issued invoice) once one has
  been sent. An adjustable source (a retainer overage) billed for a different quantity gets the
  difference: a supplementary line if it grew, a credit line if it shrank.
- A source billed but no longer billable (its record voided, made non-billable, an approval
  withdrawn) is credited in full on an open *credit note* related to the invoice that billed it.
  Sources still billable but not due (a reopened ticket) are left alone.
- Open drafts (draft, approved) are rewritten to hold exactly that; an approved one whose figures
  change goes back to draft; one left with nothing to bill is voided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sync.ops import MOVE, SET

from .base import ContractBill, Line, Source, Terms, Unit
from .money import ZERO, amount_of, decimal, money_text, price_text, qty_text
from .numbering import invoice_id, number_of

ISSUED = frozenset({"sent", "paid"})
OPEN = frozenset({"draft", "approved"})
CHARGES = frozenset({"invoice", "supplementary"})
HEADER = ("kind", "contract_id", "customer_id", "ticket_id", "billing_model", "period_start", "period_end",
          "currency", "billing_key", "related_invoice_id")
Group = tuple[str, ...]  # ("charge", unit key) or ("credit", unit key, related invoice id)


@dataclass
class Billed:
    """What issued invoices bill for one source, net of credit notes."""

    qty: Decimal = ZERO
    amount: Decimal = ZERO
    discount: Decimal = ZERO
    cost: Decimal | None = None
    line: dict[str, Any] = field(default_factory=dict)  # the first line that billed it
    invoice: dict[str, Any] | None = None  # the first issued invoice that billed it

    @property
    def standing(self) -> bool:
        return self.qty != 0 or self.amount != 0


@dataclass
class Draft:
    """An invoice as the plan wants it: its header and lines (in wire form)."""

    header: dict[str, Any]
    threshold: Decimal | None
    lines: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        lines = [line for _, line in sorted(self.lines, key=lambda entry: entry[0])]
        currency = self.header["currency"]
        subtotal = sum((Decimal(line["amount"]) for line in lines), ZERO)
        discount = sum((Decimal(line["discount"]) for line in lines), ZERO)
        costs = [Decimal(line["cost"]) for line in lines if line.get("cost") is not None]
        total = subtotal - discount
        return {**self.header, "lines": lines, "subtotal": money_text(subtotal, currency),
                "discount": money_text(discount, currency), "total": money_text(total, currency),
                "internal_cost": money_text(sum(costs, ZERO), currency) if costs else None,
                "approval_required": self.threshold is not None and abs(total) > self.threshold}


@dataclass
class Plan:
    changes: list[tuple[Any, ...]]
    drafts: dict[str, dict[str, Any]]  # invoice id -> fields, for every open invoice after the plan


def wire_line(source: Source, description: str, qty: Decimal, unit: str, unit_price: Decimal, amount: Decimal,
              discount: Decimal, cost: Decimal | None, currency: str) -> dict[str, Any]:
    return {"description": description[:500], "qty": qty_text(qty), "unit": unit,
            "unit_price": price_text(unit_price, currency), "amount": money_text(amount, currency),
            "discount": money_text(discount, currency),
            "cost": money_text(cost, currency) if cost is not None else None,
            "source_entity": source[0], "source_id": source[1]}


def _order(line: Line) -> tuple[str, ...]:
    return (*(f"{part:06d}" if isinstance(part, int) else str(part) for part in line.order), *line.source)


def _issue_order(invoice: dict[str, Any]) -> tuple[Any, ...]:
    return (invoice.get("issued_at") or "", number_of(invoice.get("number")) or 0, invoice["id"])


class Ledger:
    """The invoices held, indexed: what issued ones bill per source, the open ones per group."""

    def __init__(self, invoices: Iterable[dict[str, Any]]) -> None:
        self.invoices = {invoice["id"]: invoice for invoice in invoices}
        self.billed: dict[Source, Billed] = {}
        self.open: dict[Group, list[dict[str, Any]]] = {}
        self.issued_charges: dict[str, list[dict[str, Any]]] = {}
        self._previews: dict[str, dict[str, Any]] = {}
        self._issued_currencies: dict[str, set[str]] = {}
        self.per_unit: Counter[str] = Counter(inv.get("billing_key") or "" for inv in self.invoices.values())
        for invoice in sorted(self.invoices.values(), key=_issue_order):
            status, kind, key = invoice.get("status"), invoice.get("kind") or "invoice", invoice.get("billing_key")
            if status in OPEN and key:
                group = ("charge", key) if kind in CHARGES else ("credit", key, invoice.get("related_invoice_id") or "")
                self.open.setdefault(group, []).append(invoice)
            if status not in ISSUED:
                continue
            self._issued_currencies.setdefault(invoice.get("contract_id") or "", set()).add(invoice.get("currency"))
            if kind in CHARGES and key:
                self.issued_charges.setdefault(key, []).append(invoice)
            for line in invoice.get("lines") or []:
                self._book(invoice, line)
        for members in self.open.values():
            members.sort(key=lambda inv: inv["id"])

    def _book(self, invoice: dict[str, Any], line: dict[str, Any]) -> None:
        if not line.get("source_entity") or not line.get("source_id"):
            return
        billed = self.billed.setdefault((line["source_entity"], line["source_id"]), Billed())
        qty = amount_of(line.get("qty"))
        billed.qty += qty
        billed.amount += amount_of(line.get("amount"))
        billed.discount += amount_of(line.get("discount"))
        cost = decimal(line.get("cost"))
        if cost is not None:
            billed.cost = (billed.cost or ZERO) + cost
        if billed.invoice is None and (invoice.get("kind") or "invoice") in CHARGES and qty > 0:
            billed.invoice, billed.line = invoice, line

    def issued_currencies(self, contract_id: str) -> set[str]:
        """The currencies of the invoices the contract has issued."""
        return self._issued_currencies.get(contract_id, set())

    def opener(self, forced: Iterable[str] = ()) -> Callable[[str], bool]:
        """``opened(unit key)`` for the models: the office asked for it now, or it has an open draft."""
        keys = set(forced) | {group[1] for group in self.open if group[0] == "charge"}
        return keys.__contains__

    def plan(self, bills: Iterable[tuple[dict[str, Any], ContractBill]], now_ms: int) -> Plan:
        """The ops that bring the invoices (and the contracts' billing_state) in line with ``bills``."""
        bills = list(bills)
        thresholds = {contract["id"]: Terms.of(contract).approval_threshold for contract, _ in bills}
        expected: dict[Source, tuple[Unit, Line]] = {}
        live: set[Source] = set()
        for _, contract_bill in bills:
            for unit_bill in contract_bill.bills:
                live |= unit_bill.pending
                if not unit_bill.unit.customer_id:  # cannot be invoiced to anyone yet
                    live |= {line.source for line in unit_bill.due}
                    continue
                for line in unit_bill.due:
                    expected.setdefault(line.source, (unit_bill.unit, line))
        drafts: dict[Group, Draft] = {}
        for source, (unit, line) in sorted(expected.items()):
            self._bill(drafts, source, unit, line, thresholds)
        for source, billed in sorted(self.billed.items()):
            if source not in expected and source not in live and billed.standing:
                self._credit(drafts, source, billed, thresholds, billed.qty, billed.amount, billed.discount,
                             billed.cost)
        changes = self._write(drafts, now_ms)
        for contract, contract_bill in bills:
            if contract_bill.state is not None:
                # A key set to None is taken out (a problem put right).
                wanted = {name: value for name, value in {**(contract.get("billing_state") or {}),
                                                          **contract_bill.state}.items() if value is not None}
                if wanted != contract.get("billing_state"):
                    changes.append(("contract", contract["id"], SET, "billing_state", wanted))
        return Plan(changes, self._previews)

    def _bill(self, drafts: dict[Group, Draft], source: Source, unit: Unit, line: Line,
              thresholds: dict[str, Decimal | None]) -> None:
        billed = self.billed.get(source)
        currency = unit.currency
        if billed is None or not billed.standing:
            if line.qty == 0 and line.amount == 0:
                return
            self._charge(drafts, unit).lines.append((_order(line), wire_line(
                source, line.description, line.qty, line.unit, line.unit_price, line.amount, line.discount,
                line.cost, currency)))
            return
        if not line.adjustable:
            return  # billed once, at the price of its day
        qty, amount, discount = line.qty - billed.qty, line.amount - billed.amount, line.discount - billed.discount
        if not (qty or amount or discount):
            return
        if amount > 0 or (amount == 0 and qty > 0):
            self._charge(drafts, unit).lines.append((_order(line), wire_line(
                source, f"{line.description} (adjustment)", qty, line.unit, line.unit_price, amount, discount,
                None, currency)))
        else:
            self._credit(drafts, source, billed, thresholds, -qty, -amount, -discount, None,
                         reason=f"{line.description} (adjustment)")

    def _charge(self, drafts: dict[Group, Draft], unit: Unit) -> Draft:
        group = ("charge", unit.key)
        if group not in drafts:
            issued = self.issued_charges.get(unit.key, [])
            header = {"kind": "supplementary" if issued else "invoice", "contract_id": unit.contract_id,
                      "customer_id": unit.customer_id, "ticket_id": unit.ticket_id,
                      "billing_model": unit.billing_model, "period_start": unit.period_start,
                      "period_end": unit.period_end, "currency": unit.currency, "billing_key": unit.key,
                      "related_invoice_id": issued[0]["id"] if issued else None}
            drafts[group] = Draft(header, unit.approval_threshold)
        return drafts[group]

    def _credit(self, drafts: dict[Group, Draft], source: Source, billed: Billed,
                thresholds: dict[str, Decimal | None], qty: Decimal, amount: Decimal, discount: Decimal,
                cost: Decimal | None, reason: str | None = None) -> None:
        """A credit line taking back ``qty``/``amount`` of ``source`` from the invoice that billed it."""
        related = billed.invoice
        if related is None:
            return  # only credit lines ever billed it: nothing to take back
        key = related.get("billing_key") or ""
        group = ("credit", key, related.get("id") or "")
        if group not in drafts:
            header = {name: related.get(name) for name in HEADER}
            header.update(kind="credit_note", related_invoice_id=related.get("id"))
            drafts[group] = Draft(header, thresholds.get(related.get("contract_id") or ""))
        line = billed.line
        currency = related.get("currency") or "GBP"
        description = reason or line.get("description") or f"{source[0]} {source[1]}"
        drafts[group].lines.append(((*source,), wire_line(
            source, f"Credit: {description}", -qty, line.get("unit") or "ea",
            amount_of(line.get("unit_price")), -amount, -discount, -cost if cost is not None else None,
            currency)))

    def _write(self, drafts: dict[Group, Draft], now_ms: int) -> list[tuple[Any, ...]]:
        changes: list[tuple[Any, ...]] = []
        self._previews = {}
        created: Counter[str] = Counter()
        for group, draft in sorted(drafts.items()):
            wanted = draft.fields()
            current = self.open.get(group, [])
            if current:
                invoice = current[0]
                differs = [(name, value) for name, value in wanted.items() if invoice.get(name) != value]
                changes.extend(("invoice", invoice["id"], SET, name, value) for name, value in differs)
                if differs and invoice.get("status") == "approved":
                    # Approval was given to other figures: it must be given again.
                    changes += [("invoice", invoice["id"], MOVE, "status", "draft"),
                                ("invoice", invoice["id"], SET, "approved_by", None)]
                eid = invoice["id"]
            else:
                key = group[1]
                eid = invoice_id(now_ms, f"{'|'.join(group)}|{self.per_unit[key] + created[key]}")
                created[key] += 1
                changes.extend(("invoice", eid, SET, name, value) for name, value in wanted.items()
                               if value is not None)
            self._previews[eid] = {"id": eid, **wanted}
        for group, members in sorted(self.open.items()):
            # Open invoices with nothing left to bill, or a second draft of the same unit.
            stale = members if group not in drafts else members[1:]
            changes.extend(("invoice", invoice["id"], MOVE, "status", "void") for invoice in stale)
        return changes
