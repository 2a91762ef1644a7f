"""What no store can keep is refused at the hub's edge, the same on SQLite and PostgreSQL.

JSON allows integers of any size and text holding NUL; SQLite and PostgreSQL stop at signed
64 bits, and PostgreSQL refuses NUL in text (SQLite would keep it). One rule
(``sync.ops.unstorable``) answers for both: a body or a query holding such a value is a 400
naming where, a path id holding a NUL names no record (404), and nothing is stored.
"""

from __future__ import annotations

import pytest

from device_agent import visit
from device_agent.agent import Agent
from device_agent.transport import InProcessTransport
from device_agent.van import NotRecorded
from hub import auth
from hub.engines import run_all
from sync.errors import InvalidOp

from .test_error_shape import SEEDED, assert_error_shape, call, routes
from .test_fuzz import hub_now_hlc, snapshot
from .test_office_api import Tablet

NUL = "nul\x00byte"


@pytest.fixture
def callers(store, seeded, device, office):
    portal = auth.create_user(store, "harbour", auth.PERMISSIONS, "cust-1")
    return {"office": office, "device": {"Authorization": f"Bearer {device[1]}"},
            "portal": {"Authorization": f"Bearer {portal}"}}


def caller_of(rule, callers):
    if rule.endpoint.startswith(("sync_api", "blobs")) and not rule.endpoint.endswith("content"):
        return callers["device"]
    return callers["portal"] if "portal" in rule.rule else callers["office"]


def refused(reply, status: int, context: str) -> list[str]:
    assert reply.status_code == status, f"{context}: {reply.status_code} {reply.get_data(as_text=True)[:300]}"
    assert_error_shape(reply, context)
    return [error["field"] for error in reply.get_json()["errors"]]


def test_a_nul_in_any_path_id_names_no_record_and_stores_nothing(app, client, store, callers):
    walked = 0
    for rule, method in routes(app):
        if "<" not in rule.rule:
            continue
        path = "/".join(NUL if part.startswith("<") else part for part in rule.rule.split("/"))
        before = snapshot(store)
        reply = call(client, method, path, {}, caller_of(rule, callers))
        assert reply.status_code in (400, 404), f"{method} {path}: {reply.status_code} {reply.get_data()[:300]}"
        assert_error_shape(reply, f"{method} {path}")
        assert snapshot(store) == before, f"{method} {path}"
        walked += 1
    assert walked > 20


def test_a_nul_in_any_query_value_is_refused_by_name(app, client, store, callers):
    refusals = 0
    for rule, method in routes(app):
        if method != "GET" or "<" in rule.rule:
            continue
        for name in ("customer_id", "status", "after", "entity"):
            reply = client.get(rule.rule, query_string={name: NUL}, headers=caller_of(rule, callers))
            if reply.status_code == 200:
                continue  # a route that reads no query (health, the description)
            assert refused(reply, 400, f"GET {rule.rule}?{name}") == [name]
            refusals += 1
    assert refusals > 40


@pytest.mark.parametrize("collection, body, field", [
    ("customers", {"name": NUL}, "name"),
    ("customers", {"name": "Harbour Hotel", "health": {"notes": [NUL]}}, "health.notes.0"),
    ("customers", {"name": "Harbour Hotel", "health": {NUL: 1}}, f"health.{NUL}"),
    ("sites", {"customer_id": "cust-1", "name": "Quay", "address": "1 Quay\x00"}, "address"),
    ("stock_locations", {"kind": "van", "name": "Van 9", "technician_ids": [NUL]}, "technician_ids.0"),
    ("tickets", {"customer_id": NUL, "title": "Leak"}, "customer_id"),
])
def test_text_with_a_nul_in_an_office_record_is_refused_by_name(client, store, seeded, office, collection, body,
                                                                 field):
    before = snapshot(store)
    assert refused(client.post(f"/api/v1/{collection}", json=body, headers=office), 400, collection) == [field]
    assert refused(client.patch(f"/api/v1/{collection}/{SEEDED[collection]}", json=body, headers=office), 400,
                   collection) == [field]
    assert snapshot(store) == before


@pytest.mark.parametrize("value, field", [(NUL, "ops.0.7.description"), (1 << 63, "ops.0.7.minutes")])
def test_a_push_holding_what_no_store_keeps_is_refused_whole(client, store, device, value, field):
    node, headers = device[0].node, {"Authorization": f"Bearer {device[1]}"}
    hlc = hub_now_hlc(client, headers)
    record = {"job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T08:00:00+00:00",
              "ended_at": "2026-11-27T08:30:00+00:00", "description": "ok", "billable": True, "category": "labour"}
    fine = [node, 1, hlc + 1, "time_log", "tl-1", "append", "", record, []]
    unfit = [node, 2, hlc + 2, "time_log", "tl-2", "append", "", {**record, field.rsplit(".", 1)[1]: value}, []]
    before = snapshot(store)
    assert refused(client.post("/api/v1/sync/push", json={"ops": [unfit, fine]}, headers=headers), 400,
                   "push") == [field]
    assert snapshot(store) == before
    reply = client.post("/api/v1/sync/push", json={"ops": [fine]}, headers=headers)
    assert reply.status_code == 200 and reply.get_json()["accepted"] == 1


def test_the_widest_integers_a_store_keeps_are_taken(client, office):
    for score in (-(1 << 63), (1 << 63) - 1):
        reply = client.post("/api/v1/customers", json={"name": "Edge Ltd", "health": {"score": score}}, headers=office)
        assert reply.status_code == 201, reply.get_json()
        assert reply.get_json()["data"]["health"] == {"score": score}


def test_a_tablet_refuses_to_record_text_with_a_nul_so_its_pushes_are_never_refused(app, client, store, seeded,
                                                                                   tmp_path):
    code = auth.create_enrolment_code(store, "technician", "tech-1", "Ana's tablet")
    agent = Agent.enrol(tmp_path / "tablet", "http://hub", code, transport=InProcessTransport(app))
    try:
        agent.sync()
        with pytest.raises(NotRecorded) as refused_record:
            visit.log_time(agent, "job-1", minutes=5, description=NUL)
        assert refused_record.value.field == "description"
        visit.check_in(agent, "job-1", visit.Fix(51.45, -2.59, 8))
        with pytest.raises(InvalidOp) as refused_field:
            visit.problem(agent, "job-1", NUL)
        assert refused_field.value.field == "problem"
        visit.log_time(agent, "job-1", minutes=5, description="replaced capacitor")
        assert agent.sync().rejected == []
    finally:
        agent.close()


def test_an_instant_at_the_calendars_end_is_quarantined_by_name_and_the_engines_run_on(client, store, seeded, device):
    tablet = Tablet(client, device)
    reply = tablet.push(tablet.record("time_log", "tl-year-1", technician_id="tech-1",
                                      started_at="0001-01-01T00:30:00+01:00", ended_at="0001-01-01T01:30:00+01:00"),
                        tablet.record("time_log", "tl-fine", technician_id="tech-1",
                                      started_at="2026-11-27T09:00:00+00:00", ended_at="2026-11-27T10:00:00+00:00"))
    assert reply["accepted"] == 1
    [(field, reason)] = [(r["field"], r["reason"]) for r in reply["rejected"]]
    assert field == "value" and "started_at: must lie between 1900 and 9000 (UTC)" in reason
    run_all(store)  # billing, SLA, inventory... read every record: none of them trips on it
    assert store.replica.entity("time_log", "tl-fine") and not store.replica.entity("time_log", "tl-year-1")
