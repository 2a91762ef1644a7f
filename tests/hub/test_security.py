"""Trust: who may write what, and what bad input can and cannot do to the hub.

Each refusal is checked three ways: the status, the one error shape, and that nothing was stored
— the replica's canonical state, every hub table and the blob folder are what they were before
(``test_fuzz.snapshot``). Accepted hostile-looking input (SQL in text fields) must be stored
verbatim, as data.
"""

from __future__ import annotations

import pytest
from marshmallow import fields, validate

from device_agent import visit
from device_agent.agent import Agent
from device_agent.transport import InProcessTransport
from hub import auth
from hub.engines.feedback import ENGINE as FEEDBACK
from hub.office_records import REFERENCES, schema_of
from sync.ops import APPEND, INCR, MOVE, SET, VOID
from sync.protocol import MAX_BATCH

from .conftest import seed_job
from .test_error_shape import assert_error_shape
from .test_fuzz import dialect, hub_now_hlc, seed_more, snapshot, table_names


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(reply, status: int, context: str = "") -> dict:
    assert reply.status_code == status, f"{context}: {reply.status_code} {reply.get_data(as_text=True)[:300]}"
    assert_error_shape(reply, context)
    return reply.get_json()


@pytest.fixture
def tablet(client, device):
    """Ana's tablet (tech-1, job-1, van-7): its node, its headers and the hub's current HLC."""
    node, headers = device[0].node, bearer(device[1])
    return node, headers, hub_now_hlc(client, headers)


@pytest.fixture
def other_tablet(client, seeded):
    """Bo's tablet (tech-2, job-2 on the same ticket, van-8)."""
    seed_job(seeded, job="job-2", technician="tech-2", van="van-8")
    code = auth.create_enrolment_code(seeded, "technician", "tech-2", "Bo's tablet")
    found, token = auth.enrol(seeded, code, "Bo's tablet", "test")
    return found.node, bearer(token)


def time_log(job: str = "job-1", technician: str = "tech-1", description: str = "replaced capacitor") -> dict:
    return {"job_id": job, "technician_id": technician, "started_at": "2026-11-27T08:00:00+00:00",
            "ended_at": "2026-11-27T08:30:00+00:00", "description": description, "billable": True,
            "category": "labour"}


def push(client, headers, ops):
    return client.post("/api/v1/sync/push", json={"ops": ops}, headers=headers)


# -- authorship and scope ---------------------------------------------------------------------------------
@pytest.mark.parametrize("author", ["hub", "other tablet", "never enrolled", "one forged in a good batch"])
def test_a_push_naming_another_author_is_refused_whole_and_stores_nothing(client, store, tablet, other_tablet,
                                                                          author):
    node, headers, hlc = tablet
    forged = {"hub": "hub", "other tablet": other_tablet[0], "never enrolled": "dev-ffffffff",
              "one forged in a good batch": other_tablet[0]}[author]
    ops = [[forged, 1, hlc, "time_log", "tl-forged", APPEND, "", time_log(), []]]
    if author == "one forged in a good batch":
        ops = [[node, 1, hlc, "time_log", "tl-mine", APPEND, "", time_log(), []],
               [forged, 2, hlc, "time_log", "tl-forged", APPEND, "", time_log(), []]]
    before = snapshot(store)
    body = refused(push(client, headers, ops), 403, author)
    assert [e["field"] for e in body["errors"]] == [f"ops.{len(ops) - 1}.node"]
    assert snapshot(store) == before


