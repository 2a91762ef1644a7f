"""The office API as dispatchers and managers use it, and the portal as a customer does."""

import hashlib
import uuid

from hub import auth
from hub.office_records import IdFactory
from sync import hlc
from sync.ops import APPEND, MOVE, SET, VOID, Op, to_wire

from .conftest import NOW_MS
from .test_sync_api import bearer, pull_all

READ, WRITE, ASSIGN, MANAGE = (f"service_management:{p}" for p in ("read", "write", "assign", "manage"))
API = "/api/v1"


def created(client, path, body, headers):
    reply = client.post(API + path, json=body, headers=headers)
    assert reply.status_code == 201, reply.json
    return reply.json["data"]


def user(store, name, *permissions, customer_id=None):
    return bearer(auth.create_user(store, name, permissions, customer_id))


class Tablet:
    """Ops as a technician's tablet authors them offline: its own node, counters from 1, one a second."""

    def __init__(self, client, device):
        self.client = client
        self.node = device[0].node
        self.token = device[1]
        self.counter = 0

    def op(self, entity, eid, action, field="", value=None, refs=()):
        self.counter += 1
        return Op(self.node, self.counter, hlc.pack(NOW_MS + 1000 * self.counter), entity, eid, action, field, value,
                  tuple(refs))

    def record(self, entity, eid, **value):
        return self.op(entity, eid, APPEND, value={"job_id": "job-1", **value})

    def push(self, *ops):
        reply = self.client.post(API + "/sync/push", json={"ops": [to_wire(op) for op in ops]},
                                 headers=bearer(self.token))
        assert reply.status_code == 200, reply.json
        return reply.json


def at(seconds):
    return f"2026-11-27T09:00:{seconds:02d}Z"


# -- scenarios ------------------------------------------------------------------------------------------------

def test_a_dispatcher_takes_a_request_from_a_new_customer_to_a_technician_s_tablet(client, store, office):
    customer = created(client, "/customers", {"name": "Harbour Hotel", "email": "ops@harbour.example"}, office)
    site = created(client, "/sites", {"customer_id": customer["id"], "name": "Rooftop plant room",
                                      "address": "1 Quay Street, Bristol"}, office)
    asset = created(client, "/assets", {"customer_id": customer["id"], "site_id": site["id"],
                                        "product": "Rooftop AC unit", "serial": "AC-2231"}, office)
    target = {"response_min": 60, "resolution_min": 240}
    policy = created(client, "/sla_policies", {"name": "Enterprise 24/7", "targets": {
        "Low": target, "Medium": target, "High": target, "Critical": target}}, office)
    contract = created(client, "/contracts", {
        "customer_id": customer["id"], "title": "AC maintenance 2027", "type": "time_material",
        "sla_policy_id": policy["id"], "rates": {"labour_rate": "65.00", "callout_fee": "45"}, "value": "12000.00",
    }, office)
    assert contract["status"] == "draft" and contract["rates"] == {"labour_rate": "65.00", "callout_fee": "45"}
    reply = client.post(f"{API}/contracts/{contract['id']}/status", json={"status": "active"}, headers=office)
    assert reply.status_code == 200 and reply.json["data"]["status"] == "active"
    van = created(client, "/stock_locations", {"kind": "van", "name": "Van 7"}, office)
    technician = created(client, "/technicians", {"name": "Ana Silva", "skills": ["hvac", "refrigerant"],
                                                  "van_id": van["id"]}, office)

    ticket = created(client, "/tickets", {"customer_id": customer["id"], "site_id": site["id"],
                                          "asset_id": asset["id"], "title": "AC not cooling", "priority": "High"},
                     office)
    assert ticket["status"] == "open" and ticket["channel"] == "manual"
    assert ticket["contract_id"] == contract["id"]  # the customer's one active contract, and so its SLA
    assert ticket["opened_at"] == "2026-11-27T09:00:00+00:00"  # the hub's clock starts the SLA
    order = created(client, "/work_orders", {"ticket_id": ticket["id"], "required_skills": ["hvac"],
                                             "estimated_minutes": 90}, office)
    assert order["scope"] == "AC not cooling" and order["status"] == "planned"

    reply = client.post(API + "/jobs", json={"work_order_id": order["id"], "technician_id": technician["id"],
                                             "scheduled_start": "2026-11-27T13:00:00+01:00"}, headers=office)
    assert reply.status_code == 201 and reply.headers["Location"] == f"{API}/jobs/{reply.json['data']['id']}"
    job = reply.json["data"]
    assert (job["ticket_id"], job["technician_id"], job["van_id"]) == (ticket["id"], technician["id"], van["id"])
    assert job["scheduled_start"] == "2026-11-27T12:00:00+00:00" and job["status"] == "scheduled"
    assert reply.json["warnings"] == []
    assert client.get(f"{API}/tickets/{ticket['id']}", headers=office).json["data"]["status"] == "assigned"
    assert client.get(f"{API}/work_orders/{order['id']}", headers=office).json["data"]["status"] == "released"

    code = auth.create_enrolment_code(store, "technician", technician["id"], "Ana's tablet")
    _, token = auth.enrol(store, code, "Ana's tablet", "test")
    ops, _, _ = pull_all(client, token)
    received = {(op[3], op[4]) for op in ops}
    for wanted in [("job", job["id"]), ("ticket", ticket["id"]), ("asset", asset["id"]), ("contract", contract["id"]),
                   ("sla_policy", policy["id"])]:
        assert wanted in received


