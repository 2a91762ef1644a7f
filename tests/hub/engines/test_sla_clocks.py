"""Each SLA clock rule, at the hub: what starts, pauses and stops the response, on-site and
resolution clocks, in 24x7 and in business hours across weekends and bank holidays.

Figures are worked by hand from the seeds' tables (schema/sla_defaults.py) in the comments.
"""

from hub import auth
from schema.sla_defaults import FIELD_SERVICE
from sync.ops import APPEND, SET

from . import test_sla_support as support
from .test_sla_support import business, comment, dispatch, iso_ms, move, open_ticket, run, sla

hub_time = support.hub_time


def check_in(store, eid, job="job-1", device_time=None):
    store.write([("check_event", eid, APPEND, "", {
        "job_id": job, "technician_id": "tech-1", "direction": "in", "lat": 51.45, "lon": -2.59,
        "device_time": device_time or store.now_iso()})])


def test_24x7_response_stops_at_the_first_staff_comment_and_resolution_at_resolve(store, hub_time):
    business(store)  # service-management table, 24x7: High responds in 120 min, resolves in 480
    open_ticket(store, priority="High")  # opened 08:00
    hub_time("2026-11-27T09:10:00Z")
    comment(store, "c-1")  # a customer-visible answer from the office: 70 min after opening
    hub_time("2026-11-27T09:30:00Z")
    move(store, "ticket", "tkt-1", "assigned", "in_progress")
    hub_time("2026-11-27T17:30:00Z")
    move(store, "ticket", "tkt-1", "resolved")  # 08:00 -> 17:30 = 570 min > 480
    assert run(store) > 0
    picture = sla(store)
    assert picture["priority"] == "High" and picture["policy"] == "sla_policy:pol-1" and "onsite" not in picture
    assert picture["response"] == {
        "target_min": 120, "state": "met", "due_at": iso_ms("2026-11-27T10:00:00Z"), "elapsed_min": 70.0,
        "paused_min": 0.0, "stopped_at": iso_ms("2026-11-27T09:10:00Z"), "stopped_by": "staff comment",
        "paused": False, "as_of": iso_ms("2026-11-27T09:10:00Z")}
    assert picture["resolution"]["state"] == "missed"
    assert picture["resolution"]["elapsed_min"] == 570.0
    assert picture["resolution"]["due_at"] == iso_ms("2026-11-27T16:00:00Z")  # 08:00 + 480 min
    assert run(store) == 0


def test_internal_notes_and_the_customer_s_own_comments_are_not_a_response(store, hub_time):
    business(store)
    auth.create_user(store, "harbour", auth.PERMISSIONS, customer_id="cust-1")  # a portal user
    open_ticket(store, priority="High")
    hub_time("2026-11-27T08:10:00Z")
    comment(store, "c-1", visibility="internal")
    comment(store, "c-2", author="harbour")  # the customer chasing, on the portal
    hub_time("2026-11-27T08:45:00Z")
    move(store, "ticket", "tkt-1", "assigned")  # taken 45 min after opening
    run(store)
    assert sla(store)["response"]["stopped_at"] == iso_ms("2026-11-27T08:45:00Z")
    assert sla(store)["response"]["elapsed_min"] == 45.0
    assert sla(store)["response"]["stopped_by"] == "ticket taken"


def test_a_job_accepted_by_its_technician_is_the_first_response(store, hub_time):
    business(store)
    open_ticket(store, priority="High")
    dispatch(store)
    hub_time("2026-11-27T08:20:00Z")
    move(store, "job", "job-1", "accepted")
    run(store)
    assert sla(store)["response"]["elapsed_min"] == 20.0
    assert sla(store)["response"]["stopped_by"] == "job accepted"


