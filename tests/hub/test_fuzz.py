"""Every hub route fuzzed from the hub's own OpenAPI description (schemathesis + hypothesis).

For each operation in ``GET /api/v1/openapi.json`` schemathesis generates requests — bodies,
query strings and path values that fit the description (positive) and that break it (negative)
— and sends them in process to the Flask app as the caller the route is for: an office user
holding every permission, an enrolled technician tablet, or a portal customer. Half the time a
path id or a body's ``*_id`` is swapped for a record that exists, so requests get past the
lookups into the checks behind them. For every request:

- no 5xx, ever;
- every 4xx is the one error shape (``tests/hub/test_error_shape.py``);
- a refused request stores nothing: the replica's ``canonical()`` state, every hub table and the
  blob folder are byte-for-byte what they were before it (and so after any GET);
- a caller the route is not for (a tablet on an office route, an office user on a device or
  portal route, a customer on the office API) is refused with 401 or 403.

``FIELDSYNC_FUZZ_EXAMPLES`` (default 4) is the examples per route and mode for the caller the route
is for (the walk marked slow runs five times as many); each other caller gets a quarter of that, one
at least.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from hub import auth
from hub.app import create_app, store_of
from hub.office_records import REFERENCES, schema_of
from schema import SCHEMAS
from sync.ops import ACTIONS, APPEND

from .test_error_shape import assert_error_shape

EXAMPLES = int(os.environ.get("FIELDSYNC_FUZZ_EXAMPLES", "4"))
DEEP = 5 * EXAMPLES  # the slow walk
# On PostgreSQL the deep walk sends twice the walk's requests, not five times: the routes and the
# validation are the same code on both backends, the storage is what differs, and five times on
# PostgreSQL alone would take CI four minutes.
DEEP_ON_POSTGRESQL = 2 * EXAMPLES


# Money and quantities are decimal strings ("12.50"); without this schemathesis would send any text.
schemathesis.openapi.format("decimal", st.decimals(-10**6, 10**6, places=2, allow_nan=False,
                                                   allow_infinity=False).map(str))
HEX = "0123456789abcdef"


def _describe() -> schemathesis.BaseSchema:
    """The hub's OpenAPI description, read from a throwaway hub, as a schemathesis schema."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"database": Path(folder) / "hub.db"})
        try:
            return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        finally:
            store_of(app).close()


SCHEMA = _describe()
OPERATIONS = {(op.method.upper(), op.path): op for op in (found.ok() for found in SCHEMA.get_all_operations())}


def audience(operation: Any) -> str:
    """Who a route is for: "device", "portal", "office", or "anyone"."""
    definition = operation.definition.raw
    security = definition.get("security")
    if security == []:
        return "anyone"
    if security == [{"device": []}]:
        return "device"
    return "portal" if definition.get("x-portal") else "office"


# -- the world the requests land in ------------------------------------------------------------------
def seed_more(client, office: dict[str, str]) -> dict[str, str]:
    """Beside the seeded job: a warehouse, an SLA policy, a project with a milestone, a contract, a contact,
    a checklist template and a kit — so every collection has one record to find. Returns the ids
    by collection (path segment)."""
    targets = {name: {"response_min": 60, "resolution_min": 480} for name in ("Low", "Medium", "High", "Critical")}
    bodies = [
        ("stock_locations", {"kind": "warehouse", "name": "Central store"}),
        ("sla_policies", {"name": "Gold", "targets": targets}),
        # A project billed by milestone holds the milestones (its id under "projects"); the one
        # under "contracts" is the time and material contract.
        ("projects", {"customer_id": "cust-1", "title": "Plant room refit", "type": "milestone"}),
        ("milestones", lambda ids: {"contract_id": ids["projects"], "title": "Stage 1", "amount": "100.00",
                                    "sequence": 1}),
        ("contracts", lambda ids: {"customer_id": "cust-1", "title": "Time and material", "type": "time_material",
                                   "sla_policy_id": ids["sla_policies"], "rates": {"labour_rate": "60.00"}}),
        ("contacts", {"customer_id": "cust-1", "name": "J. Smith"}),
        ("checklist_templates", {"name": "Annual service", "steps": [{"step_id": "isolate", "text": "Isolate"}]}),
        ("parts_kits", lambda ids: {"from_location_id": ids["stock_locations"], "to_location_id": "van-7",
                                    "lines": [{"sku": "CAP-45", "qty": "1"}]}),
    ]
    ids: dict[str, str] = {}
    for collection, body in bodies:
        path = "contracts" if collection == "projects" else collection
        reply = client.post(f"/api/v1/{path}", json=body(ids) if callable(body) else body, headers=office)
        assert reply.status_code == 201, reply.get_json()
        ids[collection] = reply.get_json()["data"]["id"]
    return ids


