"""Retainer, end to end: Marina Leisure Centre pays £1,200.00 a month for a block of 10 hours; hours
beyond the block cost £95.00; unused hours roll over to the next month, at most 4. Two visits are
synced only after their month's invoice was sent: one moves October's carry-over, the other pushes
November over its block and lands on a supplementary invoice.

Terms (seed 000 "Retainer: monthly fee; surplus hours billed extra; carry-over configurable:
rollover cap"): each time log rounded up to 30 minutes and counted in the month it started in;
30 days to pay. SLA: no policy of its own, so the seeds' default — the field-service tier table,
24/7 (Critical: respond 15 min, on site 120, resolve 240; escalate at 75%, overdue at 1.5 x).
"""

from datetime import datetime, timedelta

from device_agent import van as van_stock

from .conftest import customer, dispatch, field_team, header, lines, work_offline


def plan(world, team, terminal, tablet, site_customer, title, priority, estimate, when):
    """The office opens a ticket at ``when``, dispatches it 10 min later with a kit, the van's
    terminal books the kit in and Ana's tablet fetches the job, both online at the depot."""
    customer_id, site, asset = site_customer
    world.at(when)
    ticket = world.post("/tickets", {"customer_id": customer_id, "site_id": site, "asset_id": asset,
                                     "title": title, "priority": priority})["id"]
    world.at((datetime.fromisoformat(when) + timedelta(minutes=10)).isoformat())
    _, job, kit = dispatch(world, team, ticket, estimate=estimate)
    world.sync(terminal)
    van_stock.receive_kit(terminal, [], kit)
    world.sync(terminal)
    world.sync(tablet)
    return ticket, job


