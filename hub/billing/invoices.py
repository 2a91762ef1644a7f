"""Billing actions on the hub store: run the plan, draft a unit on demand, and move an invoice
through draft -> approved -> sent -> paid (or void).

No Flask here: functions take the store and plain values and raise :class:`ApiError` naming the
field at fault. Each action runs the plan first in the same transaction, so what is approved or
sent is what the merged state bills at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.ops import MOVE, SET

from ..errors import ApiError
from ..office_records import require, view
from ..store import HubStore
from . import currency_problem, model_for, snapshot
from .base import ContractBill, Terms, UnitBill
from .numbering import next_number
from .periods import MONTHS_IN, iso, period_end, period_key, period_start
from .plan import Ledger, Plan
from .work import RESOLVED

TICKET_MODELS = frozenset({"time_material", "warranty"})
PERIOD_MODELS = frozenset({"fixed_fee", "retainer"})


def instant(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC)


def build(store: HubStore, now_ms: int, forced: Iterable[str] = ()) -> Plan:
    """The plan for the state held now (nothing written). ``forced`` unit keys are billed now."""
    now = instant(now_ms)
    ledger = Ledger(snapshot.invoices(store))
    opened = ledger.opener(forced)
    bills = []
    for contract in snapshot.contracts(store):
        store.give_way()
        model = model_for(contract.get("type"))
        if model is not None:
            bill = model.bill(snapshot.contract_work(store, contract), now, opened)
            problem = currency_problem(contract, store.config.price_list_currency,
                                       ledger.issued_currencies(contract["id"]))
            bills.append((contract, _held(contract, bill, problem)))
    return ledger.plan(bills, now_ms)


def _held(contract: dict[str, Any], bill: ContractBill, problem: str | None) -> ContractBill:
    """A contract whose terms contradict each other (a currency that is not its price list's, e.g.
    merged from an op the office API would refuse) is not billed: all its work waits — nothing is
    invoiced or credited, its open drafts are withdrawn — and ``billing_state["problems"]`` says
    why until the terms are put right."""
    problems = [f"currency: {problem}"] if problem else None
    if problems:
        bill.bills = [UnitBill(unit.unit, [], unit.pending | {line.source for line in unit.due}) for unit in bill.bills]
    if problems or "problems" in (contract.get("billing_state") or {}):
        bill.state = {**(bill.state or {}), "problems": problems}
    return bill


def refuse_unbillable(store: HubStore, contract: dict[str, Any]) -> None:
    """409 naming the contract's currency when it cannot be billed as it stands (see ``_held``)."""
    problem = currency_problem(contract, store.config.price_list_currency,
                               snapshot.issued_currencies(store, contract["id"]))
    if problem:
        raise ApiError(409, f"contract {contract['id']} cannot be invoiced as it stands", [("currency", problem)],
                       hint=f"correct the contract's currency (PATCH /api/v1/contracts/{contract['id']})")


def reconcile(store: HubStore, now_ms: int, forced: Iterable[str] = ()) -> Plan:
    """Build the plan and write its ops in one transaction; returns the plan."""
    with store.unit_of_work():
        plan = build(store, now_ms, forced)
        if plan.changes:
            store.write(plan.changes)
    return plan


def unit_keys(store: HubStore, now_ms: int, request: dict[str, Any]) -> list[str]:
    """The billing units a draft request names (``ticket_id``; or ``contract_id`` with
    ``period_start``/``period_end`` for a period contract; or ``contract_id`` of a milestone
    contract, for its approved milestones). 400/404/409 naming the field at fault."""
    if request.get("ticket_id"):
        ticket = require(store, "ticket", request["ticket_id"])
        contract = view(store, "contract", ticket.get("contract_id") or "")
        if contract is None:
            raise ApiError(409, "the ticket has no contract to bill under", [("ticket_id", "no contract_id")],
                           hint="link the ticket to its contract first")
        refuse_unbillable(store, contract)
        per_visit = contract["type"] == "fixed_fee" and (contract.get("billing") or {}).get("period") == "per_visit"
        if contract["type"] not in TICKET_MODELS and not per_visit:
            raise ApiError(409, f"contract {contract['id']} bills {contract['type']}, not per ticket",
                           [("ticket_id", "draft this contract by contract_id (and period_start)")])
        return [f"ticket:{ticket['id']}"]
    if not request.get("contract_id"):
        raise ApiError(400, "say what to invoice", [("ticket_id", "give ticket_id, or contract_id")])
    contract = require(store, "contract", request["contract_id"])
    refuse_unbillable(store, contract)
    if contract["type"] == "milestone":
        return [f"milestone:{mid}" for mid in sorted(store.links.sources("milestone", "contract_id", [contract["id"]]))]
    if contract["type"] not in PERIOD_MODELS or Terms.of(contract).period == "per_visit":
        raise ApiError(409, f"contract {contract['id']} is billed per ticket",
                       [("contract_id", "draft it with ticket_id")])
    return [_period_key(contract, request, now_ms)]