KNOWN = {"jobs": "job-1", "tickets": "tkt-1", "work_orders": "wo-1", "technicians": "tech-1", "customers": "cust-1",
         "sites": "site-1", "assets": "asset-1", "stock_locations": "van-7", "items": "CAP-45"}
# The collection a reference field's entity lives in.
COLLECTION = {"customer": "customers", "site": "sites", "asset": "assets", "contract": "contracts",
              "sla_policy": "sla_policies", "ticket": "tickets", "work_order": "work_orders", "job": "jobs",
              "technician": "technicians", "stock_location": "stock_locations"}


@pytest.fixture
def world(app, store, client, seeded, device, office):
    """The callers, and the id of one existing record per collection."""
    known = {**KNOWN, **seed_more(client, office), "portal": "tkt-1"}
    portal = auth.create_user(store, "harbour", auth.PERMISSIONS, "cust-1")
    callers = {"office": office, "device": {"Authorization": f"Bearer {device[1]}"},
               "portal": {"Authorization": f"Bearer {portal}"}}
    return callers, known


def snapshot(store) -> tuple[Any, ...]:
    """Everything a request could have stored: the merged state, every table, the blob files."""
    with store.reading():
        state = store.replica.canonical()
        tables = {name: sorted(map(repr, store.conn.execute(f'SELECT * FROM "{name}"').fetchall()))
                  for name in table_names(store.conn)}
    blobs = sorted((str(p.relative_to(store.config.blobs)), p.stat().st_size)
                   for p in store.config.blobs.rglob("*") if p.is_file())
    return state, tables, blobs