def test_late_hours_move_the_rollover_and_bill_november_s_overage_on_a_supplementary_invoice(world):
    team = field_team(world)  # Thursday 1 Oct 2026, 07:00
    marina = customer(world, "Marina Leisure Centre")
    contract = world.post("/contracts", {
        "customer_id": marina[0], "title": "Marina support retainer", "type": "retainer",
        "rates": {"labour_rate": "85.00"}, "starts_at": "2026-10-01T00:00:00Z",
        "billing": {"period": "monthly", "retainer_fee": "1200.00", "retainer_hours": "10", "overage_rate": "95.00",
                    "carry_over": "rollover", "rollover_cap_hours": "4", "min_increment_min": 30,
                    "payment_days": 30}})["id"]
    world.move(f"/contracts/{contract}", "active")
    terminal = world.device("van", team.van, "Van 7 terminal")
    ana = world.device("technician", team.ana, "Ana's tablet")

    # -- October ---------------------------------------------------------------------------------
    # Mon 12 Oct: 10:00-14:00 = 4 h, synced the same afternoon.
    _, job1 = plan(world, team, terminal, ana, marina, "Pool hall air handler service", "Medium",
                   {"FLT-20": "4"}, "2026-10-12T09:00:00Z")
    work_offline(world, ana, job1, accept="2026-10-12T09:15:00Z", depart="2026-10-12T09:30:00Z",
                 arrive="2026-10-12T10:00:00Z", parts=[("FLT-20", "4", None)],
                 logs=[("2026-10-12T10:00:00+00:00", "2026-10-12T14:00:00+00:00", "AHU service, filters")],
                 signed="2026-10-12T14:05:00Z", done="2026-10-12T14:10:00Z")
    world.at("2026-10-12T14:30:00Z")
    world.sync(ana)
    # Fri 30 Oct: 14:00-16:10 = 2 h 10 min -> 2.5 h, and the tablet goes home for the weekend.
    _, job2 = plan(world, team, terminal, ana, marina, "Sauna heater tripping", "Low",
                   {"CAP-45": "1"}, "2026-10-30T13:00:00Z")
    work_offline(world, ana, job2, accept="2026-10-30T13:15:00Z", depart="2026-10-30T13:30:00Z",
                 arrive="2026-10-30T14:00:00Z", parts=[("CAP-45", "1", None)],
                 logs=[("2026-10-30T14:00:00+00:00", "2026-10-30T16:10:00+00:00", "heater contactor replaced")],
                 signed="2026-10-30T16:15:00Z", done="2026-10-30T16:20:00Z")

    # Mon 2 Nov 09:00: October is billed on the 4 h the hub knows: within the 10 h block, so the
    # fee alone (an overage of 0 h is no line); 10 - 4 = 6 h unused, 4 h carried (the cap).
    world.at("2026-11-02T09:00:00Z")
    world.settled()
    [october] = world.invoices()
    assert lines(october) == [("Retainer, October 2026: block of 10 h", "1", "1200.00", "1200.00")]
    world.at("2026-11-02T09:05:00Z")
    assert header(world.send(october["id"])) == (
        "INV-000001", "invoice", "sent", "1200.00", "2026-11-02T09:05:00+00:00", "2026-12-02T09:05:00+00:00")
    assert world.get(f"/contracts/{contract}")["billing_state"]["retainer"]["2026-10-01"]["carried_out_hours"] == "4"

    # 11:00 the Friday visit syncs: October used 4 + 2.5 = 6.5 h, still within the block — October's
    # invoice stands and nothing is added — but only 10 - 6.5 = 3.5 h roll over now.
    world.at("2026-11-02T11:00:00Z")
    world.sync(ana)
    world.settled()
    assert [header(inv)[:4] for inv in world.invoices()] == [("INV-000001", "invoice", "sent", "1200.00")]
    assert world.get(f"/contracts/{contract}")["billing_state"]["retainer"]["2026-10-01"] == {
        "period": "October 2026", "block_hours": "10", "carried_in_hours": "0", "used_hours": "6.5",
        "overage_hours": "0", "carried_out_hours": "3.5", "closed": True}

    # -- November --------------------------------------------------------------------------------
    # Wed 25 Nov: 08:00-12:30 (4.5 h) and 13:00-20:30 (7.5 h) = 12 h, synced that evening.
    _, job3 = plan(world, team, terminal, ana, marina, "Chiller plant overhaul", "Medium",
                   {"FAN-12": "1"}, "2026-11-25T07:30:00Z")
    work_offline(world, ana, job3, accept="2026-11-25T07:45:00Z", depart="2026-11-25T07:50:00Z",
                 arrive="2026-11-25T08:00:00Z", parts=[("FAN-12", "1", None)],
                 logs=[("2026-11-25T08:00:00+00:00", "2026-11-25T12:30:00+00:00", "chiller strip-down"),
                       ("2026-11-25T13:00:00+00:00", "2026-11-25T20:30:00+00:00", "fan motor, recommission")],
                 signed="2026-11-25T20:35:00Z", done="2026-11-25T20:40:00Z")
    world.at("2026-11-25T21:00:00Z")
    world.sync(ana)
    # Mon 30 Nov 15:00, a Critical call: 16:00-18:20 = 2 h 20 min -> 2.5 h, offline till tomorrow.
    pump, job4 = plan(world, team, terminal, ana, marina, "Pool pump failure", "Critical",
                      {"CAP-45": "1"}, "2026-11-30T15:00:00Z")
    work_offline(world, ana, job4, accept="2026-11-30T15:15:00Z", depart="2026-11-30T15:20:00Z",
                 arrive="2026-11-30T16:00:00Z", parts=[("CAP-45", "1", None)],
                 logs=[("2026-11-30T16:00:00+00:00", "2026-11-30T18:20:00+00:00", "pump capacitor, primed")],
                 signed="2026-11-30T18:25:00Z", done="2026-11-30T18:30:00Z")

    # Tue 1 Dec 09:00: November is billed on 12 h used of 10 + 3.5 carried = 13.5 h: the fee alone.
    world.at("2026-12-01T09:00:00Z")
    world.settled()
    november = world.invoices()[1]
    assert lines(november) == [("Retainer, November 2026: block of 10 h", "1", "1200.00", "1200.00")]
    world.at("2026-12-01T09:05:00Z")
    assert header(world.send(november["id"])) == (
        "INV-000002", "invoice", "sent", "1200.00", "2026-12-01T09:05:00+00:00", "2026-12-31T09:05:00+00:00")
    # The pump call as the hub sees it, with no word from the tablet (opened 15:00, dispatched 15:10):
    # on site 120 min -> near breach at 90 (16:30), breached 17:00, overdue at 180 (18:00);
    # resolution 240 min -> near breach at 180 (18:00), breached 19:00, overdue at 360 (21:00).
    # Critical is already the top priority: the breaches raise nothing.
    assert world.escalations(pump) == [
        ("onsite", "near_breach", team.ana, 90.0, "2026-11-30T16:30:00.000+00:00", None),
        ("onsite", "breached", team.lead, 120.0, "2026-11-30T17:00:00.000+00:00", "Critical"),
        ("onsite", "overdue", "service_manager", 180.0, "2026-11-30T18:00:00.000+00:00", None),
        ("resolution", "near_breach", team.ana, 180.0, "2026-11-30T18:00:00.000+00:00", None),
        ("resolution", "breached", team.lead, 240.0, "2026-11-30T19:00:00.000+00:00", "Critical"),
        ("resolution", "overdue", "service_manager", 360.0, "2026-11-30T21:00:00.000+00:00", None),
    ]
    assert world.get(f"/contracts/{contract}")["health"] == {"sla_overdue": [pump]}

    # 14:00 the tablet syncs the pump call.
    world.at("2026-12-01T14:00:00Z")
    world.sync(ana)
    world.settled()
    assert world.sla(pump)["priority"] == "Critical" and world.sla(pump)["policy"] == "table:field_service"
    assert world.clock_state(pump, "response") == ("met", 10.0, "2026-11-30T15:10:00.000+00:00", "ticket taken")
    assert world.clock_state(pump, "onsite") == ("met", 60.0, "2026-11-30T16:00:00.000+00:00", "check-in")
    assert world.clock_state(pump, "resolution") == ("met", 210.0, "2026-11-30T18:30:00.000+00:00",
                                                     "job completed")
    assert "sla_overdue" not in (world.get(f"/contracts/{contract}")["health"] or {})
    # November used 12 + 2.5 = 14.5 h of 13.5: 1 h over x 95.00 = 95.00. November's invoice was
    # sent, so the difference goes on a supplementary invoice related to it.
    supplementary = world.invoices(kind="supplementary")[0]
    assert lines(supplementary) == [
        ("Overage, November 2026: 14.5 h used of 13.5 h (10 h block + 3.5 h carried)", "1", "95.00", "95.00")]
    assert supplementary["related_invoice_id"] == november["id"]
    world.at("2026-12-01T14:10:00Z")
    assert header(world.send(supplementary["id"])) == (
        "INV-000003", "supplementary", "sent", "95.00", "2026-12-01T14:10:00+00:00", "2026-12-31T14:10:00+00:00")
    state = world.get(f"/contracts/{contract}")["billing_state"]["retainer"]
    assert state["2026-11-01"] == {
        "period": "November 2026", "block_hours": "10", "carried_in_hours": "3.5", "used_hours": "14.5",
        "overage_hours": "1", "carried_out_hours": "0", "closed": True}
    assert (state["2026-12-01"]["carried_in_hours"], state["2026-12-01"]["closed"]) == ("0", False)

    world.settled()
    # In all: 1,200.00 + 1,200.00 + 95.00 = 2,495.00 for 6.5 + 14.5 = 21 h over two months.
    assert [header(inv)[:4] for inv in world.invoices()] == [
        ("INV-000001", "invoice", "sent", "1200.00"), ("INV-000002", "invoice", "sent", "1200.00"),
        ("INV-000003", "supplementary", "sent", "95.00")]
    # Stock: four kits left the warehouse (FLT-20 20 - 4, CAP-45 10 - 1 - 1, FAN-12 4 - 1) and were
    # used up in the van exactly; every job is complete, nothing reserved.
    assert world.stock(team.van) == {"CAP-45": ("0", "0"), "FAN-12": ("0", "0"), "FLT-20": ("0", "0")}
    assert world.stock(team.warehouse) == {"CAP-45": ("8", "0"), "CMP-3": ("2", "0"), "FAN-12": ("3", "0"),
                                           "FLT-20": ("16", "0")}
    assert world.exceptions() == [] and world.purchase_requests() == []
