"""Values nested deeper than a store keeps are refused by name, the same for every body the hub reads.

Python's JSON parser gives up near 1,000 levels of nesting (RecursionError) and orjson's encoder at
254 ("Recursion limit reached" while saving): both were 500s. One bound now holds for every value
stored (``sync.ops.MAX_DEPTH``), checked where values are checked for being storable
(``sync.ops.unstorable``): a body nested beyond it is a 400 in the error shape naming where,
nothing is stored, and a device's op that carries such a value is quarantined with the reason while
the rest of its push is merged.
"""

from __future__ import annotations

import pytest

from sync.ops import MAX_DEPTH, TOO_DEEP

from .test_error_shape import assert_error_shape, call, routes
from .test_fuzz import hub_now_hlc, snapshot
from .test_unstorable import caller_of, callers  # noqa: F401  (a fixture)

TOO_DEEP_TO_PARSE = 5000


def nested(levels: int, inner: object = 1) -> object:
    """``inner`` inside ``levels`` lists: [[[...1...]]]."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def raw_body(key: str, levels: int) -> bytes:
    """``{key: [[[...]]]}`` as JSON text, for nesting too deep for any JSON encoder to write."""
    return b'{"%s": %s1%s}' % (key.encode(), b"[" * levels, b"]" * levels)


def refusal(reply, context: str) -> tuple[str, str]:
    assert reply.status_code == 400, f"{context}: {reply.status_code} {reply.get_data(as_text=True)[:300]}"
    assert_error_shape(reply, context)
    errors = reply.get_json()["errors"]
    assert len(errors) == 1, f"{context}: {errors}"
    return errors[0]["field"], errors[0]["reason"]


def test_a_body_too_deep_for_the_parser_is_a_400_naming_the_field(client, store, seeded, office):
    before = snapshot(store)
    reply = call(client, "POST", "/api/v1/customers", raw_body("name", TOO_DEEP_TO_PARSE), office)
    field, reason = refusal(reply, "customers")
    assert field.split(".")[0] == "name" and set(field.split(".")[1:]) == {"0"}
    assert reason == TOO_DEEP and str(MAX_DEPTH) in reason
    assert snapshot(store) == before
    assert client.post("/api/v1/customers", json={"name": "Harbour Hotel"}, headers=office).status_code == 201


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 200, 250, 254, 300, TOO_DEEP_TO_PARSE])
def test_a_contract_health_nested_beyond_the_bound_is_refused_by_name_and_nothing_is_stored(
        client, store, seeded, office, levels):
    # The health field holds an object whose "flags" nest ``levels`` deep all told; sent as text,
    # since no JSON encoder writes the deepest.
    flags = b"[" * (levels - 1) + b"1" + b"]" * (levels - 1)
    text = b'{"customer_id": "cust-1", "title": "T&M", "type": "time_material", "health": {"flags": %s}}' % flags
    before = snapshot(store)
    reply = call(client, "POST", "/api/v1/contracts", text, office)
    field, reason = refusal(reply, f"contract health {levels} deep")
    assert field.startswith("health.flags.") and reason == TOO_DEEP
    assert snapshot(store) == before


def test_a_value_nested_as_deep_as_the_bound_is_stored_and_read_back(client, seeded, office):
    health = {"flags": nested(MAX_DEPTH - 1)}  # MAX_DEPTH levels, the object included
    created = client.post("/api/v1/contracts", json={"customer_id": "cust-1", "title": "T&M",
                                                     "type": "time_material", "health": health}, headers=office)
    assert created.status_code == 201, created.get_json()
    eid = created.get_json()["data"]["id"]
    assert client.get(f"/api/v1/contracts/{eid}", headers=office).get_json()["data"]["health"] == health
    edited = client.patch(f"/api/v1/contracts/{eid}", json={"health": {"flags": nested(MAX_DEPTH)}}, headers=office)
    assert refusal(edited, "edit")[1] == TOO_DEEP
    assert client.get(f"/api/v1/contracts/{eid}", headers=office).get_json()["data"]["health"] == health


def test_every_route_that_reads_a_body_refuses_one_nested_too_deep_by_name(app, client, store, callers):  # noqa: F811
    refused = 0
    for rule, method in routes(app):
        if method not in ("POST", "PUT", "PATCH") or "<" in rule.rule:
            continue
        for key in ("name", "ops"):
            for body, levels in ((raw_body(key, TOO_DEEP_TO_PARSE), TOO_DEEP_TO_PARSE), ({key: nested(300)}, 300)):
                context = f"{method} {rule.rule} {key} {levels} deep"
                before = snapshot(store)
                reply = call(client, method, rule.rule, body, caller_of(rule, callers))
                assert reply.status_code < 500, f"{context}: {reply.get_data(as_text=True)[:300]}"
                if reply.status_code >= 400:
                    assert_error_shape(reply, context)
                found = [e for e in reply.get_json()["errors"] if e["reason"] == TOO_DEEP] \
                    if reply.status_code == 400 else []
                if found:
                    assert found[0]["field"].startswith(f"{key}.0.0"), context
                    assert snapshot(store) == before, context
                    refused += 1
    assert refused > 40


def test_a_device_op_nested_beyond_the_bound_is_quarantined_with_the_reason_and_the_rest_merged(
        client, store, device, office):
    node, headers = device[0].node, {"Authorization": f"Bearer {device[1]}"}
    hlc = hub_now_hlc(client, headers)
    record = {"job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T08:00:00+00:00",
              "ended_at": "2026-11-27T08:30:00+00:00", "description": "ok", "billable": True, "category": "labour"}
    deep_record = [node, 1, hlc + 1, "time_log", "tl-1", "append", "", {**record, "description": nested(100)}, []]
    deep_field = [node, 2, hlc + 2, "job", "job-1", "set", "problem", nested(MAX_DEPTH + 1, "leak"), []]
    fine = [node, 3, hlc + 3, "time_log", "tl-3", "append", "", record, []]
    reply = client.post("/api/v1/sync/push", json={"ops": [deep_record, deep_field, fine]}, headers=headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    answer = reply.get_json()
    assert answer["accepted"] == 1 and answer["hub_has"] == 3
    rejected = {tuple(r["id"]): r for r in answer["rejected"]}
    assert set(rejected) == {(node, 1), (node, 2)}
    assert all(TOO_DEEP in r["reason"] and not r["clock_ahead"] for r in rejected.values())
    assert rejected[(node, 2)]["field"] == "problem"
    held = {q["id"]: q for q in client.get("/api/v1/quarantine", headers=office).get_json()["data"]}
    assert held[f"{node}:1"]["op"] == deep_record and held[f"{node}:2"]["op"] == deep_field
    # Sent again (a reply lost), the ops are reported again and nothing changes.
    before = snapshot(store)
    again = client.post("/api/v1/sync/push", json={"ops": [deep_record, deep_field, fine]}, headers=headers)
    assert again.status_code == 200 and again.get_json()["duplicates"] == 1
    assert {tuple(r["id"]) for r in again.get_json()["rejected"]} == {(node, 1), (node, 2)}
    assert snapshot(store)[0] == before[0]


def test_a_push_too_deep_to_read_is_refused_whole_by_name_and_stores_nothing(client, store, device):
    node, headers = device[0].node, {"Authorization": f"Bearer {device[1]}"}
    hlc = hub_now_hlc(client, headers)
    head = f'{{"ops": [["{node}", 1, {hlc + 1}, "job", "job-1", "set", "problem", '.encode()
    text = head + b"[" * TOO_DEEP_TO_PARSE + b'"leak"' + b"]" * TOO_DEEP_TO_PARSE + b", []]]}"
    before = snapshot(store)
    field, reason = refusal(call(client, "POST", "/api/v1/sync/push", text, headers), "push")
    assert field.startswith("ops.0.7.0.0") and reason == TOO_DEEP
    assert snapshot(store) == before
    fine = [node, 1, hlc + 1, "job", "job-1", "set", "problem", "leak", []]
    assert client.post("/api/v1/sync/push", json={"ops": [fine]}, headers=headers).get_json()["accepted"] == 1
