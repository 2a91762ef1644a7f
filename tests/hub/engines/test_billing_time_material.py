"""Time & material, as the billing team meets it: a ticket resolved after an offline visit is
drafted with every line, sent once, and work that syncs late or is voided later lands on a
supplementary invoice or a credit note — never lost, never billed twice."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from hub.app import create_app, store_of
from hub.billing.snapshot import invoices as all_invoices

from .test_billing_world import Tablet, contract, invoices, item, net_by_source, resolve, run, sync, ticket

RATES = {"labour_rate": "85.00", "callout_fee": "45.00", "travel_rate": "40.00", "discount_pct": "10"}
TERMS = {"min_increment_min": 30, "payment_days": 30, "non_billable_categories": ["training"],
         "approval_threshold": "500.00"}


def worked_visit(store, tablet, *, rates=RATES, billing=TERMS):
    """Ana's offline visit on ticket T1: 1h10m of labour, 25 min travel, half an hour of training
    (not billed under this contract), 15 min flagged non-billable, two capacitors, on site."""
    contract(store, "c-tm", "time_material", rates=rates, billing=billing)
    item(store)
    job = ticket(store, "T1", "c-tm")
    sync(store, [
        *tablet.visit(job),
        tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z"),
        tablet.time("tl-2", job, "2026-11-27T08:35:00Z", "2026-11-27T09:00:00Z", category="travel"),
        tablet.time("tl-3", job, "2026-11-27T10:10:00Z", "2026-11-27T10:40:00Z", category="training"),
        tablet.time("tl-4", job, "2026-11-27T10:40:00Z", "2026-11-27T10:55:00Z", billable=False),
        tablet.part("pu-1", job, 2),
    ])
    return job


def amounts(invoice):
    return {(line["source_entity"], line["source_id"]): (line["qty"], line["unit_price"], line["amount"],
                                                          line["discount"]) for line in invoice["lines"]}


def test_a_resolved_ticket_is_drafted_with_hours_parts_travel_and_call_out_less_the_discount(store):
    worked_visit(store, Tablet())
    assert run(store) == 0 and invoices(store) == []  # not resolved yet: nothing is due
    resolve(store, "T1")
    assert run(store) > 0
    [draft] = invoices(store)
    assert draft["status"] == "draft" and draft["kind"] == "invoice" and draft["number"] is None
    assert draft["billing_key"] == "ticket:T1" and draft["ticket_id"] == "T1" and draft["currency"] == "GBP"
    # By hand: 1h10m rounds up to 1.5 h x 85.00 = 127.50; travel 25 min -> 0.5 h x 40.00 = 20.00;
    # 2 x 12.50 = 25.00; call-out 45.00. Subtotal 217.50; 10% off each line: 12.75 + 2.00 + 2.50 +
    # 4.50 = 21.75; total 195.75. Training and the non-billable 15 minutes are not billed.
    assert amounts(draft) == {
        ("time_log", "tl-2"): ("0.5", "40.00", "20.00", "2.00"),
        ("time_log", "tl-1"): ("1.5", "85.00", "127.50", "12.75"),
        ("part_usage", "pu-1"): ("2", "12.50", "25.00", "2.50"),
        ("callout", "j-T1"): ("1", "45.00", "45.00", "4.50"),
    }
    assert [line["source_id"] for line in draft["lines"]] == ["tl-2", "tl-1", "pu-1", "j-T1"]
    assert (draft["subtotal"], draft["discount"], draft["total"]) == ("217.50", "21.75", "195.75")
    assert draft["approval_required"] is False
    assert run(store) == 0  # the second run writes nothing


def test_parts_markup_prices_parts_cost_plus_instead_of_the_list_price(store):
    worked_visit(store, Tablet(), rates={**RATES, "parts_markup_pct": "20", "discount_pct": None})
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    # 4.10 cost + 20% = 4.92 each (not 12.50 list price): 2 x 4.92 = 9.84.
    assert amounts(draft)[("part_usage", "pu-1")] == ("2", "4.92", "9.84", "0.00")
    assert draft["total"] == "202.34"  # 127.50 + 20.00 + 9.84 + 45.00


def test_sending_numbers_the_invoice_and_sets_the_due_date_from_the_payment_terms(store, client, office):
    worked_visit(store, Tablet())
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    sent = client.post(f"/api/v1/invoices/{draft['id']}/send", headers=office).json["data"]
    assert sent["status"] == "sent" and sent["number"] == "INV-000001"
    assert sent["approved_by"] == "auto: below the approval threshold"
    assert sent["issued_at"] == "2026-11-27T09:00:00+00:00" and sent["due_at"] == "2026-12-27T09:00:00+00:00"
    again = client.post(f"/api/v1/invoices/{draft['id']}/send", headers=office)
    assert again.status_code == 409 and again.json["errors"][0]["field"] == "status"
    assert run(store) == 0


def test_work_synced_after_sending_lands_on_a_supplementary_invoice(store, client, office):
    tablet = Tablet()
    job = worked_visit(store, tablet)
    resolve(store, "T1")
    run(store)
    [first] = invoices(store)
    client.post(f"/api/v1/invoices/{first['id']}/send", headers=office)
    # Twenty minutes Ana logged offline reach the hub only now: 0.5 h x 85.00 = 42.50, less 4.25.
    sync(store, [tablet.time("tl-5", job, "2026-11-27T11:00:00Z", "2026-11-27T11:20:00Z")])
    run(store)
    sent = client.get(f"/api/v1/invoices/{first['id']}", headers=office).json["data"]
    assert sent["total"] == "195.75" and len(sent["lines"]) == 4  # the sent invoice never changes
    [extra] = invoices(store, kind="supplementary")
    assert extra["related_invoice_id"] == first["id"] and extra["status"] == "draft"
    assert amounts(extra) == {("time_log", "tl-5"): ("0.5", "85.00", "42.50", "4.25")}
    assert extra["total"] == "38.25"
    assert run(store) == 0
    numbered = client.post(f"/api/v1/invoices/{extra['id']}/send", headers=office).json["data"]
    assert numbered["number"] == "INV-000002"


def test_a_part_use_voided_after_sending_is_credited_on_a_credit_note(store, client, office):
    tablet = Tablet()
    worked_visit(store, tablet)
    resolve(store, "T1")
    run(store)
    [first] = invoices(store)
    client.post(f"/api/v1/invoices/{first['id']}/send", headers=office)
    sync(store, [tablet.void("part_usage", "pu-1")])
    run(store)
    [credit] = invoices(store, kind="credit_note")
    assert credit["related_invoice_id"] == first["id"] and credit["billing_key"] == "ticket:T1"
    assert amounts(credit) == {("part_usage", "pu-1"): ("-2", "12.50", "-25.00", "-2.50")}
    assert (credit["subtotal"], credit["discount"], credit["total"]) == ("-25.00", "-2.50", "-22.50")
    client.post(f"/api/v1/invoices/{credit['id']}/send", headers=office)
    assert run(store) == 0
    assert ("part_usage", "pu-1") not in net_by_source(store)
    # Restoring the part use (voiding the void) bills it again, on a supplementary invoice.
    sync(store, [tablet.unvoid("part_usage", "pu-1")])
    run(store)
    [again] = invoices(store, kind="supplementary")
    assert amounts(again) == {("part_usage", "pu-1"): ("2", "12.50", "25.00", "2.50")}


def test_voided_work_before_sending_simply_leaves_the_draft(store):
    tablet = Tablet()
    worked_visit(store, tablet)
    resolve(store, "T1")
    run(store)
    sync(store, [tablet.void("time_log", "tl-1")])
    run(store)
    [draft] = invoices(store)
    assert ("time_log", "tl-1") not in amounts(draft) and draft["total"] == "81.00"  # 195.75 - (127.50 - 12.75)
    assert invoices(store, kind="credit_note") == []


def test_above_the_threshold_a_draft_needs_approval_and_changes_send_it_back_to_draft(store, client, office):
    tablet = Tablet()
    job = worked_visit(store, tablet, billing={**TERMS, "approval_threshold": "150.00"})
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert draft["approval_required"] is True
    refused = client.post(f"/api/v1/invoices/{draft['id']}/send", headers=office)
    assert refused.status_code == 409 and "approval" in refused.json["error"]
    approved = client.post(f"/api/v1/invoices/{draft['id']}/approve", headers=office).json["data"]
    assert approved["status"] == "approved" and approved["approved_by"] == "office"
    sync(store, [tablet.part("pu-2", job, 1)])
    run(store)
    changed = client.get(f"/api/v1/invoices/{draft['id']}", headers=office).json["data"]
    assert changed["status"] == "draft" and changed["approved_by"] is None and changed["total"] == "207.00"
    client.post(f"/api/v1/invoices/{draft['id']}/approve", headers=office)
    sent = client.post(f"/api/v1/invoices/{draft['id']}/send", headers=office).json["data"]
    assert sent["status"] == "sent" and sent["total"] == "207.00"


def test_a_reopened_ticket_keeps_what_was_billed_and_bills_new_work_when_resolved_again(store, client, office):
    tablet = Tablet()
    job = worked_visit(store, tablet)
    resolve(store, "T1")
    run(store)
    [first] = invoices(store)
    client.post(f"/api/v1/invoices/{first['id']}/send", headers=office)
    store.write([("ticket", "T1", "move", "status", "in_progress")])
    sync(store, [tablet.time("tl-6", job, "2026-11-28T09:00:00Z", "2026-11-28T09:30:00Z")])
    run(store)
    assert invoices(store, kind="credit_note") == [] and invoices(store, kind="supplementary") == []
    resolve(store, "T1")
    run(store)
    [extra] = invoices(store, kind="supplementary")
    assert amounts(extra) == {("time_log", "tl-6"): ("0.5", "85.00", "42.50", "4.25")}


def test_with_bill_on_sign_off_a_completed_job_is_drafted_before_the_ticket_is_resolved(store):
    worked_visit(store, Tablet(), billing={**TERMS, "bill_on": "sign_off"})
    run(store)
    [draft] = invoices(store)
    assert draft["total"] == "195.75"


def test_a_voided_draft_is_drafted_again_with_a_new_id_while_the_work_stands(store, client, office):
    worked_visit(store, Tablet())
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert client.post(f"/api/v1/invoices/{draft['id']}/void", headers=office).json["data"]["status"] == "void"
    run(store)
    fresh = [inv for inv in all_invoices(store) if inv["status"] == "draft"]
    assert len(fresh) == 1 and fresh[0]["id"] != draft["id"] and fresh[0]["total"] == "195.75"


@pytest.fixture
def yen_store(tmp_path, clock):
    """A hub whose parts price list is in yen (a T&M contract must then be in yen too)."""
    app = create_app({"database": tmp_path / "yen.db", "clock": clock, "price_list_currency": "JPY"})
    yield store_of(app)
    store_of(app).close()


def test_the_invoice_is_in_the_contracts_currency_rounded_to_its_minor_unit(yen_store):
    store = yen_store
    worked_visit(store, Tablet(), rates={"labour_rate": "8500", "callout_fee": "4999", "discount_pct": "7.5"})
    store.write([("contract", "c-tm", "set", "currency", "JPY"), ("item", "CAP-45", "set", "unit_price", "1250")])
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert draft["currency"] == "JPY"
    # 1.5 h x 8500 = 12750 (7.5%: 956.25 -> 956); travel 0.5 h at the labour rate 4250 (318.75 -> 319);
    # 2 x 1250 = 2500 (187.5 -> 188, half up); call-out 4999 (374.925 -> 375).
    assert amounts(draft)[("time_log", "tl-1")] == ("1.5", "8500", "12750", "956")
    assert amounts(draft)[("part_usage", "pu-1")] == ("2", "1250", "2500", "188")
    assert (draft["subtotal"], draft["discount"], draft["total"]) == ("24499", "1838", "22661")


def reads_right(line):
    """What a customer checks on a line: quantity x unit price as shown, rounded to the penny, is the amount."""
    shown = Decimal(line["qty"]) * Decimal(line["unit_price"])
    return shown.quantize(Decimal(line["amount"]), rounding=ROUND_HALF_UP) == Decimal(line["amount"])


def test_a_unit_price_finer_than_a_penny_is_shown_and_charged_as_it_is_and_every_line_reads_right(store):
    # 87.333/h for 10 h is 873.33 (a price rounded to 87.33 first would show 873.30 and lose 3p);
    # 1000 fixings at 0.0125 are 12.50 (rounded to 0.01 first: 10.00, a fifth of the price lost).
    tablet = Tablet()
    contract(store, "c-tm", "time_material", rates={"labour_rate": "87.333"}, billing={"min_increment_min": 30})
    item(store, sku="FIX-8", name="Wall fixing 8mm", cost="0.004", price="0.0125")
    job = ticket(store, "T1", "c-tm")
    sync(store, [tablet.time("tl-1", job, "2026-11-27T08:00:00Z", "2026-11-27T18:00:00Z"),
                 tablet.part("pu-1", job, 1000, sku="FIX-8")])
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert amounts(draft) == {("time_log", "tl-1"): ("10", "87.333", "873.33", "0.00"),
                              ("part_usage", "pu-1"): ("1000", "0.0125", "12.50", "0.00")}
    assert all(reads_right(line) for line in draft["lines"]) and draft["total"] == "885.83"


def test_a_cost_plus_price_keeps_its_fraction_of_a_penny_and_hours_are_charged_as_shown(store):
    # 4.10 + 17.5% = 4.8175 each: 2 x 4.8175 = 9.635 -> 9.64, and 1000 of them 4817.50 (rounded to
    # 4.82 first: 4820.00). 20 minutes show as 0.3333 h and are charged as shown: 0.3333 x 300.00 =
    # 99.99 (priced from the minutes, 100.00, the line would not read right).
    tablet = Tablet()
    contract(store, "c-tm", "time_material", rates={"labour_rate": "300.00", "parts_markup_pct": "17.5"},
             billing={"min_increment_min": 20})
    item(store)
    job = ticket(store, "T1", "c-tm")
    sync(store, [tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T09:20:00Z"),
                 tablet.part("pu-1", job, 2), tablet.part("pu-2", job, 1000)])
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert amounts(draft) == {("time_log", "tl-1"): ("0.3333", "300.00", "99.99", "0.00"),
                              ("part_usage", "pu-1"): ("2", "4.8175", "9.64", "0.00"),
                              ("part_usage", "pu-2"): ("1000", "4.8175", "4817.50", "0.00")}
    assert all(reads_right(line) for line in draft["lines"])