def test_business_hours_run_across_a_weekend(store, hub_time):
    # Field-service table in business:GB (Mon-Fri 09:00-17:00 London): Medium responds in 240
    # working minutes, is on site by the next business day (480) and resolved in 3 (1,440).
    business(store, calendar="business:GB", table=FIELD_SERVICE)
    open_ticket(store, priority="Medium", opened_at="2026-11-27T15:00:00+00:00")  # Friday 15:00 GMT
    dispatch(store)
    hub_time("2026-11-30T09:30:00Z")
    move(store, "ticket", "tkt-1", "assigned")  # Friday 120 + Monday 30 = 150 working minutes
    hub_time("2026-11-30T10:30:00Z")
    check_in(store, "chk-1")  # Friday 120 + Monday 90 = 210
    hub_time("2026-12-02T12:00:00Z")
    move(store, "job", "job-1", "accepted", "en_route", "on_site", "completed")
    # The job's completion is the ticket's work done (the hub resolves it), so it stops the
    # resolution clock: Friday 120 + Monday 480 + Tuesday 480 + Wednesday 09:00-12:00 180 = 1,260
    # working minutes.
    run(store)
    picture = sla(store)
    assert picture["calendar"] == "business:GB"
    assert (picture["response"]["state"], picture["response"]["elapsed_min"]) == ("met", 150.0)
    # Due: 120 on Friday, the other 120 from Monday 09:00 -> Monday 11:00.
    assert picture["response"]["due_at"] == iso_ms("2026-11-30T11:00:00Z")
    assert (picture["onsite"]["state"], picture["onsite"]["elapsed_min"]) == ("met", 210.0)
    assert picture["onsite"]["due_at"] == iso_ms("2026-11-30T15:00:00Z")  # 120 Friday + 360 Monday
    assert (picture["resolution"]["state"], picture["resolution"]["elapsed_min"]) == ("met", 1260.0)
    assert picture["resolution"]["stopped_by"] == "job completed"
    # 120 + 480 + 480 = 1,080 by Tuesday's close; 360 more -> Wednesday 15:00.
    assert picture["resolution"]["due_at"] == iso_ms("2026-12-02T15:00:00Z")


def test_business_days_skip_christmas_and_boxing_day_2026(store, hub_time):
    # Low: respond within one business day (480 working minutes).
    business(store, calendar="business:GB", table=FIELD_SERVICE)
    open_ticket(store, priority="Low", opened_at="2026-12-24T16:00:00+00:00")  # Thursday 16:00
    hub_time("2026-12-29T15:00:00Z")
    move(store, "ticket", "tkt-1", "assigned")
    run(store)
    response = sla(store)["response"]
    # Thursday 60; Fri 25 (Christmas), the weekend and Mon 28 (Boxing Day observed) count
    # nothing; Tuesday 09:00-15:00 = 360: 420 working minutes, met. Due: Tuesday 16:00.
    assert (response["state"], response["elapsed_min"]) == ("met", 420.0)
    assert response["due_at"] == iso_ms("2026-12-29T16:00:00Z")


def test_the_august_bank_holiday_does_not_count_toward_on_site_arrival(store, hub_time):
    # High: on site within 240 working minutes. Opened Friday 28 Aug 16:00 BST (15:00 UTC).
    hub_time("2026-08-28T15:00:00Z")
    business(store, calendar="business:GB", table=FIELD_SERVICE)
    open_ticket(store, priority="High", opened_at="2026-08-28T15:00:00+00:00")
    dispatch(store)
    hub_time("2026-09-01T11:30:00Z")
    check_in(store, "chk-1")  # Tuesday 12:30 BST
    run(store)
    onsite = sla(store)["onsite"]
    # Friday 16:00-17:00 = 60; Monday 31 Aug is a bank holiday; Tuesday 09:00-12:30 = 210:
    # 270 > 240, missed. Due: 60 on Friday + 180 from Tuesday 09:00 BST = 12:00 BST = 11:00 UTC.
    assert (onsite["state"], onsite["elapsed_min"]) == ("missed", 270.0)
    assert onsite["due_at"] == iso_ms("2026-09-01T11:00:00Z")