def dialect(conn: Any) -> str:
    """``sqlite`` or ``postgresql``: the hub's connection (or its adapter) says which."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else getattr(conn, "dialect", "sqlite")


def table_names(conn: Any) -> list[str]:
    if dialect(conn) == "sqlite":
        return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")]


# -- sending ----------------------------------------------------------------------------------------
def aim(case: Any, known: dict[str, str], data: st.DataObject) -> None:
    """Swap, each with even odds, path values and body references for ids of existing records,
    blob names for SHA-256 digests, and numeric query values for numbers."""
    segments = case.path.split("/")
    for index, segment in enumerate(segments):
        name = segment.strip("{}")
        if segment.startswith("{") and name in case.path_parameters and data.draw(st.booleans()):
            collection = segments[index - 1]
            if collection in known:
                case.path_parameters[name] = known[collection]
            elif name == "sha256":
                case.path_parameters[name] = data.draw(st.text(HEX, min_size=64, max_size=64))
    for name in ("offset", "size", "limit", "cursor"):
        if isinstance(case.query, dict) and name in case.query and data.draw(st.booleans()):
            case.query[name] = str(data.draw(st.integers(-2, 5000)))
    if isinstance(case.body, dict):
        for name in list(case.body):
            entity = REFERENCES.get(name)
            if entity and COLLECTION.get(entity) in known and data.draw(st.booleans()):
                case.body[name] = known[COLLECTION[entity]]


# Bugs found by this fuzzing and not fixed yet, each pinned by a strict xfail test: a case they
# explain is set aside (hypothesis ``reject``) instead of failing the walk. Remove the entry when
# its test starts passing. (status, method, predicate on the case, the test that pins it)
KNOWN_BUGS: list[tuple[int, str, Callable[[Any], bool], str]] = []


def send(client, store, case: Any, headers: dict[str, str], context: str):
    before = snapshot(store)
    request = case.as_transport_kwargs(headers=headers)
    if not headers:
        request["headers"].pop("Authorization", None)
    reply = client.open(**request)
    where = f"{context}: {case.method} {case.formatted_path} query={case.query!r} body={case.body!r:.300}"
    if any(reply.status_code == status and case.method.upper() == method and applies(case)
           for status, method, applies, _ in KNOWN_BUGS):
        reject()
    assert reply.status_code < 500, f"{where}\n-> {reply.status_code} {reply.get_data(as_text=True)[:500]}"
    if reply.status_code >= 400:
        assert_error_shape(reply, where)
    if reply.status_code >= 400 or case.method.upper() == "GET":
        assert snapshot(store) == before, f"{where}\n-> {reply.status_code}, and something was stored"
    return reply


def fuzz(operation: Any, mode: GenerationMode, examples: int, run_one) -> int:
    """Run ``examples`` generated cases of ``operation`` through ``run_one(case, data)``."""
    ran = 0

    @settings(max_examples=examples, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def example(case: Any, data: st.DataObject) -> None:
        nonlocal ran
        ran += 1
        run_one(case, data)

    try:
        example()
    except Unsatisfiable:
        # Negative mode on a route with no parameters and no body: there is nothing to break.
        if mode != GenerationMode.NEGATIVE or ran:
            raise
    return ran


def group(path: str) -> str:
    """Routes are fuzzed a collection at a time (one hub each): ``/api/v1/tickets/{eid}`` -> tickets."""
    return path.removeprefix("/api/v1/").split("/")[0]


GROUPS: dict[str, list[tuple[str, str]]] = {}
for _key in sorted(OPERATIONS):
    GROUPS.setdefault(group(_key[1]), []).append(_key)


@pytest.mark.parametrize("examples", [pytest.param(EXAMPLES, id="walk"),
                                      pytest.param(DEEP, id="deep", marks=pytest.mark.slow)])
@pytest.mark.parametrize("collection", sorted(GROUPS))
def test_generated_requests_never_fail_the_hub_nor_store_anything_when_refused(world, client, store, collection,
                                                                              examples, backend):
    callers, known = world
    if backend == "postgresql" and examples == DEEP:
        examples = DEEP_ON_POSTGRESQL
    foreign = max(1, examples // 4)
    counts = {}
    for method, path in GROUPS[collection]:
        operation = OPERATIONS[method, path]
        meant_for = audience(operation)
        ran = 0
        for who, headers in callers.items():
            own = meant_for in (who, "anyone")

            def run_one(case: Any, data: st.DataObject, who: str = who, headers: dict = headers,
                        own: bool = own) -> None:
                aim(case, known, data)
                reply = send(client, store, case, headers, f"as {who}")
                if not own:
                    assert reply.status_code in (401, 403), f"{who} on {case.method} {case.path}: {reply.status_code}"

            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if own else (GenerationMode.POSITIVE,):
                ran += fuzz(operation, mode, examples if own else foreign, run_one)
        counts[f"{method} {path}"] = ran
    assert all(counts.values()), counts
    print(f"{collection}: " + ", ".join(f"{route} x{n}" for route, n in counts.items()))



# -- well-formed pushes of any content ------------------------------------------------------------------------
# JSON values a tablet could send: any integer (beyond 64 bits refuses the batch whole) and any
# text (with a NUL, likewise).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10)
ENTITIES = sorted(SCHEMAS)


@st.composite
def record_like(draw, entity: str) -> dict[str, Any]:
    """A record of ``entity`` with its own field names, on the tablet's job, and any values."""
    names = list(schema_of(entity).fields)
    record = draw(st.dictionaries(st.sampled_from(names) if names else st.text(max_size=8), JSON, max_size=6))
    if draw(st.booleans()):
        record.update({"job_id": "job-1", "ticket_id": "tkt-1", "location_id": "van-7"})
    return record


def valid_records() -> dict[str, dict[str, Any]]:
    """One record a technician on job-1 may append, per kind."""
    times = {"started_at": "2026-11-27T08:00:00+00:00", "ended_at": "2026-11-27T08:30:00+00:00"}
    return {
        "time_log": {"job_id": "job-1", "technician_id": "tech-1", **times, "description": "repair",
                     "billable": True, "category": "labour"},
        "check_event": {"job_id": "job-1", "technician_id": "tech-1", "direction": "in", "lat": 51.45, "lon": -2.59,
                        "accuracy_m": 8, "device_time": times["started_at"]},
        "ticket_comment": {"ticket_id": "tkt-1", "visibility": "customer", "body": "back Thursday",
                           "author": "Ana", "written_at": times["started_at"]},
        "part_usage": {"job_id": "job-1", "sku": "CAP-45", "qty": "1", "location_id": "van-7",
                       "technician_id": "tech-1", "note": "", "device_time": times["started_at"]},
    }