OUT_OF_SCOPE = {  # what the tablet tries: (its op from (node, hlc), the field the hub names)
    "time on a job not assigned to it": (lambda n, h: [n, 1, h, "time_log", "tl-2", APPEND, "", time_log("job-2"), []],
                                         "job_id"),
    "a customer's name": (lambda n, h: [n, 1, h, "customer", "cust-1", SET, "name", "Hacked Ltd", []], "entity"),
    "who a job is assigned to": (lambda n, h: [n, 1, h, "job", "job-1", SET, "technician_id", "tech-9", []], "field"),
    "another van's stock": (lambda n, h: [n, 1, h, "stock", "van-8:CAP-45", INCR, "on_hand", 50, []], "eid"),
    "another job's status": (lambda n, h: [n, 1, h, "job", "job-2", MOVE, "status", "cancelled", []], "eid"),
    "a void of someone else's record": (lambda n, h: [n, 1, h, "time_log", "tl-x", VOID, "", "wrong", [["hub", 1]]],
                                        "refs"),
}


@pytest.mark.parametrize("what", sorted(OUT_OF_SCOPE))
def test_an_op_outside_the_device_scope_is_quarantined_with_its_reason_and_not_applied(
        client, store, office, tablet, other_tablet, what):
    node, headers, hlc = tablet
    op, field = OUT_OF_SCOPE[what]
    wire = op(node, hlc)
    with store.reading():
        state = store.replica.canonical()
    reply = push(client, headers, [wire])
    assert reply.status_code == 200, reply.get_json()
    answer = reply.get_json()
    assert answer["accepted"] == 0 and [r["field"] for r in answer["rejected"]] == [field], what
    assert answer["rejected"][0]["id"] == [node, 1] and answer["rejected"][0]["reason"]
    with store.reading():
        assert store.replica.canonical() == state, f"{what} was applied"
    kept = client.get("/api/v1/quarantine", headers=office).get_json()["data"]
    assert [(q["id"], q["field"]) for q in kept] == [(f"{node}:1", field)]
    # Sent again (a retry): reported again, kept once.
    again = push(client, headers, [wire]).get_json()
    assert [r["field"] for r in again["rejected"]] == [field]
    assert len(client.get("/api/v1/quarantine", headers=office).get_json()["data"]) == 1
    # The tablet is not blocked: its next op, in scope, is merged.
    good = push(client, headers, [[node, 2, hlc, "time_log", "tl-ok", APPEND, "", time_log(), []]]).get_json()
    assert good["accepted"] == 1 and good["rejected"] == []


def test_another_devices_batch_replayed_with_this_devices_token_is_refused_and_stores_nothing(
        client, store, tablet, other_tablet):
    node, headers, hlc = tablet
    batch = [[node, counter, hlc + counter, "time_log", f"tl-{counter}", APPEND, "", time_log(), []]
             for counter in (1, 2, 3)]
    assert push(client, headers, batch).get_json()["accepted"] == 3
    before = snapshot(store)
    body = refused(push(client, other_tablet[1], batch), 403, "replayed by another tablet")
    assert [e["field"] for e in body["errors"]] == ["ops.0.node", "ops.1.node", "ops.2.node"]
    assert snapshot(store) == before
    # Replayed by its own author (a retry after a lost reply): nothing doubled.
    with store.reading():
        ops_before, state = store.replica.op_count(), store.replica.canonical()
    again = push(client, headers, batch).get_json()
    assert again["accepted"] == 0 and again["duplicates"] == 3
    with store.reading():
        assert (store.replica.op_count(), store.replica.canonical()) == (ops_before, state)


# -- tokens and codes -------------------------------------------------------------------------------------
DEVICE_CALLS = [("POST", "/api/v1/sync/hello", {"device_now_ms": 1}), ("POST", "/api/v1/sync/pull", {"cursor": 0}),
                ("GET", f"/api/v1/blobs/{'a' * 64}", None)]


def test_a_revoked_device_is_refused_everywhere_and_stores_nothing(client, store, tablet):
    node, headers, hlc = tablet
    auth.revoke_device(store, node)
    before = snapshot(store)
    calls = [*DEVICE_CALLS, ("POST", "/api/v1/sync/push", {"ops": [[node, 1, hlc, "time_log", "tl-1", APPEND, "",
                                                                     time_log(), []]]})]
    for method, path, sent in calls:
        answer = refused(client.open(path, method=method, json=sent, headers=headers), 401, f"{method} {path}")
        assert "revoked" in answer["error"]
    reply = client.put(f"/api/v1/blobs/{'b' * 64}?offset=0&size=3", data=b"abc", headers=headers)
    refused(reply, 401, "blob upload")
    assert snapshot(store) == before