def test_the_job_timeline_shows_the_visit_in_time_order_with_who_voids_and_blobs(client, seeded, device, office):
    tablet = Tablet(client, device)
    photo, signature = b"\xff\xd8 photo of the new capacitor", b"signature strokes"
    photo_sha, signature_sha = hashlib.sha256(photo).hexdigest(), hashlib.sha256(signature).hexdigest()
    ops = [
        tablet.op("job", "job-1", MOVE, "status", "accepted"),
        tablet.op("job", "job-1", MOVE, "status", "en_route"),
        tablet.op("job", "job-1", MOVE, "status", "on_site"),
        tablet.record("check_event", "ce-1", technician_id="tech-1", direction="in", lat=51.45, lon=-2.59,
                      device_time=at(4)),
        tablet.record("checklist_step", "cs-1", step_id="isolate", done=True, device_time=at(5)),
        tablet.record("part_usage", "pu-1", sku="CAP-45", qty="1", location_id="van-7", device_time=at(6)),
        tablet.record("part_usage", "pu-2", sku="CAP-45", qty="1", location_id="van-7", device_time=at(7)),
    ]
    ops += [
        tablet.record("time_log", "tl-1", technician_id="tech-1", started_at=at(4), ended_at=at(40)),
        tablet.record("attachment", "at-1", sha256=photo_sha, size=len(photo), mime="image/jpeg", stage="after",
                      device_time=at(9)),
        tablet.record("signature", "sg-1", signer_name="R. Moss", image_sha256=signature_sha,
                      summary_sha256=photo_sha, signed_at=at(10)),
        tablet.op("part_usage", "pu-2", VOID, value="logged twice", refs=[ops[-1].id]),
        tablet.record("check_event", "ce-2", technician_id="tech-1", direction="out", lat=51.45, lon=-2.59,
                      device_time=at(12)),
        tablet.op("job", "job-1", MOVE, "status", "completed"),
    ]
    reply = tablet.push(*ops)
    assert reply["accepted"] == 13 and reply["rejected"] == []
    upload = client.put(f"{API}/blobs/{photo_sha}?offset=0&size={len(photo)}", data=photo, headers=bearer(tablet.token))
    assert upload.json["status"] == "verified"  # the signature image has not arrived yet
    client.post(f"{API}/tickets/tkt-1/comments", json={"visibility": "internal", "body": "Invoice at T&M rates"},
                headers=office)

    reply = client.get(f"{API}/jobs/job-1/timeline", headers=office)
    assert reply.status_code == 200
    timeline = reply.json["data"]
    events = timeline["events"]
    assert [e["kind"] for e in events] == [
        "assignment", "status", "status", "status", "check_in", "checklist_step", "part_usage", "part_usage",
        "time_log", "attachment", "signature", "check_out", "status", "comment"]
    assert [(e["from"], e["to"]) for e in events if e["kind"] == "status"] == [
        ("scheduled", "accepted"), ("accepted", "en_route"), ("en_route", "on_site"), ("on_site", "completed")]
    accepted = events[1]
    assert accepted["by"] == tablet.node and accepted["device"] == {"name": "Ana's tablet", "technician_id": "tech-1"}
    assert accepted["at"] == "2026-11-27T09:00:01.000+00:00" and accepted["hlc"] == "2026-11-27T09:00:01.000Z#0"
    assert events[0] == {**events[0], "by": "hub", "device": None, "technician_id": "tech-1"}
    kept, voided = events[6], events[7]
    assert (kept["id"], kept["voided"]) == ("pu-1", False)
    assert (voided["id"], voided["voided"], voided["void"]["reason"]) == ("pu-2", True, "logged twice")
    assert events[9]["blob"] == {"sha256": photo_sha, "status": "verified", "received": len(photo),
                                 "size": len(photo)}
    assert events[10]["blob"]["status"] == "pending"
    assert events[13]["record"]["visibility"] == "internal" and events[13]["by"] == "hub"
    assert timeline["job"]["status"] == "completed" and timeline["conflicts"] == []


