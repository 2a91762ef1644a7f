"""The SLA as the office sees it: the open tickets' live SLA picture, one ticket's with its
escalations, and the SLA report — with the figures worked out by hand.

Service-management table, 24x7 (Critical 60/240, High 120/480, Medium 240/1,440 min). On
Friday 27 Nov 2026, the report is read at 19:00:

- t1 High, repair, opened 08:00, job for tech-1: taken 08:30 (30 min, met), resolved 12:00 (240, met)
- t2 High, installation, opened 09:00, job for tech-1: taken 11:30 (150 > 120, missed),
  resolved 18:00 (540 > 480, missed)
- t3 Critical, repair, opened 10:00, job for tech-2: taken 10:20 (20, met), resolved 13:00 (180, met)
- t4 Medium, inspection, opened 14:00, nobody on it: response 300 > 240 min, breached (running);
  resolution 300 of 1,440, running
- t0 opened a week earlier (20 Nov), outside the span asked for.
"""

from hub import auth
from sync.ops import SET

from . import test_sla_support as support
from .test_sla_support import business, dispatch, move, open_ticket, run

hub_time = support.hub_time
DAY = "2026-11-27T"


def at(hub_time, hhmm):
    hub_time(f"{DAY}{hhmm}:00Z")


def week(store, hub_time):
    business(store)
    store.write([("technician", "tech-2", SET, "name", "Ben Okafor")])
    open_ticket(store, "t0", priority="Low", opened_at="2026-11-20T09:00:00+00:00")
    for eid, priority, opened, category in (("t1", "High", "08:00", "repair"), ("t2", "High", "09:00", "installation"),
                                            ("t3", "Critical", "10:00", "repair"),
                                            ("t4", "Medium", "14:00", "inspection")):
        open_ticket(store, eid, priority=priority, opened_at=f"{DAY}{opened}:00+00:00", category=category)
    dispatch(store, "j1", "t1", "tech-1")
    dispatch(store, "j2", "t2", "tech-1")
    dispatch(store, "j3", "t3", "tech-2")
    for hhmm, moves in (("08:30", [("t1", "assigned")]), ("10:20", [("t3", "assigned")]),
                        ("11:30", [("t2", "assigned")]), ("12:00", [("t1", "in_progress"), ("t1", "resolved")]),
                        ("13:00", [("t3", "in_progress"), ("t3", "resolved")]),
                        ("18:00", [("t2", "in_progress"), ("t2", "resolved")])):
        at(hub_time, hhmm)
        for eid, target in moves:
            move(store, "ticket", eid, target)
    at(hub_time, "19:00")


def test_the_report_gives_compliance_first_response_and_breaches(store, client, office, hub_time):
    week(store, hub_time)
    reply = client.get("/api/v1/sla/report?from=2026-11-27&to=2026-11-28", headers=office)
    assert reply.status_code == 200, reply.json
    report = reply.json["data"]
    assert report["tickets"] == 4  # t0 opened before the span
    # Resolved: t1 (met), t2 (missed), t3 (met): 2 of 3 = 66.7% within SLA.
    assert report["compliance"] == {"resolved": 3, "within_sla": 2, "rate_pct": 66.7}
    # High: (30 + 150) / 2 = 90 min; Critical: 20 min; Medium has not been answered yet.
    assert report["first_response_min"] == {"High": {"tickets": 2, "mean": 90.0},
                                             "Critical": {"tickets": 1, "mean": 20.0}}
    # t2's response and resolution (tech-1, opened 09:00, installation); t4's response (nobody,
    # 14:00, inspection).
    assert report["breaches"] == {
        "total": 3, "by_agent": {"tech-1": 2, "unassigned": 1}, "by_hour": {"09": 2, "14": 1},
        "by_category": {"inspection": 1, "installation": 2}, "by_clock": {"resolution": 1, "response": 2}}
    assert report["clocks"]["response"] == {"states": {"breached": 1, "met": 2, "missed": 1}, "compliance_pct": 66.7}
    assert report["clocks"]["resolution"]["states"] == {"met": 2, "missed": 1, "running": 1}
    # Hours of day in the office's time zone: 09:00 and 14:00 UTC are 04:00 and 09:00 in New York.
    shifted = client.get("/api/v1/sla/report?from=2026-11-27T00:00Z&to=2026-11-28T00:00Z&tz=America/New_York",
                         headers=office).json["data"]
    assert shifted["breaches"]["by_hour"] == {"04": 2, "09": 1}


def test_the_open_tickets_are_listed_with_their_live_sla_and_filtered_by_state(store, client, office, hub_time):
    week(store, hub_time)
    reply = client.get("/api/v1/sla/tickets", headers=office).json
    assert [row["id"] for row in reply["data"]] == ["t0", "t4"]  # the others are resolved
    t4 = reply["data"][1]["sla"]
    # Live: 14:00 -> 19:00 = 300 min elapsed now (the stored picture says as of the breach).
    assert (t4["response"]["state"], t4["response"]["elapsed_min"], t4["resolution"]["elapsed_min"]) == (
        "breached", 300.0, 300.0)
    breached = client.get("/api/v1/sla/tickets?state=breached", headers=office).json["data"]
    assert [row["id"] for row in breached] == ["t4"]
    # t0 (Low, 7 days 10 hours = 10,680 min > 1.5 x 4,320): its resolution clock is overdue.
    overdue = client.get("/api/v1/sla/tickets?state=overdue&clock=resolution", headers=office).json["data"]
    assert [row["id"] for row in overdue] == ["t0"]
    assert client.get("/api/v1/sla/tickets?state=overdue&clock=response&priority=Medium",
                      headers=office).json["data"] == []


def test_one_ticket_shows_its_sla_and_escalations(store, client, office, hub_time):
    week(store, hub_time)
    run(store)
    found = client.get("/api/v1/sla/tickets/t4", headers=office).json["data"]
    assert found["sla"]["response"]["state"] == "breached"
    # Response: near breach at 180 min (17:00), breached past 240 (18:00); resolution not near yet.
    assert {(e["clock"], e["level"]) for e in found["escalations"]} == {("response", "near_breach"),
                                                                       ("response", "breached")}
    listed = client.get("/api/v1/sla/escalations?ticket_id=t4&level=breached", headers=office).json["data"]
    assert [(e["id"], e["notify_role"]) for e in listed] == [("esc-t4-response-breached", "team_lead")]
    assert client.get("/api/v1/sla/tickets/nope", headers=office).status_code == 404


def test_the_report_needs_the_report_permission_and_reading_needs_read(store, client, hub_time):
    reader = {"Authorization": f"Bearer {auth.create_user(store, 'reader', ['service_management:read'])}"}
    assert client.get("/api/v1/sla/tickets", headers=reader).status_code == 200
    refused = client.get("/api/v1/sla/report", headers=reader)
    assert refused.status_code == 403 and refused.json["ok"] is False
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    portal = {"Authorization": "Bearer " + auth.create_user(store, "harbour", auth.PERMISSIONS, "cust-1")}
    assert client.get("/api/v1/sla/tickets", headers=portal).status_code == 403


def test_bad_report_and_listing_parameters_are_named(client, office, hub_time):
    for query, field in (("from=yesterday", "from"), ("from=2026-11-28&to=2026-11-27", "to"),
                         ("tz=Mars/Olympus", "tz"), ("colour=red", "colour")):
        reply = client.get(f"/api/v1/sla/report?{query}", headers=office)
        assert reply.status_code == 400 and [e["field"] for e in reply.json["errors"]] == [field], query
    reply = client.get("/api/v1/sla/tickets?state=late", headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "state"