def test_a_revoked_user_token_is_refused(client, store):
    token = auth.create_user(store, "leaver", auth.PERMISSIONS)
    assert client.get("/api/v1/tickets", headers=bearer(token)).status_code == 200
    # No command revokes a user yet: the column the check reads is set as an administrator would.
    with store.unit_of_work():
        store.conn.execute("UPDATE users SET revoked_at = ? WHERE name = ?", (store.now_iso(), "leaver"))
    before = snapshot(store)
    refused(client.get("/api/v1/tickets", headers=bearer(token)), 401, "revoked user")
    refused(client.post("/api/v1/customers", json={"name": "X"}, headers=bearer(token)), 401, "revoked user")
    assert snapshot(store) == before


def test_an_expired_used_or_unknown_enrolment_code_enrols_nothing(client, store, seeded, clock):
    expired = auth.create_enrolment_code(store, "technician", "tech-1", "old code")
    clock.ms += store.config.enrolment_ttl_s * 1000 + 1
    fresh = auth.create_enrolment_code(store, "technician", "tech-1", "new code")
    assert client.post("/api/v1/enrol", json={"code": fresh}).status_code == 201
    before = snapshot(store)
    for code, why in ((expired, "expired"), (fresh, "already used"), ("AAAA-BBBB-CCCC", "unknown")):
        body = refused(client.post("/api/v1/enrol", json={"code": code}), 403, why)
        assert why in body["error"] and body["errors"][0]["field"] == "code"
    assert snapshot(store) == before


# -- sizes ------------------------------------------------------------------------------------------------
def test_a_batch_over_the_limit_is_refused_whole_and_one_at_the_limit_is_taken(client, store, tablet):
    node, headers, hlc = tablet
    ops = [[node, c, hlc + c, "time_log", f"tl-{c}", APPEND, "", time_log(), []] for c in range(1, MAX_BATCH + 2)]
    before = snapshot(store)
    body = refused(push(client, headers, ops), 400, "oversized batch")
    assert body["errors"][0]["field"] == "ops"
    assert snapshot(store) == before
    assert push(client, headers, ops[:MAX_BATCH]).get_json()["accepted"] == MAX_BATCH


def blob_put(client, headers, name: str, offset: int, size: int, data: bytes):
    return client.put(f"/api/v1/blobs/{name}?offset={offset}&size={size}", data=data,
                      headers={**headers, "Content-Type": "application/octet-stream"})


def test_an_oversized_blob_is_refused_and_stores_nothing(client, store, tablet):
    _, headers, _ = tablet
    name, limit = "c" * 64, store.config.max_blob_bytes
    before = snapshot(store)
    body = refused(blob_put(client, headers, name, 0, limit + 1, b"x" * 16), 413, "declared size over the limit")
    assert body["errors"][0]["field"] == "size"
    body = refused(blob_put(client, headers, name, 0, 10, b"x" * 11), 400, "more bytes than declared")
    assert body["errors"][0]["field"] == "body"
    chunk = store.config.max_chunk_bytes + 1
    refused(blob_put(client, headers, name, 0, chunk, b"x" * chunk), 413, "a chunk over the limit")
    assert snapshot(store) == before
    # Half sent, then a chunk that runs past the declared end: the half stays, nothing more.
    assert blob_put(client, headers, name, 0, 10, b"x" * 6).status_code == 200
    half = snapshot(store)
    refused(blob_put(client, headers, name, 6, 10, b"x" * 5), 400, "second chunk past the end")
    assert snapshot(store) == half
    # Bytes that do not hash to the name are discarded whole.
    refused(blob_put(client, headers, name, 6, 10, b"x" * 4), 422, "wrong hash")
    assert snapshot(store) == before


