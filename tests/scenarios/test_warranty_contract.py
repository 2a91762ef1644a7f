"""Warranty, end to end: a VIP customer's compressor fails inside its warranty. The technician's
tablet clock runs 12 minutes slow; she works offline and syncs late in the afternoon, after the
office has resolved the ticket on the customer's word. The customer gets a zero invoice; what the
repair cost the business is booked internally.

Terms (seed 002 "Warranty: $0 invoice; cost booked internally"): every line at 0.00; internal
cost = billed hours (rounded up to 30 min) x £40.00 (the contract's labour rate: what an hour of a
technician costs) + parts at unit cost; 30 days. SLA: the seeds' field-service table, 24/7, with a
contract override — Critical: respond 15 min, on site 180 min (instead of 120), resolve 240 min. A
VIP customer's ticket is Critical whatever it is opened as (seed 002, stage 1).
"""

from device_agent import van as van_stock
from device_agent import visit

from .conftest import SITE_FIX, customer, dispatch, field_team, header

SLOW_MS = -12 * 60 * 1000  # the tablet's clock is 12 minutes behind


def test_a_vip_warranty_repair_on_a_slow_tablet_gives_a_zero_invoice_with_its_internal_cost(world):
    # -- Thursday 3 Dec 2026 ------------------------------------------------------------------------
    world.at("2026-12-03T07:00:00Z")
    team = field_team(world)
    offices, site, asset = customer(world, "Quayside Offices", vip=True)
    contract = world.post("/contracts", {
        "customer_id": offices, "title": "Chiller warranty, 5 years", "type": "warranty",
        "rates": {"labour_rate": "40.00"}, "billing": {"payment_days": 30},
        "sla_overrides": {"Critical": {"onsite_min": 180}}})["id"]
    world.move(f"/contracts/{contract}", "active")
    terminal = world.device("van", team.van, "Van 7 terminal")
    ana = world.device("technician", team.ana, "Ana's tablet", skew_ms=SLOW_MS)

    world.at("2026-12-03T09:00:00Z")
    reply = world.client.post("/api/v1/tickets", headers=world.office, json={
        "customer_id": offices, "site_id": site, "asset_id": asset, "title": "Compressor tripping on overload",
        "priority": "Medium", "category": "warranty_claim"})
    ticket = reply.json["data"]["id"]
    assert reply.json["data"]["priority"] == "Critical"
    assert reply.json["warnings"] == ["Quayside Offices is a VIP customer: priority Medium raised to Critical"]
    world.at("2026-12-03T09:05:00Z")
    _, job, kit = dispatch(world, team, ticket, estimate={"CMP-3": "1", "CAP-45": "1"}, service_type="warranty_claim")
    world.at("2026-12-03T09:20:00Z")
    world.sync(terminal)
    van_stock.receive_kit(terminal, [], kit)
    world.sync(terminal)
    world.at("2026-12-03T09:25:00Z")
    world.sync(ana)

    # -- the repair, offline; the tablet's clock says 12 minutes less than the time -------------------
    world.at("2026-12-03T09:26:00Z")
    visit.accept(ana, job)
    world.at("2026-12-03T09:30:00Z")
    visit.depart(ana, job)
    world.at("2026-12-03T10:05:00Z")
    check_in = visit.check_in(ana, job, SITE_FIX).records[0]
    assert check_in["value"]["device_time"] == "2026-12-03T09:53:00+00:00"
    visit.photo(ana, job, world.file("before.jpg", b"\xff\xd8 burnt terminals"), stage="before")
    world.at("2026-12-03T10:30:00Z")
    visit.use_part(ana, job, "CMP-3", 1)
    visit.use_part(ana, job, "CAP-45", 1)

    # 11:30 the hub has heard nothing: on site is 150 of 180 min, past 75% (135, at 11:15).
    world.at("2026-12-03T11:30:00Z")
    world.settled()
    assert world.escalations(ticket) == [
        ("onsite", "near_breach", team.ana, 135.0, "2026-12-03T11:15:00.000+00:00", None)]

    world.at("2026-12-03T12:20:00Z")
    visit.log_time(ana, job, minutes=135, description="compressor replaced under warranty")  # ends "now": 12:08
    visit.photo(ana, job, world.file("after.jpg", b"\xff\xd8 new compressor running"), stage="after")
    world.at("2026-12-03T12:25:00Z")
    visit.sign(ana, job, world.file("signature.png", b"\x89PNG J. Patel"), "J. Patel")
    world.at("2026-12-03T12:30:00Z")
    visit.complete(ana, job, "Compressor replaced, running at 4.2 A")

    # 12:45 the customer rings: running again. The office resolves the ticket.
    world.at("2026-12-03T12:45:00Z")
    world.move(f"/tickets/{ticket}", "in_progress")
    world.move(f"/tickets/{ticket}", "resolved")
    world.at("2026-12-03T13:15:00Z")
    world.settled()
    # With no check-in known, on site stops at the resolution: 225 of 180 min, missed — for now.
    assert world.clock_state(ticket, "onsite") == ("missed", 225.0, "2026-12-03T12:45:00.000+00:00",
                                                   "ticket resolved")
    assert world.invoices() == []  # resolved, but no work has arrived to list

    # -- 17:00 the tablet finds a network ----------------------------------------------------------------
    world.at("2026-12-03T17:00:00Z")
    world.sync(ana)
    # 17:05 one click from the ticket drafts its invoice, every line carried over.
    world.at("2026-12-03T17:05:00Z")
    [draft] = world.post("/invoices/draft", {"ticket_id": ticket})
    # The tablet recorded 135 min ending at its 12:08; like the SLA, billing corrects by the 12 min
    # the hub measured it slow: 10:05-12:20. 135 min -> 150 min billed = 2.5 h.
    # Internal cost: 2.5 h x 40.00 = 100.00; compressor 1 x 310.00; capacitor 1 x 4.10 -> 414.10.
    assert [(line["description"], line["qty"], line["amount"], line["cost"]) for line in draft["lines"]] == [
        ("Warranty: Labour 03 Dec 2026 10:05-12:20 (135 min, billed 150 min): compressor replaced under warranty",
         "2.5", "0.00", "100.00"),
        ("Warranty: Scroll compressor (CMP-3)", "1", "0.00", "310.00"),
        ("Warranty: Capacitor 45uF (CAP-45)", "1", "0.00", "4.10"),
    ]
    assert (draft["billing_model"], draft["subtotal"], draft["total"], draft["internal_cost"]) == (
        "warranty", "0.00", "0.00", "414.10")
    world.at("2026-12-03T17:10:00Z")
    assert header(world.send(draft["id"])) == (
        "INV-000001", "invoice", "sent", "0.00", "2026-12-03T17:10:00+00:00", "2027-01-02T17:10:00+00:00")

    world.settled()
    sla = world.sla(ticket)
    assert (sla["priority"], sla["policy"], sla["calendar"]) == ("Critical", "table:field_service", "24x7")
    # Dispatch took the ticket at 09:05: 5 of 15 min.
    assert world.clock_state(ticket, "response") == ("met", 5.0, "2026-12-03T09:05:00.000+00:00", "ticket taken")
    # The check-in the tablet stamped 09:53, corrected by the 12 min the hub measured it slow: 10:05,
    # 65 of 180 min (the contract's override) — met, whatever the hub believed at 13:15.
    assert sla["onsite"]["target_min"] == 180
    assert world.clock_state(ticket, "onsite") == ("met", 65.0, "2026-12-03T10:05:00.000+00:00", "check-in")
    # Resolved when its work was done, the job completed at 12:30 (before the office's 12:45):
    # 210 of 240 min.
    assert world.clock_state(ticket, "resolution") == ("met", 210.0, "2026-12-03T12:30:00.000+00:00",
                                                       "job completed")
    assert [e[:2] for e in world.escalations(ticket)] == [("onsite", "near_breach")]
    # One zero invoice; the engine finds nothing more to bill.
    assert [header(inv)[:4] for inv in world.invoices()] == [("INV-000001", "invoice", "sent", "0.00")]
    # Stock: the kit (CMP-3 1, CAP-45 1) left the warehouse (2 - 1, 10 - 1) and was fitted.
    assert world.stock(team.van) == {"CAP-45": ("0", "0"), "CMP-3": ("0", "0")}
    assert world.stock(team.warehouse) == {"CAP-45": ("9", "0"), "CMP-3": ("1", "0"), "FAN-12": ("4", "0"),
                                           "FLT-20": ("20", "0")}
    assert world.exceptions() == [] and world.purchase_requests() == []