def test_clocks_pause_while_the_ticket_is_on_hold(store, hub_time):
    business(store)  # High: resolution 480 min, 24x7
    open_ticket(store, priority="High")  # 08:00
    hub_time("2026-11-27T08:30:00Z")
    move(store, "ticket", "tkt-1", "assigned", "in_progress")
    hub_time("2026-11-27T10:00:00Z")
    move(store, "ticket", "tkt-1", "on_hold")  # waiting on the customer
    hub_time("2026-11-27T11:00:00Z")
    run(store)
    held = sla(store)["resolution"]
    # While on hold nothing moves: the picture is as of the pause (120 min elapsed), no due time.
    assert held["paused"] is True and held["due_at"] is None
    assert (held["state"], held["elapsed_min"], held["as_of"]) == ("running", 120.0, iso_ms("2026-11-27T10:00:00Z"))
    hub_time("2026-11-27T12:00:00Z")
    assert run(store) == 0
    hub_time("2026-11-27T12:30:00Z")
    move(store, "ticket", "tkt-1", "in_progress")  # back, after 150 min on hold
    hub_time("2026-11-27T17:00:00Z")
    move(store, "ticket", "tkt-1", "resolved")
    run(store)
    resolution = sla(store)["resolution"]
    # 08:00 -> 17:00 is 540 min, less 150 on hold = 390 <= 480: met. Due: 16:00 + 150 = 18:30.
    assert (resolution["state"], resolution["elapsed_min"], resolution["paused_min"]) == ("met", 390.0, 150.0)
    assert resolution["due_at"] == iso_ms("2026-11-27T18:30:00Z")


def test_a_pause_in_business_hours_counts_only_working_minutes(store, hub_time):
    business(store, calendar="business:GB", table=FIELD_SERVICE)  # Medium resolution: 1,440
    open_ticket(store, priority="Medium", opened_at="2026-11-27T16:00:00+00:00")  # Friday 16:00
    hub_time("2026-11-27T16:30:00Z")
    move(store, "ticket", "tkt-1", "on_hold")
    hub_time("2026-11-30T10:00:00Z")
    move(store, "ticket", "tkt-1", "open")  # back from hold on Monday 10:00
    hub_time("2026-11-30T12:00:00Z")
    move(store, "ticket", "tkt-1", "resolved")
    run(store)
    resolution = sla(store)["resolution"]
    # Working minutes Friday 16:00 -> Monday 12:00: 60 + 180 = 240; on hold Friday 16:30-17:00
    # (30) and Monday 09:00-10:00 (60) = 90; elapsed 240 - 90 = 150.
    assert (resolution["elapsed_min"], resolution["paused_min"]) == (150.0, 90.0)


def test_a_vip_customer_s_ticket_is_made_critical_once(store, hub_time):
    business(store, vip=True)
    open_ticket(store, priority="Low")  # arrived without the office API's VIP rule (synced, imported)
    hub_time("2026-11-27T08:05:00Z")
    run(store)
    assert store.replica.entity("ticket", "tkt-1")["priority"] == "Critical"
    assert sla(store)["priority"] == "Critical" and sla(store)["response"]["target_min"] == 60
    assert run(store) == 0


def test_a_contract_overrides_its_policy_and_a_ticket_without_one_gets_the_seed_table(store, hub_time):
    business(store)
    overrides = {"High": {"response_min": 30}, "calendar": "business:GB"}
    store.write([("contract", "con-1", SET, "sla_overrides", overrides)])
    open_ticket(store, priority="High")
    open_ticket(store, "tkt-2", priority="Critical", contract=None)
    run(store)
    assert sla(store)["response"]["target_min"] == 30 and sla(store)["resolution"]["target_min"] == 480
    assert sla(store)["calendar"] == "business:GB"
    # No contract: the field-service table (P1: 15 min / on site 2 h / 4 h), 24x7.
    other = sla(store, "tkt-2")
    assert other["policy"] == "table:field_service" and other["calendar"] == "24x7"
    assert [other[c]["target_min"] for c in ("response", "onsite", "resolution")] == [15, 120, 240]


def test_a_calendar_that_cannot_be_read_falls_back_to_24x7_and_says_so(store, hub_time):
    business(store, calendar="business:Atlantis")
    open_ticket(store, priority="High")
    run(store)
    assert sla(store)["calendar"] == "24x7"
    assert "business:Atlantis" in sla(store)["problems"][0]


def test_a_cancelled_ticket_stops_its_clocks_and_never_escalates(store, hub_time):
    business(store)
    open_ticket(store, priority="High")
    hub_time("2026-11-27T08:30:00Z")
    move(store, "ticket", "tkt-1", "cancelled")
    hub_time("2026-11-28T08:00:00Z")
    run(store)
    assert {sla(store)[c]["state"] for c in ("response", "resolution")} == {"cancelled"}
    assert store.replica.entity_ids("escalation") == []
