"""Escalation as the service management flow sets it: near breach -> the assignee, breached -> the
team lead and one priority level up, overdue -> the service manager and the contract's health.
Each written once, however often the engine runs.

Service-management table, 24x7, High: response 120 min (near breach at 75% = 90 min, overdue at
1.5 x 120 = 180 min), resolution 480 min (near 360, overdue 720). Opened 08:00.
"""

from sync.ops import SET

from . import test_sla_support as support
from .test_sla_support import business, dispatch, escalations, iso_ms, move, open_ticket, run, sla

hub_time = support.hub_time


def ticket(store):
    return store.replica.entity("ticket", "tkt-1")


def health(store):
    return store.replica.entity("contract", "con-1").get("health")


def test_near_breach_breach_and_overdue_are_each_escalated_once(store, hub_time):
    business(store)
    open_ticket(store, priority="High")
    dispatch(store)  # tech-1, whose team lead is lead-1
    hub_time("2026-11-27T09:29:00Z")
    assert run(store) == 1  # the first SLA picture, nothing to escalate (89 of 120 min)
    assert run(store) == 0

    hub_time("2026-11-27T09:30:00Z")  # 90 min = 75% of 120
    assert run(store) == 2  # the near-breach escalation and the new picture
    assert escalations(store) == {"esc-tkt-1-response-near_breach": {
        "ticket_id": "tkt-1", "clock": "response", "level": "near_breach", "notify_role": "assignee",
        "notify_id": "tech-1", "elapsed_min": 90.0, "target_min": 120.0, "at": iso_ms("2026-11-27T09:30:00Z"),
        "note": "response clock near breach: 90 of 120 working min"}}
    assert sla(store)["response"]["state"] == "near_breach"
    assert run(store) == 0

    hub_time("2026-11-27T10:01:00Z")  # past 120 min
    assert run(store) == 3  # escalation to the team lead, priority High -> Critical, the picture
    breach = escalations(store)["esc-tkt-1-response-breached"]
    assert (breach["notify_role"], breach["notify_id"], breach["at"]) == ("team_lead", "lead-1",
                                                                         iso_ms("2026-11-27T10:00:00Z"))
    assert (breach["priority_from"], breach["priority_to"]) == ("High", "Critical")
    assert ticket(store)["priority"] == "Critical"
    # The raise calls for attention; it does not move the goalposts: High's targets still apply.
    assert sla(store)["priority"] == "High" and sla(store)["response"]["target_min"] == 120
    assert run(store) == 0

    hub_time("2026-11-27T11:00:00Z")  # 180 min = 1.5 x 120
    assert run(store) == 3  # escalation to the service manager, the picture, the contract's health
    overdue = escalations(store)["esc-tkt-1-response-overdue"]
    assert (overdue["notify_role"], overdue["notify_id"], overdue["elapsed_min"]) == ("service_manager", None, 180.0)
    assert health(store) == {"sla_overdue": ["tkt-1"]}
    assert run(store) == 0

    hub_time("2026-11-27T11:30:00Z")
    move(store, "ticket", "tkt-1", "assigned")  # answered at last: response missed (210 min)
    assert run(store) == 1  # the picture; a stopped clock escalates no further
    assert sla(store)["response"]["state"] == "missed"
    assert health(store) == {"sla_overdue": ["tkt-1"]}  # still open, and it went overdue

    hub_time("2026-11-27T12:00:00Z")
    move(store, "ticket", "tkt-1", "in_progress", "resolved")  # 240 of 480 min: resolution met
    assert run(store) == 2  # the picture and the contract's health, cleared
    assert sla(store)["resolution"]["state"] == "met"
    assert health(store) == {}
    assert sorted(escalations(store)) == ["esc-tkt-1-response-breached", "esc-tkt-1-response-near_breach",
                                          "esc-tkt-1-response-overdue"]
    assert run(store) == 0


