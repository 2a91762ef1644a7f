"""Fixed fee, end to end: Quayside Offices pay £450.00 a month for maintenance, whatever the visits
take. A call comes in on Christmas Eve; the business-hours SLA clock stops over Christmas, the
weekend and the bank holidays; the technician works the job offline after Christmas and her tablet
syncs only in the new year — after December's invoice was sent.

Terms (seed 000 "Fixed Fee: monthly, fixed amount per period"): £450.00 per calendar month,
invoiced in arrears once the month ends, 14 days to pay; parts and hours are in the fee. SLA: the
field-service tier table (seed 002) in business hours, England (Mon-Fri 09:00-17:00 Europe/London,
bank holidays off), escalating near breach at 80% (seed 002) — Medium: respond 240 working min,
on site next business day (480), resolve in 3 business days (1,440).
"""

from device_agent import van as van_stock

from .conftest import customer, dispatch, field_team, header, lines, work_offline

FIELD_SERVICE = {  # seed 002's tier table, working minutes (8 h = one business day)
    "Critical": {"response_min": 15, "onsite_min": 120, "resolution_min": 240},
    "High": {"response_min": 60, "onsite_min": 240, "resolution_min": 480},
    "Medium": {"response_min": 240, "onsite_min": 480, "resolution_min": 1440},
    "Low": {"response_min": 480, "onsite_min": 1440, "resolution_min": 2400},
}