@st.composite
def nearly_valid_op(draw) -> tuple[str, str, str, str, Any]:
    """(entity, eid, action, field, value) a tablet may write, with one thing perhaps changed."""
    records = valid_records()
    choice = draw(st.sampled_from([*sorted(records), "stock", "status", "notes"]))
    if choice == "stock":
        return "stock", "van-7:CAP-45", "incr", "on_hand", draw(st.integers(-50, 50) | JSON)
    if choice == "status":
        return "job", "job-1", "move", "status", draw(st.sampled_from(["accepted", "en_route", "on_site",
                                                                      "completed", "cancelled"]) | JSON)
    if choice == "notes":
        return "job", "job-1", "set", "completion_notes", draw(st.text(max_size=40) | JSON)
    record = dict(records[choice])
    if draw(st.booleans()):
        record[draw(st.sampled_from(sorted(record)) | st.text(max_size=8))] = draw(JSON)
    return choice, draw(st.uuids().map(str)), "append", "", record


@st.composite
def pushed_op(draw, node: str, counter: int, hlc: int) -> list[Any]:
    skew = draw(st.sampled_from([0, 0, 0, -(3600_000 << 16), 3600_000 << 16]))
    if draw(st.booleans()):
        entity, eid, action, field, value = draw(nearly_valid_op())
        return [node, counter, hlc + skew + counter, entity, eid, action, field, value, []]
    entity = draw(st.sampled_from(ENTITIES) | st.text(min_size=1, max_size=12))
    names = list(schema_of(entity).fields) if entity in SCHEMAS else []
    field = draw(st.sampled_from(["", *names]) if names else st.text(max_size=12))
    action = draw(st.sampled_from(sorted(ACTIONS)))
    value = draw(record_like(entity) if action == APPEND and entity in SCHEMAS else JSON)
    eid = draw(st.sampled_from(["job-1", "job-1", "tkt-1", "van-7:CAP-45", "cust-1"]) | st.text(min_size=1,
                                                                                              max_size=20))
    refs = draw(st.lists(st.tuples(st.sampled_from([node, "hub", "dev-00000000"]), st.integers(1, 200))
                         .map(list), max_size=2))
    return [node, counter, hlc + skew + counter, entity, eid, action, field, value, refs]


