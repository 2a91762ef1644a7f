"""Time & material, end to end: Harbour Hotel's rooftop AC fails; two technicians work it offline
and their tablets sync hours later, in reverse order of their work, after the office has resolved
the ticket and sent the invoice.

Terms (seed 000 "Time & Materials", seed 002 "actual parts at listed price"): labour £85.00/h,
each time log rounded up to a 30-minute increment, parts at list price, a £45.00 call-out per
visit, 30 days to pay; billed when the ticket is resolved. SLA: the field-service tier table
(seed 002) in a 24/7 policy — High: respond 60 min, on site 240 min, resolve 480 min.
"""

from device_agent import van as van_stock
from device_agent import visit

from .conftest import SITE_FIX, customer, dispatch, field_team, header, lines

FIELD_SERVICE_24X7 = {  # seed 002's tier table, minutes
    "Critical": {"response_min": 15, "onsite_min": 120, "resolution_min": 240},
    "High": {"response_min": 60, "onsite_min": 240, "resolution_min": 480},
    "Medium": {"response_min": 240, "onsite_min": 480, "resolution_min": 1440},
    "Low": {"response_min": 480, "onsite_min": 1440, "resolution_min": 2400},
}


def test_two_tablets_sync_late_and_in_reverse_order_and_the_invoice_is_supplemented_and_credited(world):
    # -- Friday 27 Nov 2026, 07:00: the office sets up the customer, terms and devices ------------
    world.at("2026-11-27T07:00:00Z")
    team = field_team(world)
    hotel, site, asset = customer(world, "Harbour Hotel")
    policy = world.post("/sla_policies", {"name": "Field service 24/7", "calendar": "24x7",
                                          "targets": FIELD_SERVICE_24X7})["id"]
    contract = world.post("/contracts", {
        "customer_id": hotel, "title": "Harbour Hotel AC, time & material", "type": "time_material",
        "sla_policy_id": policy, "rates": {"labour_rate": "85.00", "callout_fee": "45.00"},
        "billing": {"min_increment_min": 30, "payment_days": 30}})["id"]
    world.move(f"/contracts/{contract}", "active")
    terminal = world.device("van", team.van, "Van 7 terminal")
    ana = world.device("technician", team.ana, "Ana's tablet")
    ben = world.device("technician", team.ben, "Ben's tablet")

    # 08:00 the hotel phones; 08:10 dispatch: Ana leads with Ben as crew, a kit for Van 7.
    world.at("2026-11-27T08:00:00Z")
    ticket = world.post("/tickets", {"customer_id": hotel, "site_id": site, "asset_id": asset,
                                     "title": "AC not cooling", "priority": "High"})["id"]
    world.at("2026-11-27T08:10:00Z")
    _, job, kit = dispatch(world, team, ticket, estimate={"CAP-45": "2", "FLT-20": "2"}, crew=(team.ben,))
    world.at("2026-11-27T08:20:00Z")  # at the depot, online: the van's terminal books the kit in
    world.sync(terminal)
    van_stock.receive_kit(terminal, [], kit)
    world.sync(terminal)
    world.at("2026-11-27T08:30:00Z")
    world.sync(ana)
    world.sync(ben)
    world.run_engines()
    # The estimate is reserved where the parts are: the kit left the warehouse (10 - 2, 20 - 2)
    # and sits in Van 7, all of it held for the job.
    assert world.stock(team.van) == {"CAP-45": ("2", "2"), "FLT-20": ("2", "2")}
    assert world.stock(team.warehouse) == {"CAP-45": ("8", "0"), "CMP-3": ("2", "0"), "FAN-12": ("4", "0"),
                                           "FLT-20": ("18", "0")}

    # -- the visit, recorded offline on two tablets (a plant-room basement: no signal) --------------
    world.at("2026-11-27T08:40:00Z")
    visit.accept(ana, job)
    world.at("2026-11-27T09:30:00Z")
    visit.depart(ana, job)
    world.at("2026-11-27T10:05:00Z")
    visit.check_in(ben, job, SITE_FIX)  # Ben, driving his own car, arrives first
    world.at("2026-11-27T10:20:00Z")
    visit.check_in(ana, job, SITE_FIX)
    world.at("2026-11-27T10:50:00Z")
    visit.log_time(ben, job, start="2026-11-27T10:05:00+00:00", end="2026-11-27T10:50:00+00:00",
                   description="isolated the unit, drained the condensate")
    world.at("2026-11-27T11:00:00Z")
    warnings = [visit.use_part(ana, job, "CAP-45", 1).warnings for _ in range(3)]  # the van holds 2
    assert [len(w) for w in warnings] == [0, 0, 1] and "it now shows -1" in warnings[2][0]
    visit.use_part(ana, job, "FAN-12", 1, location=team.warehouse)  # picked up at the depot this morning
    filter_use = visit.use_part(ana, job, "FLT-20", 1).records[0]["id"]

    # 11:15 the hub has heard nothing since 08:30: on site is 195 of 240 min, past 75% (180).
    world.at("2026-11-27T11:15:00Z")
    world.run_engines()
    assert world.clock_state(ticket, "onsite")[:2] == ("near_breach", 180.0)
    assert world.escalations(ticket) == [
        ("onsite", "near_breach", team.ana, 180.0, "2026-11-27T11:00:00.000+00:00", None)]

    world.at("2026-11-27T11:30:00Z")
    visit.log_time(ana, job, start="2026-11-27T10:20:00+00:00", end="2026-11-27T11:30:00+00:00",
                   description="replaced capacitors and fan motor")
    visit.photo(ana, job, world.file("after.jpg", b"\xff\xd8 the unit cooling again"), stage="after")
    world.at("2026-11-27T11:35:00Z")
    visit.sign(ana, job, world.file("signature.png", b"\x89PNG R. Moss"), "R. Moss")
    world.at("2026-11-27T11:40:00Z")
    assert visit.complete(ana, job, "Unit cooling, 7 degC at the coil").warnings == []

    # -- 12:00 the hotel phones: it is cooling. The office resolves the ticket, knowing nothing else.
    world.at("2026-11-27T12:00:00Z")
    world.move(f"/tickets/{ticket}", "in_progress")
    world.move(f"/tickets/{ticket}", "resolved")
    world.settled()
    # No check-in has reached the hub: on site stops with the resolution, at exactly its target.
    assert world.clock_state(ticket, "onsite") == ("met", 240.0, "2026-11-27T12:00:00.000+00:00", "ticket resolved")
    assert world.invoices() == []  # resolved, but no billable work has arrived

    # -- 16:00 Ana's tablet finds a network (Ben's is still offline) -------------------------------
    world.at("2026-11-27T16:00:00Z")
    world.sync(ana)
    world.settled()
    # Ana's check-in counts when she made it, 10:20 (08:00 -> 10:20 = 140 min), not at 16:00.
    assert world.clock_state(ticket, "onsite") == ("met", 140.0, "2026-11-27T10:20:00.000+00:00", "check-in")
    # Stock: Van 7 held 2 capacitors and 3 were used: 2 - 3 = -1, never blocked, one exception and
    # a purchase request for the 1 short. The filter: 2 - 1 = 1. The fan motor came from the
    # warehouse: issued there when the job completed (4 - 1 = 3), flagged as another location's.
    # The job is complete: its reservations are released.
    assert world.stock(team.van) == {"CAP-45": ("-1", "0"), "FLT-20": ("1", "0")}
    assert world.stock(team.warehouse)["FAN-12"] == ("3", "0")
    assert world.exceptions() == [("negative_stock", team.van, "CAP-45", "1"),
                                  ("other_location", team.warehouse, "FAN-12", "1")]
    assert world.purchase_requests() == [(team.van, "CAP-45", "1", "open")]
    [invoice] = world.invoices()
    # Ana's 10:20-11:30 = 70 min -> 90 min = 1.5 h x 85.00 = 127.50; 3 x 12.50 = 37.50 on three
    # lines; 1 x 64.00; 1 x 9.00; one call-out 45.00. 127.50 + 37.50 + 64.00 + 9.00 + 45.00 = 283.00.
    assert lines(invoice) == [
        ("Labour 27 Nov 2026 10:20-11:30 (70 min, billed 90 min): replaced capacitors and fan motor",
         "1.5", "85.00", "127.50"),
        *[("Capacitor 45uF (CAP-45)", "1", "12.50", "12.50")] * 3,
        ("Condenser fan motor (FAN-12)", "1", "64.00", "64.00"),
        ("Air filter (FLT-20)", "1", "9.00", "9.00"),
        (f"Call-out, job {job}", "1", "45.00", "45.00"),
    ]
    assert header(invoice) == (None, "invoice", "draft", "283.00", None, None)

    world.at("2026-11-27T16:30:00Z")
    sent = world.send(invoice["id"])
    # Due 30 days after it was issued.
    assert header(sent) == ("INV-000001", "invoice", "sent", "283.00", "2026-11-27T16:30:00+00:00",
                            "2026-12-27T16:30:00+00:00")
    assert sent["approved_by"] == "auto: below the approval threshold"

    # -- 17:00 Ana finds the filter still boxed in the van: she voids it after the invoice went ----
    world.at("2026-11-27T17:00:00Z")
    visit.void(ana, "part_usage", filter_use, "filter not fitted, still in the van")
    world.sync(ana)
    world.settled()
    world.at("2026-11-27T17:10:00Z")
    credit = world.send(world.invoices(kind="credit_note")[0]["id"])
    # The sent invoice stands; the filter is taken back on a credit note: -1 x 9.00.
    assert lines(credit) == [("Credit: Air filter (FLT-20)", "-1", "9.00", "-9.00")]
    assert header(credit) == ("INV-000002", "credit_note", "sent", "-9.00", "2026-11-27T17:10:00+00:00",
                              "2026-12-27T17:10:00+00:00")
    assert credit["related_invoice_id"] == invoice["id"]
    assert world.stock(team.van)["FLT-20"] == ("2", "0")  # the void put it back: 1 + 1

    # -- 18:00 Ben's tablet syncs last, though he worked first ---------------------------------------
    world.at("2026-11-27T18:00:00Z")
    world.sync(ben)
    world.settled()
    # His check-in, 10:05, is now the first: on site 08:00 -> 10:05 = 125 min.
    assert world.sla(ticket) == {
        "priority": "High", "policy": f"sla_policy:{policy}", "calendar": "24x7",
        # Dispatch at 08:10 took the ticket (open -> assigned): 10 of 60 min.
        "response": {"target_min": 60, "state": "met", "due_at": "2026-11-27T09:00:00.000+00:00",
                     "elapsed_min": 10.0, "paused_min": 0.0, "stopped_at": "2026-11-27T08:10:00.000+00:00",
                     "stopped_by": "ticket taken", "paused": False, "as_of": "2026-11-27T08:10:00.000+00:00"},
        "onsite": {"target_min": 240, "state": "met", "due_at": "2026-11-27T12:00:00.000+00:00",
                   "elapsed_min": 125.0, "paused_min": 0.0, "stopped_at": "2026-11-27T10:05:00.000+00:00",
                   "stopped_by": "check-in", "paused": False, "as_of": "2026-11-27T10:05:00.000+00:00"},
        # Resolved when its work was done, Ana's job completed at 11:40 (before the office's 12:00):
        # 220 of 480 min.
        "resolution": {"target_min": 480, "state": "met", "due_at": "2026-11-27T16:00:00.000+00:00",
                       "elapsed_min": 220.0, "paused_min": 0.0, "stopped_at": "2026-11-27T11:40:00.000+00:00",
                       "stopped_by": "job completed", "paused": False, "as_of": "2026-11-27T11:40:00.000+00:00"},
    }
    # What the hub escalated at 11:15, when it knew no better, stays on record; nothing since.
    assert [e[:2] for e in world.escalations(ticket)] == [("onsite", "near_breach")]
    # Ben's 10:05-10:50 = 45 min -> 60 min = 1 h x 85.00 = 85.00, on a supplementary invoice.
    world.at("2026-11-27T18:10:00Z")
    supplementary = world.send(world.invoices(kind="supplementary")[0]["id"])
    assert lines(supplementary) == [
        ("Labour 27 Nov 2026 10:05-10:50 (45 min, billed 60 min): isolated the unit, drained the condensate",
         "1", "85.00", "85.00")]
    assert header(supplementary) == ("INV-000003", "supplementary", "sent", "85.00", "2026-11-27T18:10:00+00:00",
                                     "2026-12-27T18:10:00+00:00")
    assert supplementary["related_invoice_id"] == invoice["id"]

    # Billed once each, in all: 283.00 - 9.00 + 85.00 = 359.00 = labour 2.5 h (212.50) + parts
    # 37.50 + 64.00 + call-out 45.00.
    world.settled()
    assert [header(inv)[:4] for inv in world.invoices()] == [
        ("INV-000001", "invoice", "sent", "283.00"), ("INV-000002", "credit_note", "sent", "-9.00"),
        ("INV-000003", "supplementary", "sent", "85.00")]
    assert world.stock(team.van) == {"CAP-45": ("-1", "0"), "FLT-20": ("2", "0")}
    assert world.stock(team.warehouse) == {"CAP-45": ("8", "0"), "CMP-3": ("2", "0"), "FAN-12": ("3", "0"),
                                           "FLT-20": ("18", "0")}
    assert world.exceptions() == [("negative_stock", team.van, "CAP-45", "1"),
                                  ("other_location", team.warehouse, "FAN-12", "1")]
    assert world.purchase_requests() == [(team.van, "CAP-45", "1", "open")]
    # Every counter equals its ledger, at the van and at the warehouse.
    assert all(row["balanced"] for row in world.get("/stock/reconciliation"))