def test_an_office_edit_and_an_offline_edit_of_one_job_field_are_both_kept_until_resolved(
        client, seeded, device, office):
    reply = client.patch(f"{API}/jobs/job-1", json={"completion_notes": "Call the duty manager first"}, headers=office)
    assert reply.status_code == 200
    tablet = Tablet(client, device)
    tablet.push(tablet.op("job", "job-1", SET, "completion_notes", "Replaced the run capacitor"))

    conflicts = client.get(f"{API}/conflicts?entity=job", headers=office).json["data"]
    assert [(c["field"], c["value"], c["winner_value"], c["resolved_by"]) for c in conflicts] == [
        ("completion_notes", "Call the duty manager first", "Replaced the run capacitor", None)]
    job = client.get(f"{API}/jobs/job-1", headers=office).json
    assert job["data"]["completion_notes"] == "Replaced the run capacitor" and len(job["conflicts"]) == 1
    assert client.get(f"{API}/jobs/job-1/timeline", headers=office).json["data"]["conflicts"] == conflicts

    client.patch(f"{API}/jobs/job-1", json={"completion_notes": "Replaced the run capacitor; manager told"},
                 headers=office)
    [resolved] = client.get(f"{API}/conflicts?entity=job&eid=job-1", headers=office).json["data"]
    assert resolved["resolved_by"] is not None and resolved["detail"].startswith("resolved")