def _period_key(contract: dict[str, Any], request: dict[str, Any], now_ms: int) -> str:
    start = request.get("period_start")
    if start is None:
        raise ApiError(400, "which period?", [("period_start", "required with a period contract")])
    chosen = Terms.of(contract).period
    period = chosen if chosen in MONTHS_IN else "monthly"
    start = start.astimezone(UTC)
    if period_start(start, period) != start:
        raise ApiError(400, "not a billing period", [("period_start", f"the first instant of a {period} "
                                                                      "period (UTC), e.g. 2026-11-01T00:00:00Z")])
    end = request.get("period_end")
    if end is not None and end.astimezone(UTC) != period_end(start, period):
        raise ApiError(400, "not a billing period",
                       [("period_end", f"this {period} period ends {iso(period_end(start, period))}")])
    if start > instant(now_ms):
        raise ApiError(409, "the period has not started", [("period_start", "a future period cannot be billed")])
    return f"period:{period_key(contract['id'], start)}"


def draft(store: HubStore, now_ms: int, request: dict[str, Any], *, preview: bool = False) -> list[dict[str, Any]]:
    """Draft the named units now (or, with ``preview``, say what the drafts would hold without
    writing): every line carried over from the work. 409 when there is nothing to invoice."""
    with store.unit_of_work():
        keys = unit_keys(store, now_ms, request)
        plan = build(store, now_ms, keys) if preview else reconcile(store, now_ms, keys)
        found = [invoice for invoice in plan.drafts.values() if invoice.get("billing_key") in keys]
        if not preview:
            found = [require(store, "invoice", invoice["id"]) for invoice in found]
        why = _waiting(store, now_ms, request["ticket_id"], keys) if not found and request.get("ticket_id") else ""
    if not found:
        field = next(iter(request))
        if why:
            raise ApiError(409, "nothing to invoice yet", [(field, why)],
                           hint="see the reason named; once it is met the ticket's work is drafted")
        raise ApiError(409, "nothing to invoice", [(field, "no billable work that is not invoiced yet")])
    return found


def _waiting(store: HubStore, now_ms: int, ticket_id: str, keys: list[str]) -> str:
    """Why a ticket gives no draft although it has work not invoiced: the work waits for a price
    or for its job to complete (a per-visit fee), said with the ticket's state when it is not
    resolved. Empty when nothing waits: there is truly nothing left to invoice."""
    ticket = view(store, "ticket", ticket_id) or {}
    contract = view(store, "contract", ticket.get("contract_id") or "") or {}
    model = model_for(contract.get("type"))
    if model is None:
        return ""
    work = snapshot.contract_work(store, contract)
    bill = model.bill(work, instant(now_ms), set(keys).__contains__)
    waiting = {source for unit in bill.bills if unit.unit.key in keys for source in unit.pending}
    reasons = []
    logs = sorted(eid for entity, eid in waiting if entity == "time_log")
    if logs:
        reasons.append(f"{len(logs)} time log(s) cannot be priced: the contract has no rate for their category "
                       "(rates.labour_rate, overtime_rate or travel_rate)")
    parts = sorted(eid for entity, eid in waiting if entity == "part_usage")
    if parts:
        reasons.append(f"{len(parts)} part use(s) cannot be priced: their item has no unit_cost or unit_price")
    visits = sorted(eid for entity, eid in waiting if entity == "visit")
    open_jobs = [job for job in visits if work.jobs[job].get("status") != "completed"]
    if open_jobs:
        reasons.append(f"job(s) {', '.join(open_jobs)} not completed: a per-visit fee is due when its job completes")
    if len(open_jobs) < len(visits):
        reasons.append("the contract has no per-visit fee for the service type of a completed job "
                       "(billing.job_type_fees or fixed_fee)")
    status = ticket.get("status")
    if reasons and status not in RESOLVED:
        return f"ticket {ticket_id} is {status}, not resolved; " + "; ".join(reasons)
    return "; ".join(reasons)