def test_an_engine_that_first_sees_a_clock_overdue_writes_every_level_once(store, hub_time):
    business(store)
    open_ticket(store, priority="High")
    hub_time("2026-11-27T11:05:00Z")  # 185 min: past near breach, breach and overdue
    # Three escalations, one priority raise, the picture, the contract's health.
    assert run(store) == 6
    found = escalations(store)
    assert [found[f"esc-tkt-1-response-{level}"]["at"] for level in ("near_breach", "breached", "overdue")] == [
        iso_ms("2026-11-27T09:30:00Z"), iso_ms("2026-11-27T10:00:00Z"), iso_ms("2026-11-27T11:00:00Z")]
    # Nobody is assigned yet: the assignee and team lead are unknown, the records say so.
    assert found["esc-tkt-1-response-near_breach"]["notify_id"] is None
    assert run(store) == 0


def test_the_priority_goes_up_one_level_per_breach_and_only_once(store, hub_time):
    business(store)  # Low: response 480 min, resolution 72 h = 4,320 min
    open_ticket(store, priority="Low")
    for when in ("2026-11-27T16:01:00Z", "2026-11-27T18:00:00Z", "2026-11-28T08:00:00Z"):
        hub_time(when)
        run(store)
        assert ticket(store)["priority"] == "Medium"  # the response breach raised it once
    hub_time("2026-11-30T08:01:00Z")  # 72 h and a minute: the resolution clock breaches too
    run(store)
    run(store)
    assert ticket(store)["priority"] == "High"
    assert sla(store)["priority"] == "Low"  # the targets are still Low's


def test_a_priority_people_set_after_a_raise_sets_the_targets(store, hub_time):
    business(store)
    open_ticket(store, priority="Low")
    hub_time("2026-11-27T16:01:00Z")
    run(store)  # response breached: Low -> Medium
    store.write([("ticket", "tkt-1", SET, "priority", "Critical")])  # a dispatcher decides it is critical
    run(store)
    assert sla(store)["priority"] == "Critical" and sla(store)["resolution"]["target_min"] == 240


def test_the_near_breach_share_and_overdue_multiple_come_from_the_policy(store, hub_time):
    business(store, share=0.8, multiple=2.0)
    open_ticket(store, priority="High")
    hub_time("2026-11-27T09:35:00Z")  # 95 min < 80% of 120 = 96
    run(store)
    assert escalations(store) == {}
    hub_time("2026-11-27T09:36:00Z")
    run(store)
    assert list(escalations(store)) == ["esc-tkt-1-response-near_breach"]
    hub_time("2026-11-27T11:00:00Z")  # 180 min: breached, but overdue only at 2 x 120 = 240
    run(store)
    assert "esc-tkt-1-response-overdue" not in escalations(store)
    hub_time("2026-11-27T12:00:00Z")
    run(store)
    assert escalations(store)["esc-tkt-1-response-overdue"]["elapsed_min"] == 240.0


def test_the_ticket_s_assignee_hears_of_the_response_clock_and_the_technician_of_the_visit(store, hub_time):
    business(store, table={"Critical": {"response_min": 60, "onsite_min": 120, "resolution_min": 240},
                           "High": {"response_min": 60, "onsite_min": 120, "resolution_min": 240},
                           "Medium": {"response_min": 60, "onsite_min": 120, "resolution_min": 240},
                           "Low": {"response_min": 60, "onsite_min": 120, "resolution_min": 240}})
    open_ticket(store, priority="High")
    store.write([("ticket", "tkt-1", SET, "assignee_id", "lead-1")])
    dispatch(store)
    hub_time("2026-11-27T09:31:00Z")  # response 91 > 60 breached; on-site 91 >= 90 near breach
    run(store)
    found = escalations(store)
    assert found["esc-tkt-1-response-near_breach"]["notify_id"] == "lead-1"
    assert found["esc-tkt-1-onsite-near_breach"]["notify_id"] == "tech-1"