def test_a_christmas_eve_call_worked_offline_is_counted_in_business_hours_and_billed_in_the_monthly_fee(world):
    # -- Tuesday 1 Dec 2026: the office sets up; November has ended, so it is billed ----------------
    world.at("2026-12-01T08:00:00Z")
    team = field_team(world)
    offices, site, asset = customer(world, "Quayside Offices")
    policy = world.post("/sla_policies", {"name": "Business hours, England", "calendar": "business:GB",
                                          "near_breach_share": 0.8, "targets": FIELD_SERVICE})["id"]
    contract = world.post("/contracts", {
        "customer_id": offices, "title": "Quayside planned maintenance", "type": "fixed_fee", "sla_policy_id": policy,
        "billing": {"fixed_fee": "450.00", "period": "monthly", "payment_days": 14},
        "starts_at": "2026-11-01T00:00:00Z"})["id"]
    world.move(f"/contracts/{contract}", "active")
    terminal = world.device("van", team.van, "Van 7 terminal")
    ana = world.device("technician", team.ana, "Ana's tablet")
    world.at("2026-12-01T09:00:00Z")
    world.settled()
    [november] = world.invoices()
    assert lines(november) == [("Fixed fee, November 2026: Quayside planned maintenance", "1", "450.00", "450.00")]
    world.at("2026-12-01T09:10:00Z")
    # Issued 1 Dec 09:10, due 14 days later.
    assert header(world.send(november["id"])) == (
        "INV-000001", "invoice", "sent", "450.00", "2026-12-01T09:10:00+00:00", "2026-12-15T09:10:00+00:00")

    # -- Thursday 24 Dec, 15:00: the condenser fan is screaming -------------------------------------
    world.at("2026-12-24T15:00:00Z")
    ticket = world.post("/tickets", {"customer_id": offices, "site_id": site, "asset_id": asset,
                                     "title": "Condenser fan noisy", "priority": "Medium"})["id"]
    assert world.get(f"/tickets/{ticket}")["contract_id"] == contract  # the customer's one active contract
    world.at("2026-12-24T15:30:00Z")
    _, job, kit = dispatch(world, team, ticket, estimate={"FAN-12": "1", "FLT-20": "2"},
                           service_type="preventive_maintenance")
    world.at("2026-12-24T16:00:00Z")
    world.sync(terminal)
    van_stock.receive_kit(terminal, [], kit)
    world.sync(terminal)
    world.at("2026-12-24T16:15:00Z")
    world.sync(ana)  # the job is on the tablet; then nothing more until the new year

    # Tuesday 29 Dec (25th Christmas, 26th-27th the weekend, 28th Boxing Day observed), offline.
    work_offline(world, ana, job, accept="2026-12-29T08:30:00Z", depart="2026-12-29T09:40:00Z",
                 arrive="2026-12-29T10:30:00Z", parts=[("FAN-12", "1", None), ("FLT-20", "2", None)],
                 logs=[("2026-12-29T10:30:00+00:00", "2026-12-29T12:10:00+00:00", "replaced fan motor, filters")],
                 signed="2026-12-29T12:15:00Z", done="2026-12-29T12:20:00Z")

    # 14:00 the hub has heard nothing: on site has run Thu 15:00-17:00 (120) + Tue 09:00-14:00
    # (300) = 420 working min; 80% of 480 = 384 was reached at Tue 09:00 + 264 min = 13:24.
    world.at("2026-12-29T14:00:00Z")
    world.settled()
    assert world.escalations(ticket) == [
        ("onsite", "near_breach", team.ana, 384.0, "2026-12-29T13:24:00.000+00:00", None)]

    # -- Monday 4 Jan 2027, 09:00: December is billed; the hub still knows nothing of the visit -------
    world.at("2027-01-04T09:00:00Z")
    world.settled()
    # On site, 480: 120 + Tue 360 -> due Tue 29 15:00 (breached, to the team lead, Medium -> High);
    # overdue at 1.5 x 480 = 720: 120 + Tue 480 + Wed 120 -> Wed 30 11:00 (the service manager).
    # Resolution, 1,440: 80% = 1,152 = 120 + 480 + 480 + Thu 72 -> Thu 31 10:12; due at
    # 120 + 480 + 480 + Thu 360 -> Thu 31 15:00 (High -> Critical); 1 Jan is a bank holiday, and
    # overdue (2,160) would be Tue 5 Jan 11:00.
    assert world.escalations(ticket) == [
        ("onsite", "near_breach", team.ana, 384.0, "2026-12-29T13:24:00.000+00:00", None),
        ("onsite", "breached", team.lead, 480.0, "2026-12-29T15:00:00.000+00:00", "High"),
        ("onsite", "overdue", "service_manager", 720.0, "2026-12-30T11:00:00.000+00:00", None),
        ("resolution", "near_breach", team.ana, 1152.0, "2026-12-31T10:12:00.000+00:00", None),
        ("resolution", "breached", team.lead, 1440.0, "2026-12-31T15:00:00.000+00:00", "Critical"),
    ]
    assert world.get(f"/tickets/{ticket}")["priority"] == "Critical"
    assert world.get(f"/contracts/{contract}")["health"] == {"sla_overdue": [ticket]}
    _, december = world.invoices()
    assert lines(december) == [("Fixed fee, December 2026: Quayside planned maintenance", "1", "450.00", "450.00")]
    world.at("2027-01-04T09:10:00Z")
    assert header(world.send(december["id"])) == (
        "INV-000002", "invoice", "sent", "450.00", "2027-01-04T09:10:00+00:00", "2027-01-18T09:10:00+00:00")

    # -- 09:30 Ana's tablet syncs, six days after the work ----------------------------------------
    world.at("2027-01-04T09:30:00Z")
    world.sync(ana)
    world.settled()
    sla = world.sla(ticket)
    # The targets stay Medium's (raising the priority calls for attention; it does not move the goal).
    assert (sla["priority"], sla["calendar"]) == ("Medium", "business:GB")
    # Dispatch at Thu 15:30 took the ticket: 30 working min of 240.
    assert world.clock_state(ticket, "response") == ("met", 30.0, "2026-12-24T15:30:00.000+00:00", "ticket taken")
    # Checked in Tue 29 10:30, offline: Thu 15:00-17:00 (120) + Tue 09:00-10:30 (90) = 210 of 480.
    assert world.clock_state(ticket, "onsite") == ("met", 210.0, "2026-12-29T10:30:00.000+00:00", "check-in")
    # Completed Tue 12:20: 120 + Tue 09:00-12:20 (200) = 320 of 1,440.
    assert world.clock_state(ticket, "resolution") == ("met", 320.0, "2026-12-29T12:20:00.000+00:00",
                                                       "job completed")
    assert sla["onsite"]["due_at"] == "2026-12-29T15:00:00.000+00:00"
    # The contract is healthy again; the escalations made meanwhile stay on record, as does the
    # priority they raised.
    assert "sla_overdue" not in (world.get(f"/contracts/{contract}")["health"] or {})
    assert len(world.escalations(ticket)) == 5 and world.get(f"/tickets/{ticket}")["priority"] == "Critical"

    # The visit is in the fee: the late work adds nothing to the invoices sent.
    assert [header(inv)[:4] for inv in world.invoices()] == [("INV-000001", "invoice", "sent", "450.00"),
                                                             ("INV-000002", "invoice", "sent", "450.00")]
    # Stock: the kit (FAN-12 1, FLT-20 2) left the warehouse (4 - 1, 20 - 2) and was used up in the
    # van; the job is complete, so nothing is reserved any more.
    assert world.stock(team.van) == {"FAN-12": ("0", "0"), "FLT-20": ("0", "0")}
    assert world.stock(team.warehouse) == {"CAP-45": ("10", "0"), "CMP-3": ("2", "0"), "FAN-12": ("3", "0"),
                                           "FLT-20": ("18", "0")}
    assert world.exceptions() == [] and world.purchase_requests() == []