def _open(store: HubStore, now_ms: int, eid: str) -> dict[str, Any]:
    require(store, "invoice", eid)
    reconcile(store, now_ms)
    return require(store, "invoice", eid)


def _refuse(invoice: dict[str, Any], action: str, allowed: str, hint: str = "") -> ApiError:
    return ApiError(409, f"cannot {action} invoice {invoice['id']}: it is {invoice['status']}",
                    [("status", f"{action} needs {allowed}")], hint=hint or "read the invoice again")


def approve(store: HubStore, now_ms: int, eid: str, user: str) -> dict[str, Any]:
    with store.unit_of_work():
        invoice = _open(store, now_ms, eid)
        if invoice["status"] != "draft":
            raise _refuse(invoice, "approve", "a draft")
        store.write([("invoice", eid, MOVE, "status", "approved"), ("invoice", eid, SET, "approved_by", user)])
        return require(store, "invoice", eid)


def send(store: HubStore, now_ms: int, eid: str) -> dict[str, Any]:
    """Issue the invoice: number, issue date, due date (issued + the contract's payment days).
    Above the approval threshold it must be approved first; below, a draft is sent at once."""
    with store.unit_of_work():
        invoice = _open(store, now_ms, eid)
        if invoice["status"] not in ("draft", "approved"):
            raise _refuse(invoice, "send", "a draft or an approved invoice",
                          "a sent invoice is never changed; corrections come as supplementary invoices or credit notes")
        changes: list[tuple[Any, ...]] = []
        if invoice["status"] == "draft":
            if invoice["approval_required"]:
                raise ApiError(409, f"invoice {eid} needs approval first",
                               [("status", f"total {invoice['total']} {invoice['currency']} is above the contract's "
                                           "approval threshold")], hint=f"POST /api/v1/invoices/{eid}/approve")
            changes += [("invoice", eid, MOVE, "status", "approved"),
                        ("invoice", eid, SET, "approved_by", "auto: below the approval threshold")]
        contract = view(store, "contract", invoice["contract_id"]) or {}
        issued = instant(now_ms)
        changes += [("invoice", eid, SET, "number", next_number(snapshot.invoices(store))),
                    ("invoice", eid, SET, "issued_at", iso(issued)),
                    ("invoice", eid, SET, "due_at", iso(issued + timedelta(days=Terms.of(contract).payment_days))),
                    ("invoice", eid, MOVE, "status", "sent")]
        store.write(changes)
        return require(store, "invoice", eid)


def mark_paid(store: HubStore, eid: str) -> dict[str, Any]:
    with store.unit_of_work():
        invoice = require(store, "invoice", eid)
        if invoice["status"] != "sent":
            raise _refuse(invoice, "mark paid", "a sent invoice")
        store.write([("invoice", eid, MOVE, "status", "paid")])
        return require(store, "invoice", eid)


def void(store: HubStore, eid: str) -> dict[str, Any]:
    """Discard a draft or approved invoice. Work still billable is drafted again at the next run
    (void or un-flag the work itself to stop billing it); a sent invoice cannot be voided."""
    with store.unit_of_work():
        invoice = require(store, "invoice", eid)
        if invoice["status"] not in ("draft", "approved"):
            raise _refuse(invoice, "void", "a draft or an approved invoice",
                          "a sent invoice stands; void the billed work and the engine issues a credit note")
        store.write([("invoice", eid, MOVE, "status", "void")])
        return require(store, "invoice", eid)


def approve_milestone(store: HubStore, now_ms: int, eid: str) -> dict[str, Any]:
    """Record a milestone's approval now (if not approved yet) and draft its invoice."""
    with store.unit_of_work():
        milestone = require(store, "milestone", eid)
        if not milestone.get("approved_at"):
            store.write([("milestone", eid, SET, "approved_at", iso(instant(now_ms)))])
        reconcile(store, now_ms)
        return require(store, "milestone", eid)