def test_a_closed_ticket_cannot_be_moved_again_and_the_409_says_why(client, seeded, office):
    for target in ("in_progress", "on_hold", "in_progress", "resolved", "closed"):
        reply = client.post(f"{API}/tickets/tkt-1/status", json={"status": target}, headers=office)
        assert reply.status_code == 200 and reply.json["data"]["status"] == target
    reply = client.post(f"{API}/tickets/tkt-1/status", json={"status": "in_progress"}, headers=office)
    assert reply.status_code == 409
    assert reply.json["error"] == "cannot move ticket tkt-1 from closed to in_progress"
    assert reply.json["errors"] == [{"field": "status", "reason": "it is final"}]
    reply = client.post(f"{API}/work_orders/wo-1/status", json={"status": "completed"}, headers=office)
    assert reply.status_code == 409 and reply.json["errors"][0]["reason"] == "allowed from planned: cancelled, " \
                                                                             "on_hold, released"
    reply = client.post(f"{API}/tickets/tkt-1/status", json={"status": "reopened"}, headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "status"


def test_an_edit_changes_only_the_fields_sent(client, seeded, office):
    seeded.write([("site", "site-2", SET, "customer_id", "cust-2")])
    reply = client.patch(f"{API}/technicians/tech-1", json={"skills": ["hvac", "electrical"]}, headers=office)
    assert reply.json["data"]["skills"] == ["electrical", "hvac"] and reply.json["data"]["name"] == "Ana Silva"
    reply = client.patch(f"{API}/technicians/tech-1", json={"skills": ["electrical"], "email": "ana@fs.example"},
                         headers=office)
    assert reply.json["data"]["skills"] == ["electrical"] and reply.json["data"]["van_id"] == "van-7"
    refused = [
        ("/technicians/tech-1", {"email": "not an email"}, ["email"]),
        ("/sites/site-1", {"customer_id": "cust-2"}, ["customer_id"]),
        ("/tickets/tkt-1", {"status": "closed"}, ["status"]),
        ("/tickets/tkt-1", {"site_id": "site-2"}, ["site_id", "asset_id"]),  # another customer's; not the asset's
        ("/jobs/job-1", {"technician_id": "tech-9"}, ["technician_id"]),
    ]
    for path, body, fields in refused:
        reply = client.patch(API + path, json=body, headers=office)
        assert reply.status_code == 400 and [e["field"] for e in reply.json["errors"]] == fields, path
    reply = client.patch(f"{API}/technicians/tech-404", json={"name": "Nobody"}, headers=office)
    assert reply.status_code == 404
    assert reply.json["errors"] == [{"field": "id", "reason": "no technician with this id"}]


def test_a_record_with_bad_fields_is_refused_whole_naming_each_field(client, store, office):
    before = store.replica.canonical()
    reply = client.post(API + "/customers", json={"name": "", "email": "nope", "currency": "pounds", "colour": "red"},
                        headers=office)
    assert reply.status_code == 400
    assert {e["field"] for e in reply.json["errors"]} == {"name", "email", "currency", "colour"}
    reply = client.post(API + "/sla_policies", json={"name": "Gold", "targets": {"Low": {"response_min": 0}}},
                        headers=office)
    assert {e["field"] for e in reply.json["errors"]} >= {"targets.Low.response_min", "targets.Medium"}
    reply = client.post(API + "/sites", json={"customer_id": "cust-404", "name": "Roof", "address": "1 Quay"},
                        headers=office)
    assert reply.status_code == 400 and reply.json["errors"] == [{"field": "customer_id",
                                                                  "reason": "no customer 'cust-404'"}]
    assert store.replica.canonical() == before


def test_new_records_get_time_ordered_ids_and_money_and_instants_travel_as_utc_strings(client, store, office, clock):
    first = created(client, "/customers", {"name": "A"}, office)["id"]
    second = created(client, "/customers", {"name": "B"}, office)["id"]
    clock.ms += 1
    third = created(client, "/customers", {"name": "C"}, office)["id"]
    assert first < second < third and {uuid.UUID(i).version for i in (first, second, third)} == {7}
    item = created(client, "/items", {"sku": "CAP-45", "name": "Capacitor 45uF", "unit_cost": "4.10",
                                      "unit_price": 12.5}, office)
    assert (item["id"], item["unit_cost"], item["unit_price"]) == ("CAP-45", "4.10", "12.5")
    assert store.replica.entity("item", "CAP-45")["unit_cost"] == "4.10"
    ticket = created(client, "/tickets", {"customer_id": first, "title": "Leak",
                                          "opened_at": "2026-11-27T09:30:00+01:00"}, office)
    assert ticket["opened_at"] == "2026-11-27T08:30:00+00:00"
    reply = client.post(API + "/tickets", json={"customer_id": first, "title": "Leak",
                                                "opened_at": "2026-11-27T08:30:00"}, headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "opened_at"


def test_ids_stay_in_order_through_a_burst_in_one_millisecond_and_a_clock_stepped_back():
    make = IdFactory()
    ids = [make(NOW_MS) for _ in range(5000)] + [make(NOW_MS - 60_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {7} and {uuid.UUID(i).variant for i in ids} == {uuid.RFC_4122}


def test_a_ticket_for_a_vip_customer_is_critical_whatever_was_asked(client, seeded, office):
    client.patch(f"{API}/customers/cust-1", json={"vip": True}, headers=office)
    reply = client.post(API + "/tickets", json={"customer_id": "cust-1", "title": "Noise", "priority": "Low"},
                        headers=office)
    assert reply.json["data"]["priority"] == "Critical"
    assert reply.json["warnings"] == ["Harbour Hotel is a VIP customer: priority Low raised to Critical"]
    reply = client.post(API + "/tickets", json={"customer_id": "cust-1", "title": "Noise", "site_id": "site-9"},
                        headers=office)
    assert reply.status_code == 400 and reply.json["errors"] == [{"field": "site_id", "reason": "no site 'site-9'"}]


def test_lists_filter_tickets_by_status_and_jobs_by_technician_a_page_at_a_time(client, seeded, office):
    other = created(client, "/tickets", {"customer_id": "cust-1", "title": "Second visit"}, office)
    client.post(f"{API}/tickets/tkt-1/status", json={"status": "in_progress"}, headers=office)
    assert [t["id"] for t in client.get(f"{API}/tickets?status=open", headers=office).json["data"]] == [other["id"]]
    assert [j["id"] for j in client.get(f"{API}/jobs?technician_id=tech-1", headers=office).json["data"]] == ["job-1"]
    assert client.get(f"{API}/jobs?technician_id=tech-9", headers=office).json["data"] == []
    client.patch(f"{API}/technicians/tech-1", json={"skills": ["hvac"]}, headers=office)
    assert client.get(f"{API}/technicians?skills=hvac&active=true", headers=office).json["count"] == 1
    page = client.get(f"{API}/tickets?limit=1", headers=office).json
    assert page["count"] == 1 and page["next"] == page["data"][0]["id"]
    rest = client.get(f"{API}/tickets?limit=1&after={page['next']}", headers=office).json
    assert [t["id"] for t in rest["data"]] != [t["id"] for t in page["data"]]
    for query, field in [("colour=red", "colour"), ("limit=0", "limit"), ("active=perhaps", "active"),
                         ("opened_at=today", "opened_at")]:
        reply = client.get(f"{API}/technicians?{query}", headers=office)
        assert reply.status_code == 400 and reply.json["errors"][0]["field"] == field, query


def test_an_unknown_query_parameter_is_told_the_filters_and_the_paging_parameters(client, seeded, office):
    reply = client.get(f"{API}/customers?cursor=X", headers=office)
    assert reply.status_code == 400
    [error] = reply.json["errors"]
    assert error["field"] == "cursor" and "paging: after, limit" in error["reason"]
    assert "filters: " in error["reason"] and "name" in error["reason"]
    # A route that does not page says so, rather than taking a limit that would do nothing.
    reply = client.get(f"{API}/conflicts?limit=5", headers=office)
    assert reply.status_code == 400 and reply.json["errors"] == [
        {"field": "limit", "reason": "not a query parameter here; filters: eid, entity; this route does not page"}]


def test_a_status_filter_with_a_state_the_entity_never_has_is_refused_listing_the_states(client, store, seeded,
                                                                                          office):
    reply = client.get(f"{API}/jobs?status=flying", headers=office)
    assert reply.status_code == 400
    [error] = reply.json["errors"]
    assert error["field"] == "status" and error["reason"].startswith("flying is not a state of a job; use one of ")
    assert "scheduled" in error["reason"] and "completed" in error["reason"]
    assert client.get(f"{API}/jobs?status=scheduled", headers=office).json["count"] == 1  # a real state still lists
    portal = user(store, "harbour", READ, customer_id="cust-1")
    reply = client.get(f"{API}/portal/tickets?status=flying", headers=portal)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "status"
    for path in ("/invoices", "/tasks", "/surveys", "/purchase_requests"):
        reply = client.get(f"{API}{path}?status=flying", headers=office)
        assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "status", path
        assert "use one of" in reply.json["errors"][0]["reason"], path


def test_reassigning_a_job_moves_it_to_another_technician_and_van_and_unassigning_clears_them(
        client, seeded, office):
    van = created(client, "/stock_locations", {"kind": "van", "name": "Van 9"}, office)
    other = created(client, "/technicians", {"name": "Ben Okafor", "van_id": van["id"]}, office)
    reply = client.post(f"{API}/jobs/job-1/assign", json={"technician_id": other["id"]}, headers=office)
    assert (reply.json["data"]["technician_id"], reply.json["data"]["van_id"]) == (other["id"], van["id"])
    assert [j["id"] for j in client.get(f"{API}/jobs?technician_id={other['id']}", headers=office).json["data"]] == [
        "job-1"]
    reply = client.patch(f"{API}/jobs/job-1", json={"crew_ids": ["tech-1"]}, headers=office)
    assert reply.json["data"]["crew_ids"] == ["tech-1"]
    assert [j["id"] for j in client.get(f"{API}/jobs?crew_ids=tech-1", headers=office).json["data"]] == ["job-1"]
    reply = client.patch(f"{API}/jobs/job-1", json={"crew_ids": ["tech-1", "tech-404"]}, headers=office)
    assert reply.status_code == 400
    assert reply.json["errors"] == [{"field": "crew_ids", "reason": "no technician 'tech-404'"}]
    reply = client.post(f"{API}/jobs/job-1/unassign", headers=office)
    assert [reply.json["data"][f] for f in ("technician_id", "van_id", "crew_ids")] == [None, None, []]
    reply = client.post(f"{API}/jobs/job-1/assign", json={"technician_id": "tech-404"}, headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "technician_id"
    for target in ("en_route", "on_site", "completed"):
        client.post(f"{API}/jobs/job-1/status", json={"status": target}, headers=office)
    reply = client.post(f"{API}/jobs/job-1/assign", json={"technician_id": "tech-1"}, headers=office)
    assert reply.status_code == 409 and reply.json["error"] == "job job-1 is completed"


def test_dispatch_warns_of_missing_skills_and_refuses_a_completed_work_order(client, seeded, office):
    client.patch(f"{API}/work_orders/wo-1", json={"required_skills": ["refrigerant"]}, headers=office)
    reply = client.post(API + "/jobs", json={"work_order_id": "wo-1", "technician_id": "tech-1"}, headers=office)
    assert reply.status_code == 201 and reply.json["warnings"] == ["Ana Silva lacks required skills: refrigerant"]
    assert reply.json["data"]["van_id"] == "van-7"
    reply = client.post(API + "/jobs", json={"work_order_id": "wo-1", "ticket_id": "tkt-9"}, headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "ticket_id"
    for target in ("released", "completed"):
        client.post(f"{API}/work_orders/wo-1/status", json={"status": target}, headers=office)
    reply = client.post(API + "/jobs", json={"work_order_id": "wo-1", "technician_id": "tech-1"}, headers=office)
    assert reply.status_code == 409 and reply.json["error"] == "work order wo-1 is completed"


def test_quarantined_ops_are_listed_with_their_reasons_for_managers_only(client, store, seeded, device, office):
    tablet = Tablet(client, device)
    tablet.push(tablet.op("customer", "cust-1", SET, "name", "Renamed offline"))
    [held] = client.get(API + "/quarantine", headers=office).json["data"]
    assert held["id"] == f"{tablet.node}:1" and held["reason"] == "a technician device may not change customer records"
    reply = client.get(API + "/quarantine", headers=user(store, "dispatcher", READ, WRITE, ASSIGN))
    assert reply.status_code == 403 and reply.json["error"] == "service_management:manage is required"


# -- permissions ----------------------------------------------------------------------------------------------

def test_a_user_without_assign_cannot_dispatch_but_can_open_tickets(client, store, seeded):
    clerk = user(store, "clerk", READ, WRITE)
    for path, body in [("/jobs", {"work_order_id": "wo-1", "technician_id": "tech-1"}),
                       ("/jobs/job-1/assign", {"technician_id": "tech-1"}), ("/jobs/job-1/unassign", {}),
                       ("/jobs/job-1/status", {"status": "cancelled"})]:
        reply = client.post(API + path, json=body, headers=clerk)
        assert reply.status_code == 403, path
        assert reply.json["errors"] == [{"field": "Authorization", "reason": "clerk lacks service_management:assign"}]
    assert client.get(f"{API}/jobs/job-1", headers=clerk).status_code == 200
    assert client.post(API + "/tickets", json={"customer_id": "cust-1", "title": "Noise"}, headers=clerk).status_code \
        == 201
    assert client.post(API + "/customers", json={"name": "New"}, headers=clerk).status_code == 403


def test_a_technician_s_device_token_is_refused_on_office_routes(client, device):
    headers = bearer(device[1])
    for method, path in [("GET", "/tickets"), ("GET", "/jobs/job-1/timeline"), ("POST", "/customers"),
                         ("GET", "/portal/tickets"), ("GET", "/quarantine")]:
        reply = client.open(API + path, method=method, json={}, headers=headers)
        assert reply.status_code == 401 and reply.json["error"] == "unknown or revoked user token", path


def test_a_portal_customer_sees_only_its_own_tickets(client, store, seeded, office):
    store.write([("customer", "cust-2", SET, "name", "Other Ltd"), ("ticket", "tkt-2", SET, "customer_id", "cust-2"),
                 ("ticket", "tkt-2", SET, "title", "Their boiler")])
    portal = user(store, "harbour", READ, WRITE, customer_id="cust-1")
    listed = client.get(API + "/portal/tickets", headers=portal).json
    assert [t["id"] for t in listed["data"]] == ["tkt-1"] and "contract_id" not in listed["data"][0]
    mine = client.get(API + "/portal/tickets/tkt-1", headers=portal).json["data"]
    assert mine["visits"] == [{"id": "job-1", "status": "scheduled", "scheduled_start": None, "scheduled_end": None,
                               "technician": "Ana Silva"}]
    theirs = client.get(API + "/portal/tickets/tkt-2", headers=portal)
    assert theirs.status_code == 404 and theirs.json == client.get(API + "/portal/tickets/nope", headers=portal).json \
        | {"error": "no ticket 'tkt-2'"}
    assert client.post(API + "/portal/tickets/tkt-2/comments", json={"body": "hi"}, headers=portal).status_code == 404
    assert client.get(API + "/tickets/tkt-2", headers=portal).status_code == 403
    assert client.get(API + "/portal/tickets", headers=office).status_code == 403


def test_the_portal_shows_customer_comments_and_never_internal_notes(client, store, seeded, office):
    portal = user(store, "harbour", READ, WRITE, customer_id="cust-1")
    for visibility, body in [("internal", "Customer is slow to pay"), ("customer", "Technician booked for 13:00")]:
        client.post(f"{API}/tickets/tkt-1/comments", json={"visibility": visibility, "body": body}, headers=office)
    reply = client.post(f"{API}/portal/tickets/tkt-1/comments", json={"body": "Thanks, see you then"}, headers=portal)
    assert reply.status_code == 201 and reply.json["data"]["author"] == "harbour"
    comments = client.get(API + "/portal/tickets/tkt-1", headers=portal).json["data"]["comments"]
    assert [c["body"] for c in comments] == ["Technician booked for 13:00", "Thanks, see you then"]
    assert {"visibility", "voided"}.isdisjoint(comments[0])
    office_view = client.get(f"{API}/tickets/tkt-1/comments", headers=office).json["data"]
    assert [(c["record"]["visibility"], c["record"]["author"]) for c in office_view] == [
        ("internal", "office"), ("customer", "office"), ("customer", "harbour")]


def test_a_portal_request_opens_a_ticket_on_the_portal_channel_for_the_customer_s_own_site(client, store, seeded):
    store.write([("customer", "cust-1", SET, "vip", True), ("customer", "cust-2", SET, "name", "Other Ltd"),
                 ("site", "site-2", SET, "customer_id", "cust-2")])
    portal = user(store, "harbour", READ, WRITE, customer_id="cust-1")
    reply = client.post(API + "/portal/tickets", json={"title": "Water on the floor", "site_id": "site-1"},
                        headers=portal)
    assert reply.status_code == 201
    ticket = store.replica.entity("ticket", reply.json["data"]["id"])
    assert (ticket["customer_id"], ticket["channel"], ticket["priority"]) == ("cust-1", "portal", "Critical")
    reply = client.post(API + "/portal/tickets", json={"title": "Theirs", "site_id": "site-2"}, headers=portal)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "site_id"
    reply = client.post(API + "/portal/tickets", json={"title": "Urgent!", "priority": "Low"}, headers=portal)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "priority"
    reader = user(store, "harbour-reader", READ, customer_id="cust-1")
    assert client.post(API + "/portal/tickets", json={"title": "x"}, headers=reader).status_code == 403


def test_an_asset_stands_on_a_site_of_its_own_customer_and_a_price_is_never_negative(client, store, office):
    harbour = created(client, "/customers", {"name": "Harbour Hotel"}, office)
    bakery = created(client, "/customers", {"name": "Bakery"}, office)
    oven_room = created(client, "/sites", {"customer_id": bakery["id"], "name": "Oven room", "address": "2 Mill Lane"},
                        office)
    roof = created(client, "/sites", {"customer_id": harbour["id"], "name": "Roof", "address": "1 Quay Street"}, office)

    refused = client.post(API + "/assets", json={"customer_id": harbour["id"], "site_id": oven_room["id"],
                                                 "product": "Rooftop AC unit", "serial": "AC-1"}, headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "site_id"
    assert client.get(API + "/assets", headers=office).json["data"] == []  # nothing was stored
    unit = created(client, "/assets", {"customer_id": harbour["id"], "site_id": roof["id"],
                                       "product": "Rooftop AC unit", "serial": "AC-1"}, office)
    moved = client.patch(API + f"/assets/{unit['id']}", json={"site_id": oven_room["id"]}, headers=office)
    assert moved.status_code == 400 and moved.json["errors"][0]["field"] == "site_id"
    assert client.get(API + f"/assets/{unit['id']}", headers=office).json["data"]["site_id"] == roof["id"]

    for field in ("unit_cost", "unit_price"):
        body = {"sku": "CAP-45", "name": "Capacitor", "unit_cost": "4.10", "unit_price": "12.50", field: "-1"}
        refused = client.post(API + "/items", json=body, headers=office)
        assert refused.status_code == 400 and [e["field"] for e in refused.json["errors"]] == [field]


def test_a_ticket_cannot_be_opened_in_the_future(client, seeded, office, clock):
    late = "2099-01-28T09:00:00Z"
    refused = client.post(API + "/tickets", json={"customer_id": "cust-1", "title": "Noise", "opened_at": late},
                          headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "opened_at"
    opened = client.post(API + "/tickets", json={"customer_id": "cust-1", "title": "Noise",
                                                 "opened_at": "2026-11-20T09:00:00Z"}, headers=office)
    assert opened.status_code == 201  # a call taken earlier, entered now


def test_a_work_order_estimating_half_a_part_counted_each_is_refused_naming_the_line(client, seeded, office):
    """An estimate reserves stock: half a capacitor would reserve what no shelf holds. Cable in
    metres keeps its fractions."""
    created(client, "/items", {"sku": "CABLE-2.5", "name": "Cable 2.5mm", "unit": "m", "unit_cost": "0.40",
                                "unit_price": "1.20"}, office)
    half = {"ticket_id": "tkt-1", "parts_estimate": [{"sku": "CABLE-2.5", "qty": "1.5"},
                                                      {"sku": "CAP-45", "qty": "0.5"}]}
    reply = client.post(f"{API}/work_orders", json=half, headers=office)
    assert reply.status_code == 400
    assert [e["field"] for e in reply.json["errors"]] == ["parts_estimate.1.qty"]
    assert "whole" in reply.json["errors"][0]["reason"]
    order = created(client, "/work_orders", {**half, "parts_estimate": half["parts_estimate"][:1]}, office)
    reply = client.patch(f"{API}/work_orders/{order['id']}", json={"parts_estimate": half["parts_estimate"]},
                         headers=office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "parts_estimate.1.qty"
    kept = client.get(f"{API}/work_orders/{order['id']}", headers=office).json["data"]["parts_estimate"]
    assert kept == [{"sku": "CABLE-2.5", "qty": "1.5"}]  # nothing already stored was harmed
