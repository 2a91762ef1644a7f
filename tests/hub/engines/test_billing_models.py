"""The billing models a contract can have, each with figures worked out by hand: the seed's
milestone project, a retainer month with overage and carried hours, a fixed fee per month and per
visit, and a warranty repair invoiced at zero with its cost booked internally.

Period tests freeze the wall clock (the hub here runs on it) at the moment a month ends.
"""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from hub import auth
from hub.app import create_app, store_of

from .test_billing_world import Tablet, contract, invoices, item, resolve, run, sync, ticket


@pytest.fixture
def wall_app(tmp_path):
    """A hub on the wall clock, so ``freeze_time`` moves it."""
    app = create_app({"database": tmp_path / "hub.db"})
    yield app
    store_of(app).close()


@pytest.fixture
def hub(wall_app):
    return store_of(wall_app)


def by_period(store):
    return {inv["period_start"][:10]: inv for inv in invoices(store) if inv["status"] != "void"}


def lines(invoice):
    return [(line["description"], line["qty"], line["amount"]) for line in invoice["lines"]]


# -- milestone ----------------------------------------------------------------------------------

def test_the_seed_project_invoices_each_milestone_on_approval_5000_3000_2000(store, client, office):
    contract(store, "c-ms", "milestone")
    store.write([op for mid, seq, title, amount in [
        ("m1", 1, "Installation complete", "5000.00"),
        ("m2", 2, "User acceptance testing", "3000.00"),
        ("m3", 3, "Go-live + handover", "2000.00")]
        for op in [("milestone", mid, "set", "contract_id", "c-ms"), ("milestone", mid, "set", "sequence", seq),
                   ("milestone", mid, "set", "title", title), ("milestone", mid, "set", "amount", amount)]])
    assert run(store) == 0  # nothing approved, nothing invoiced
    approved = client.post("/api/v1/milestones/m1/approve", headers=office)
    assert approved.status_code == 200 and approved.json["data"]["approved_at"]
    [first] = invoices(store)
    assert first["billing_key"] == "milestone:m1" and first["total"] == "5000.00"
    assert lines(first) == [("Milestone 1: Installation complete", "1", "5000.00")]
    store.write([("milestone", "m2", "set", "approved_at", "2026-12-10T12:00:00+00:00")])
    run(store)
    store.write([("milestone", "m3", "set", "approved_at", "2027-01-05T12:00:00+00:00")])
    run(store)
    assert run(store) == 0
    totals = sorted((inv["billing_key"], inv["total"]) for inv in invoices(store))
    assert totals == [("milestone:m1", "5000.00"), ("milestone:m2", "3000.00"), ("milestone:m3", "2000.00")]
    numbers = [client.post(f"/api/v1/invoices/{inv['id']}/send", headers=office).json["data"]["number"]
               for inv in sorted(invoices(store), key=lambda i: i["billing_key"])]
    assert numbers == ["INV-000001", "INV-000002", "INV-000003"]
    assert run(store) == 0


# -- retainer -------------------------------------------------------------------------------------

RETAINER = {"retainer_fee": "1000.00", "retainer_hours": "10", "overage_rate": "90.00", "min_increment_min": 30}


def retainer_months(hub, carry_over, cap="3"):
    """October: 6 h used. November: 15 h used (8 h + 7 h). Ended at 1 December 00:05."""
    contract(hub, "c-ret", "retainer", rates={"labour_rate": "85.00"},
             billing={**RETAINER, "carry_over": carry_over, "rollover_cap_hours": cap},
             starts_at="2026-10-01T00:00:00+00:00")
    job = ticket(hub, "R1", "c-ret")
    tablet = Tablet.behind(hub)
    sync(hub, [tablet.time("oct", job, "2026-10-12T09:00:00Z", "2026-10-12T15:00:00Z"),
               tablet.time("nov-1", job, "2026-11-09T08:00:00Z", "2026-11-09T16:00:00Z"),
               tablet.time("nov-2", job, "2026-11-10T08:00:00Z", "2026-11-10T15:00:00Z")])
    return tablet, job