def test_well_formed_pushes_of_any_content_never_fail_the_hub(client, store, office, device):
    """A tablet's batches, well formed but holding anything (any entity, field, action and JSON
    value, refs to anyone, clocks an hour off): answered 200 with every op accepted, refused with
    its reason (and kept in quarantine) or a duplicate — or refused whole in the error shape with
    nothing stored. Never a 5xx."""
    node, headers = device[0].node, {"Authorization": f"Bearer {device[1]}"}
    hlc = hub_now_hlc(client, headers)
    sent: list[tuple[list[Any], str]] = []  # every op sent so far, with what the hub said of it

    @settings(max_examples=EXAMPLES * 10, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def batch(data: st.DataObject) -> None:
        drawn = [data.draw(pushed_op(node, 0, hlc)) for _ in range(data.draw(st.integers(1, 4)))]
        # One batch in four is a retry: ops sent before, exactly as they were. Picked by a drawn
        # share of what was sent, so what is generated does not depend on what ran before.
        again = data.draw(st.integers(0, 3)) == 0
        shares = [data.draw(st.floats(0, 1, exclude_max=True)) for _ in drawn]
        if again and sent:
            picked = {int(share * len(sent)) for share in shares}
            ops, expected = [sent[i][0] for i in picked], {sent[i][0][1]: sent[i][1] for i in picked}
        else:
            ops, expected = drawn, {}
            for index, op in enumerate(ops):
                op[1] = len(sent) + 1 + index
                op[2] += op[1]
        before = snapshot(store)
        reply = client.post("/api/v1/sync/push", json={"ops": ops}, headers=headers)
        where = f"push {ops!r:.600}"
        assert reply.status_code < 500, f"{where}\n-> {reply.get_data(as_text=True)[:400]}"
        if reply.status_code >= 400:
            assert_error_shape(reply, where)
            assert snapshot(store) == before, where
            return
        answer = reply.get_json()
        refused = {r["id"][1]: r["field"] for r in answer["rejected"]}
        assert answer["accepted"] + len(refused) + answer["duplicates"] == len(ops), answer
        kept = {q["id"] for q in client.get("/api/v1/quarantine", headers=office).get_json()["data"]}
        assert {f"{node}:{counter}" for counter in refused} <= kept, answer
        if expected:
            # A retry changes nothing: what was merged is a duplicate, what was refused is refused again.
            assert refused == {c: why for c, why in expected.items() if why != "accepted"}, (expected, answer)
            assert answer["duplicates"] == sum(why == "accepted" for why in expected.values()), (expected, answer)
        else:
            sent.extend((op, refused.get(op[1], "accepted")) for op in ops)

    batch()


# -- the bugs the walk found, one test each ---------------------------------------------------------------
@pytest.mark.parametrize("collection, body, missing", [
    ("checklist_templates", {"steps": [{"text": "Isolate the unit"}]}, "steps.0.step_id"),
    ("parts_kits", {"lines": [{"sku": "CAP-45"}]}, "lines.0.qty"),
    ("sla_policies", {"targets": {"Low": {"response_min": 60}}}, "targets.Low.resolution_min"),
    ("contracts", {"rates": {"overtime_rate": "90.00"}}, "rates.labour_rate"),
])
def test_an_edit_with_a_nested_record_missing_a_field_is_a_400(client, store, world, collection, body, missing):
    _, known = world
    before = snapshot(store)
    reply = client.patch(f"/api/v1/{collection}/{known[collection]}", json=body, headers=world[0]["office"])
    assert reply.status_code == 400, reply.get_json()
    assert_error_shape(reply, f"PATCH {collection}")
    assert missing in [error["field"] for error in reply.get_json()["errors"]]
    assert snapshot(store) == before


def test_an_edit_leaves_out_the_fields_it_does_not_change(client, store, world):
    _, known = world
    reply = client.patch(f"/api/v1/contracts/{known['contracts']}", json={"title": "Renamed"},
                         headers=world[0]["office"])
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["data"]["rates"]["labour_rate"] == "60.00"


def hub_now_hlc(client, headers) -> int:
    return client.post("/api/v1/sync/hello", json={"device_now_ms": 1}, headers=headers).get_json()["hub_now_ms"] << 16


@pytest.mark.parametrize("case, field", [("customer health", "health.score"), ("hello clock", "device_now_ms"),
                                         ("pushed record value", "ops.0.7.minutes_extra"),
                                         ("pushed stock delta", "ops.0.7")])
def test_an_integer_beyond_64_bits_is_a_400_not_a_500(client, store, world, device, case, field):
    callers, _ = world
    node, tablet = device[0].node, callers["device"]
    hlc = hub_now_hlc(client, tablet)
    record = {"job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T08:00:00+00:00",
              "ended_at": "2026-11-27T08:30:00+00:00", "description": "big", "billable": True, "category": "labour",
              "minutes_extra": 1 << 64}
    path, body, headers = {
        "customer health": ("/api/v1/customers", {"name": "Big Ltd", "health": {"score": 1 << 64}}, callers["office"]),
        "hello clock": ("/api/v1/sync/hello", {"device_now_ms": 1 << 70}, tablet),
        "pushed record value": ("/api/v1/sync/push", {"ops": [[node, 1, hlc, "time_log", "tl-big", "append", "",
                                                               record, []]]}, tablet),
        "pushed stock delta": ("/api/v1/sync/push", {"ops": [[node, 1, hlc, "stock", "van-7:CAP-45", "incr",
                                                              "on_hand", -(1 << 64), []]]}, tablet),
    }[case]
    before = snapshot(store)
    reply = client.post(path, json=body, headers=headers)
    assert reply.status_code == 400, reply.get_json()
    assert_error_shape(reply, case)
    assert [error["field"] for error in reply.get_json()["errors"]] == [field]
    assert snapshot(store) == before


def test_the_description_of_creating_an_item_names_its_sku(client):
    described = client.get("/api/v1/openapi.json").get_json()
    body = described["paths"]["/api/v1/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[1] if "$ref" in body else None
    schema = described["components"]["schemas"][name] if name else body
    assert "sku" in schema.get("properties", {}) and "sku" in schema.get("required", [])


@pytest.mark.parametrize("entity, value", [("attachment", {"job_id": []}), ("ticket_comment", {"ticket_id": [1]}),
                                           ("stock_move", {"location_id": {"van": "van-7"}})])
def test_a_pushed_record_naming_its_parent_with_a_list_is_quarantined(client, store, device, entity, value):
    headers = {"Authorization": f"Bearer {device[1]}"}
    op = [device[0].node, 1, hub_now_hlc(client, headers), entity, "r-1", APPEND, "", value, []]
    reply = client.post("/api/v1/sync/push", json={"ops": [op]}, headers=headers)
    assert reply.status_code == 200, reply.get_json()
    (parent,) = value
    assert [(r["id"], r["field"]) for r in reply.get_json()["rejected"]] == [([device[0].node, 1], parent)]