TRAVERSALS = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "%252e%252e%252fetc%252fpasswd", "..\\..\\etc\\passwd", "a" * 31 + "/" + "a" * 32,
              "a" * 30 + "/../" + "a" * 30, "../" + "a" * 61, "..%2f" + "a" * 59, "A" * 64, "a" * 63 + "%00",
              "%2e%2e%2fsecret.txt" + "a" * 45]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_a_path_traversal_blob_name_reaches_no_file(client, store, tmp_path, tablet, office, name):
    _, headers, _ = tablet
    secret = tmp_path / "secret.txt"
    secret.write_text("do not touch")
    files_before = sorted((str(p), p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file())
    before = snapshot(store)
    calls = [("GET", f"/api/v1/blobs/{name}", headers, None),
             ("PUT", f"/api/v1/blobs/{name}?offset=0&size=4", headers, b"evil"),
             ("GET", f"/api/v1/blobs/{name}/content", office, None)]
    for method, path, who, data in calls:
        reply = client.open(path, method=method, headers=who, data=data)
        assert reply.status_code in (400, 404, 405), f"{method} {path}: {reply.status_code}"
        assert_error_shape(reply, f"{method} {path}")
        assert b"do not touch" not in reply.get_data()
    assert snapshot(store) == before
    assert sorted((str(p), p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file()) == files_before
    assert secret.read_text() == "do not touch"


# -- SQL-looking strings ------------------------------------------------------------------------------------
# Text with a NUL is not among them: no store keeps it, and it is refused (tests/hub/test_unstorable.py).
PAYLOADS = ["'; DROP TABLE ops; --", '" OR 1=1 --', "Robert'); DROP TABLE registers;--",
            "1; DELETE FROM devices WHERE 1=1", "' UNION SELECT token_hash FROM users --",
            "Ωmega 日本語 🚐 \u202eevil", "%s %(name)s {0} $1 ? :name", "\\'; --"]


def create_bodies(ids: dict[str, str]) -> dict[str, dict]:
    """A valid body for every office create route, naming records that exist."""
    targets = {name: {"response_min": 60, "resolution_min": 480} for name in ("Low", "Medium", "High", "Critical")}
    return {
        "customers": {"name": "Quay Bakery"},
        "contacts": {"customer_id": "cust-1", "name": "J. Smith"},
        "sites": {"customer_id": "cust-1", "name": "Bakery", "address": "2 Quay Street"},
        "assets": {"customer_id": "cust-1", "site_id": "site-1", "product": "Oven", "serial": "OV-1"},
        "sla_policies": {"name": "Gold", "targets": targets},
        "contracts": {"customer_id": "cust-1", "title": "T&M", "type": "time_material"},
        "milestones": {"contract_id": ids["projects"], "title": "Stage 2", "amount": "10.00", "sequence": 2},
        "tickets": {"customer_id": "cust-1", "title": "Leak"},
        "work_orders": {"ticket_id": "tkt-1", "scope": "Fix the leak"},
        "jobs": {"work_order_id": "wo-1", "technician_id": "tech-1"},
        "technicians": {"name": "Bo Lind"},
        "stock_locations": {"kind": "warehouse", "name": "North store"},
        "items": {"name": "Valve", "unit_cost": "1.00", "unit_price": "2.00"},
        "checklist_templates": {"name": "Annual", "steps": [{"step_id": "isolate", "text": "Isolate"}]},
        "parts_kits": {"from_location_id": ids["stock_locations"], "to_location_id": "van-7",
                       "lines": [{"sku": "CAP-45", "qty": "1"}]},
    }


ENTITY = {"customers": "customer", "contacts": "contact", "sites": "site", "assets": "asset",
          "sla_policies": "sla_policy", "contracts": "contract", "milestones": "milestone", "tickets": "ticket",
          "work_orders": "work_order", "jobs": "job", "technicians": "technician", "stock_locations": "stock_location",
          "items": "item", "checklist_templates": "checklist_template", "parts_kits": "parts_kit"}


def text_fields(entity: str, payload: str) -> dict[str, str]:
    """The free-text fields of an entity (strings with no fixed set of values, no pattern, not
    ids), each with ``payload`` cut to the length the field allows."""
    found = {}
    for name, spec in schema_of(entity).fields.items():
        if type(spec) is not fields.String or name.endswith(("_id", "_ids")) or spec.metadata.get("merge") == "status":
            continue
        if not any(isinstance(v, validate.OneOf | validate.Regexp) for v in spec.validators):
            longest = min([v.max for v in spec.validators if isinstance(v, validate.Length) and v.max] or [10_000])
            found[name] = payload[:longest]
    return found


def checked_fields(entity: str) -> list[str]:
    """Fields whose values are checked against a set, a pattern or existing records."""
    found = []
    for name, spec in schema_of(entity).fields.items():
        if (entity, name) in MISNAMED or spec.metadata.get("merge") == "status":
            continue
        patterned = isinstance(spec, fields.String) and any(
            isinstance(v, validate.OneOf | validate.Regexp) for v in spec.validators)
        if name in REFERENCES or isinstance(spec, fields.Email) or patterned:
            found.append(name)
    return found


# Refused, but with another field named: pinned by test_a_job_for_a_work_order_that_does_not_exist_names_it.
MISNAMED = {("job", "work_order_id")}


@pytest.fixture
def office_world(client, seeded, office):
    return create_bodies(seed_more(client, office))


def test_sql_in_every_text_field_of_every_create_route_is_stored_verbatim(client, store, office, office_world):
    with store.reading():
        tables = table_names(store.conn)
    created = 0
    for index, payload in enumerate(PAYLOADS):
        for collection, valid in office_world.items():
            entity = ENTITY[collection]
            texts = text_fields(entity, payload)
            body = {**valid, **texts}
            if collection == "items":
                body["sku"] = f"SKU-{index}"
            if collection == "checklist_templates":  # text inside records inside a field, too
                texts["steps"] = body["steps"] = [{"step_id": payload, "text": payload, "required": True}]
            reply = client.post(f"/api/v1/{collection}", json=body, headers=office)
            assert reply.status_code == 201, f"{collection} {payload!r}: {reply.get_json()}"
            eid = reply.get_json()["data"]["id"]
            stored = client.get(f"/api/v1/{collection}/{eid}", headers=office).get_json()["data"]
            assert {name: stored[name] for name in texts} == texts, collection
            created += 1
        comment = client.post("/api/v1/tickets/tkt-1/comments", json={"visibility": "internal", "body": payload},
                              headers=office)
        assert comment.status_code == 201 and comment.get_json()["data"]["body"] == payload
    with store.reading():
        assert table_names(store.conn) == tables
        if dialect(store.conn) == "sqlite":
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert created == len(PAYLOADS) * len(office_world)
    assert client.get("/api/v1/customers?limit=1000", headers=office).get_json()["count"] == 1 + len(PAYLOADS)


def test_sql_in_a_checked_field_is_refused_by_name_and_stores_nothing(client, store, office, office_world):
    tried = 0
    for collection, valid in office_world.items():
        for name in checked_fields(ENTITY[collection]):
            before = snapshot(store)
            body = {**valid, name: PAYLOADS[0]}
            reply = client.post(f"/api/v1/{collection}", json=body, headers=office)
            answer = refused(reply, 400, f"{collection}.{name}")
            assert name in {e["field"].split(".")[0] for e in answer["errors"]}, f"{collection}.{name}: {answer}"
            assert snapshot(store) == before
            tried += 1
    assert tried > 20


def test_a_job_for_a_work_order_that_does_not_exist_names_it(client, store, office, seeded):
    answer = refused(client.post("/api/v1/jobs", json={"work_order_id": "wo-404", "technician_id": "tech-1"},
                                 headers=office), 400, "dispatch")
    assert [e["field"] for e in answer["errors"]] == ["work_order_id"]


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_sql_in_a_filter_or_an_id_finds_nothing(client, store, office, seeded, payload):
    listed = client.get("/api/v1/tickets", query_string={"customer_id": payload}, headers=office)
    assert listed.status_code == 200 and listed.get_json()["data"] == []
    listed = client.get("/api/v1/jobs", query_string={"technician_id": payload}, headers=office)
    assert listed.status_code == 200 and listed.get_json()["data"] == []
    refused(client.get(f"/api/v1/tickets/{payload}", headers=office), 404, "id")


def test_sql_recorded_on_a_tablet_reaches_the_hub_verbatim(app, client, store, office, seeded, tmp_path):
    code = auth.create_enrolment_code(store, "technician", "tech-1", "Ana's tablet")
    agent = Agent.enrol(tmp_path / "tablet", "http://hub", code, transport=InProcessTransport(app))
    try:
        agent.sync()
        recorded = []
        for payload in PAYLOADS:
            recorded += visit.log_time(agent, "job-1", minutes=5, description=payload).records
            recorded += visit.use_part(agent, "job-1", "CAP-45", "1", note=payload).records
            recorded += visit.comment(agent, "job-1", payload, internal=True).records
        visit.check_in(agent, "job-1", visit.Fix(51.45, -2.59, 8))
        visit.problem(agent, "job-1", PAYLOADS[0])
        summary = agent.sync()
        assert summary.rejected == []
        with store.reading():
            for record in recorded:
                assert store.replica.entity(record["entity"], record["id"])["value"] == record["value"]
        assert client.get("/api/v1/jobs/job-1", headers=office).get_json()["data"]["problem"] == PAYLOADS[0]
        timeline = strings(client.get("/api/v1/jobs/job-1/timeline", headers=office).get_json())
        assert set(PAYLOADS) <= timeline
    finally:
        agent.close()


def strings(value) -> set[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(strings, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(strings, value)) if value else set()
    return set()


@pytest.mark.parametrize("where", ["entity", "eid", "field"])
def test_sql_in_an_ops_names_is_data_or_quarantine_never_a_query(client, store, tablet, where):
    node, headers, hlc = tablet
    with store.reading():
        tables = table_names(store.conn)
    for counter, payload in enumerate(PAYLOADS[:5], 1):
        entity, eid, field = "time_log", f"tl-{counter}", ""
        if where == "entity":
            entity = payload
        elif where == "eid":
            eid = payload
        else:
            entity, eid, field = "job", "job-1", payload
        op = [node, counter, hlc, entity, eid, APPEND if field == "" else SET, field,
              time_log() if field == "" else "x", []]
        reply = push(client, headers, [op])
        assert reply.status_code in (200, 400), reply.get_json()
        if reply.status_code == 400:
            assert_error_shape(reply, where)
        elif where == "eid":
            assert reply.get_json()["accepted"] == 1
            with store.reading():
                assert store.replica.entity("time_log", payload)["value"] == time_log()
        else:
            assert reply.get_json()["rejected"], f"{where} {payload!r} was merged"
    with store.reading():
        assert table_names(store.conn) == tables


# -- the portal -------------------------------------------------------------------------------------------
@pytest.fixture
def two_customers(seeded, clock):
    """tkt-1 (Harbour Hotel) and tkt-2 (Quay Bakery) closed, each with its CSAT survey sent."""
    seeded.write([
        ("customer", "cust-2", SET, "name", "Quay Bakery"),
        ("ticket", "tkt-2", SET, "customer_id", "cust-2"), ("ticket", "tkt-2", SET, "title", "Oven door"),
        ("ticket", "tkt-2", SET, "opened_at", "2026-11-26T08:00:00+00:00"),
        ("ticket", "tkt-2", MOVE, "status", "resolved"), ("ticket", "tkt-2", MOVE, "status", "closed"),
        ("ticket", "tkt-1", MOVE, "status", "resolved"), ("ticket", "tkt-1", MOVE, "status", "closed"),
    ])
    FEEDBACK.run(seeded, clock())
    return bearer(auth.create_user(seeded, "harbour", ["service_management:read", "service_management:write"],
                                   "cust-1"))


def same_as_missing(client, method: str, path: str, missing_path: str, headers, json=None) -> None:
    """Another customer's record answers exactly as a record that does not exist."""
    theirs = client.open(path, method=method, headers=headers, json=json)
    missing = client.open(missing_path, method=method, headers=headers, json=json)
    body, expected = refused(theirs, 404, path), refused(missing, 404, missing_path)
    assert {**body, "error": ""} == {**expected, "error": ""}


def test_a_portal_customer_cannot_read_or_touch_another_customers_ticket_or_survey(client, store, two_customers):
    harbour = two_customers
    assert [t["id"] for t in client.get("/api/v1/portal/tickets", headers=harbour).get_json()["data"]] == ["tkt-1"]
    assert [s["id"] for s in client.get("/api/v1/portal/surveys", headers=harbour).get_json()["data"]] == [
        "csat-tkt-1"]
    before = snapshot(store)
    same_as_missing(client, "GET", "/api/v1/portal/tickets/tkt-2", "/api/v1/portal/tickets/tkt-404", harbour)
    same_as_missing(client, "POST", "/api/v1/portal/tickets/tkt-2/comments", "/api/v1/portal/tickets/tkt-404/comments",
                    harbour, {"body": "what about my oven?"})
    same_as_missing(client, "POST", "/api/v1/portal/surveys/csat-tkt-2/response",
                    "/api/v1/portal/surveys/csat-tkt-404/response", harbour, {"score": 1})
    refused(client.get("/api/v1/portal/tickets?customer_id=cust-2", headers=harbour), 400, "customer filter")
    for path in ("/api/v1/tickets/tkt-2", "/api/v1/surveys", "/api/v1/customers/cust-2"):
        refused(client.get(path, headers=harbour), 403, path)
    assert snapshot(store) == before


# -- permissions ----------------------------------------------------------------------------------------------
def routes_needing(client, permission: str | None = None):
    """(method, path with bogus ids, permission) of every route that needs a user permission."""
    described = client.get("/api/v1/openapi.json").get_json()
    for path, item in described["paths"].items():
        for method, operation in item.items():
            needed = operation.get("x-permission")
            if needed and (permission is None or needed == permission) and not operation.get("x-portal"):
                concrete = path.replace("{eid}", "x").replace("{survey_id}", "x").replace("{task_id}", "x")
                yield method.upper(), concrete.replace("{sha256}", "a" * 64), needed


def test_a_technician_tablet_cannot_call_a_billing_route(client, store, tablet):
    _, headers, _ = tablet
    billing = list(routes_needing(client, "service_management:billing"))
    assert len(billing) >= 8
    before = snapshot(store)
    for method, path, _ in billing:
        refused(client.open(path, method=method, headers=headers, json={}), 401, f"{method} {path}")
    assert snapshot(store) == before


def test_an_office_user_lacking_a_routes_permission_is_refused_with_403(client, store):
    tokens = {permission: auth.create_user(store, f"no-{permission.split(':')[1]}",
                                           [p for p in auth.PERMISSIONS if p != permission])
              for permission in auth.PERMISSIONS}
    before = snapshot(store)
    walked = 0
    for method, path, permission in routes_needing(client):
        body = refused(client.open(path, method=method, headers=bearer(tokens[permission]), json={}), 403,
                       f"{method} {path} without {permission}")
        assert permission in body["error"]
        walked += 1
    assert walked > 60
    assert snapshot(store) == before