@freeze_time("2026-12-01 00:05:00")
def test_a_retainer_month_with_overage_after_hours_rolled_over_under_the_cap(hub):
    retainer_months(hub, "rollover", cap="3")
    run(hub)
    months = by_period(hub)
    assert sorted(months) == ["2026-10-01", "2026-11-01"]  # December is still running
    # October: 6 h of the 10 h block; 4 h unused, 3 h (the cap) roll over. Fee only.
    assert lines(months["2026-10-01"]) == [("Retainer, October 2026: block of 10 h", "1", "1000.00")]
    # November: 15 h used of 10 + 3 = 13 h: 2 h overage x 90.00 = 180.00.
    assert lines(months["2026-11-01"])[1] == ("Overage, November 2026: 15 h used of 13 h (10 h block + 3 h carried)",
                                              "2", "180.00")
    assert months["2026-11-01"]["total"] == "1180.00"
    state = hub.replica.entity("contract", "c-ret")["billing_state"]["retainer"]
    assert state["2026-10-01"] == {"period": "October 2026", "block_hours": "10", "carried_in_hours": "0",
                                   "used_hours": "6", "overage_hours": "0", "carried_out_hours": "3", "closed": True}
    assert state["2026-11-01"]["carried_out_hours"] == "0" and state["2026-12-01"]["closed"] is False
    assert run(hub) == 0


@freeze_time("2026-12-01 00:05:00")
def test_a_retainer_month_use_it_or_lose_it_bills_every_hour_beyond_the_block(hub):
    retainer_months(hub, "use_it_or_lose_it")
    run(hub)
    # Nothing carries from October: November's 15 h against 10 h is 5 h x 90.00 = 450.00.
    assert by_period(hub)["2026-11-01"]["total"] == "1450.00"


@freeze_time("2026-12-01 00:05:00")
def test_a_retainer_month_whose_carried_hours_absorb_the_extra_work(hub):
    contract(hub, "c-ret", "retainer", billing={**RETAINER, "carry_over": "rollover", "rollover_cap_hours": "3"},
             starts_at="2026-10-01T00:00:00+00:00")
    job = ticket(hub, "R1", "c-ret")
    tablet = Tablet.behind(hub)
    sync(hub, [tablet.time("oct", job, "2026-10-12T09:00:00Z", "2026-10-12T15:00:00Z"),
               tablet.time("nov", job, "2026-11-09T08:00:00Z", "2026-11-09T20:00:00Z")])
    run(hub)
    # November: 12 h used of 13 h available: no overage; 1 h carries into December.
    assert by_period(hub)["2026-11-01"]["total"] == "1000.00"
    assert hub.replica.entity("contract", "c-ret")["billing_state"]["retainer"]["2026-12-01"]["carried_in_hours"] == "1"


def test_a_late_october_log_moves_the_carry_over_and_novembers_sent_overage_is_topped_up(wall_app, hub):
    office = {"Authorization": f"Bearer {auth.create_user(hub, 'office', auth.PERMISSIONS)}"}
    with freeze_time("2026-12-01 00:05:00"):
        tablet, job = retainer_months(hub, "rollover", cap="3")
        run(hub)
    with freeze_time("2026-12-02 09:00:00"):
        app_client = wall_app.test_client()
        for invoice in invoices(hub):
            assert app_client.post(f"/api/v1/invoices/{invoice['id']}/send", headers=office).status_code == 200
        # Two more October hours sync now: October used 8 h, only 2 h carry; November's 15 h
        # against 12 h is 3 h overage, 1 h more than was sent: 90.00 on a supplementary invoice.
        sync(hub, [tablet.time("oct-late", job, "2026-10-20T09:00:00Z", "2026-10-20T11:00:00Z")])
        run(hub)
        [extra] = invoices(hub, kind="supplementary")
        assert extra["period_start"].startswith("2026-11-01") and lines(extra) == [
            ("Overage, November 2026: 15 h used of 12 h (10 h block + 2 h carried) (adjustment)", "1", "90.00")]
        assert run(hub) == 0


def test_a_november_log_voided_after_sending_credits_the_overage_it_caused(wall_app, hub):
    office = {"Authorization": f"Bearer {auth.create_user(hub, 'office', auth.PERMISSIONS)}"}
    with freeze_time("2026-12-01 00:05:00"):
        tablet, job = retainer_months(hub, "use_it_or_lose_it")
        run(hub)
        for invoice in invoices(hub):
            wall_app.test_client().post(f"/api/v1/invoices/{invoice['id']}/send", headers=office)
        # The 7 h log was a mistake: November used 8 h of 10, so the 5 h overage sent (450.00) is credited.
        sync(hub, [tablet.void("time_log", "nov-2")])
        run(hub)
        [credit] = invoices(hub, kind="credit_note")
        [november] = invoices(hub, kind="invoice", billing_key="period:c-ret:2026-11-01")
        assert credit["related_invoice_id"] == november["id"] and november["status"] == "sent"
        assert [(line["source_entity"], line["qty"], line["amount"]) for line in credit["lines"]] == [
            ("retainer_overage", "-5", "-450.00")]
        assert credit["total"] == "-450.00"


# -- fixed fee ------------------------------------------------------------------------------------

@freeze_time("2026-12-01 00:05:00")
def test_a_fixed_fee_is_invoiced_for_each_month_the_contract_ran_once_it_ends(hub):
    contract(hub, "c-ff", "fixed_fee", billing={"fixed_fee": "250.00", "period": "monthly"},
             starts_at="2026-10-15T00:00:00+00:00")
    run(hub)
    months = by_period(hub)
    # October is billed whole though the contract started on the 15th (no pro rata); December runs.
    assert {start: inv["total"] for start, inv in months.items()} == {"2026-10-01": "250.00", "2026-11-01": "250.00"}
    assert lines(months["2026-11-01"]) == [("Fixed fee, November 2026: fixed_fee contract", "1", "250.00")]
    assert months["2026-11-01"]["period_end"] == "2026-12-01T00:00:00+00:00"
    assert run(hub) == 0
    with freeze_time("2027-01-01 00:00:00"):
        run(hub)
        assert by_period(hub)["2026-12-01"]["total"] == "250.00"


def test_a_fixed_fee_per_visit_bills_each_completed_job_by_its_type(store):
    contract(store, "c-pv", "fixed_fee", billing={"fixed_fee": "120.00", "period": "per_visit",
                                                  "job_type_fees": {"preventive_maintenance": "90.00"}})
    tablet = Tablet()
    repair = ticket(store, "V1", "c-pv")
    service = ticket(store, "V2", "c-pv", service_type="preventive_maintenance")
    unfinished = ticket(store, "V3", "c-pv")
    sync(store, [*tablet.visit(repair), *tablet.visit(service), tablet.move(unfinished, "en_route"),
                 tablet.time("tl-1", repair, "2026-11-27T09:00:00Z", "2026-11-27T12:00:00Z")])
    run(store)
    totals = {inv["ticket_id"]: inv["total"] for inv in invoices(store)}
    assert totals == {"V1": "120.00", "V2": "90.00"}  # hours are in the fee; V3 not completed yet
    assert lines(invoices(store, ticket_id="V2")[0]) == [
        (f"Fixed fee per visit (preventive maintenance), job {service}", "1", "90.00")]


# -- warranty -------------------------------------------------------------------------------------

def test_a_warranty_repair_is_a_zero_invoice_with_its_cost_booked_internally(store):
    contract(store, "c-w", "warranty", rates={"labour_rate": "35.00", "callout_fee": "45.00"})
    item(store)
    tablet = Tablet()
    job = ticket(store, "W1", "c-w")
    sync(store, [*tablet.visit(job), tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z"),
                 tablet.part("pu-1", job, 2)])
    resolve(store, "W1")
    run(store)
    [zero] = invoices(store)
    assert zero["billing_model"] == "warranty" and (zero["subtotal"], zero["total"]) == ("0.00", "0.00")
    # Cost: 1.5 h (1h10m rounded up) x 35.00 = 52.50, plus 2 x 4.10 unit cost = 8.20: 60.70.
    assert [(line["qty"], line["amount"], line["cost"]) for line in zero["lines"]] == [
        ("1.5", "0.00", "52.50"), ("2", "0.00", "8.20")]
    assert zero["internal_cost"] == "60.70" and zero["approval_required"] is False
