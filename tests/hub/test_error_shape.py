"""Every route of the hub answers every error in one shape, and never with a 5xx.

The walk is over ``app.url_map``, so a route added anywhere in the hub is held to the shape
without being listed here: no token, the wrong kind of token, bogus ids, bodies that are not
JSON, not objects, or full of wrong fields, methods a route does not have, and bodies over the
size limit.
"""

import re

import pytest

from hub import auth
from hub.app import create_app, store_of

SHAPE = {"ok", "error", "errors", "status"}
BAD_BODIES = [
    None,  # no body at all
    b"{not json",
    [],
    {"unexpected": 1},
    {"status": 12, "name": "", "title": None, "ops": "all", "cursor": -1, "code": "", "technician_id": 7,
     "customer_id": ["x"], "visibility": "public", "body": "", "sku": "../etc", "skills": "hvac"},
]
# Real ids of the seeded records, by the collection a path names, so a walk also gets past the
# lookup into the checks that come after it.
SEEDED = {"jobs": "job-1", "tickets": "tkt-1", "work_orders": "wo-1", "technicians": "tech-1",
          "customers": "cust-1", "sites": "site-1", "assets": "asset-1", "stock_locations": "van-7",
          "items": "CAP-45", "blobs": "a" * 64}
# Query strings no route should accept as they are: limits out of range, unknown filters, empty values.
BAD_QUERIES = ["", "?limit=0&colour=red&status=&after=&offset=-1&size=x&entity=&eid=1&active=perhaps"]
PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def assert_error_shape(reply, context):
    assert 400 <= reply.status_code < 500, f"{context}: status {reply.status_code}: {reply.get_data(as_text=True)}"
    body = reply.get_json(silent=True)
    assert isinstance(body, dict), f"{context}: not a JSON object: {reply.get_data(as_text=True)[:200]}"
    assert set(body) in (SHAPE, SHAPE | {"hint"}), f"{context}: keys {sorted(body)}"
    assert body["ok"] is False and isinstance(body["error"], str) and body["error"], context
    assert body["status"] == reply.status_code, context
    assert isinstance(body["errors"], list), context
    for item in body["errors"]:
        assert set(item) == {"field", "reason"}, f"{context}: error item {item}"
        assert isinstance(item["field"], str) and isinstance(item["reason"], str), f"{context}: error item {item}"
    assert isinstance(body.get("hint", ""), str), context


def routes(app):
    """(rule, method) for every route and method the app serves."""
    return [(rule, method) for rule in app.url_map.iter_rules()
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]


def paths(rule):
    """The rule's path with bogus values, and with seeded ids where the collection is known."""
    bogus = PARAM.sub("no-such-id", rule.rule)
    segments = rule.rule.split("/")
    real = "/".join(SEEDED.get(segments[i - 1], "no-such-id") if PARAM.fullmatch(part) else part
                    for i, part in enumerate(segments))
    return sorted({bogus, real})


def call(client, method, path, body, headers):
    if body is None:
        return client.open(path, method=method, headers=headers)
    if isinstance(body, bytes):
        return client.open(path, method=method, data=body, headers={**headers, "Content-Type": "application/json"})
    return client.open(path, method=method, json=body, headers=headers)


@pytest.fixture
def tokens(store, seeded, device):
    """The kinds of caller a route may meet."""
    return {
        "nobody": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong scheme": {"Authorization": "Basic b2ZmaWNlOnNlY3JldA=="},
        "device": {"Authorization": f"Bearer {device[1]}"},
        "office": {"Authorization": f"Bearer {auth.create_user(store, 'office', auth.PERMISSIONS)}"},
        "reader": {"Authorization": f"Bearer {auth.create_user(store, 'reader', ['service_management:read'])}"},
        "portal": {"Authorization": "Bearer " + auth.create_user(store, "harbour", auth.PERMISSIONS, "cust-1")},
    }


def test_every_route_answers_bad_input_and_bad_tokens_in_the_error_shape_and_never_5xx(app, client, tokens):
    walked = 0
    for rule, method in routes(app):
        for path in (path + query for path in paths(rule) for query in BAD_QUERIES):
            for who, headers in tokens.items():
                for body in BAD_BODIES:
                    reply = call(client, method, path, body, headers)
                    walked += 1
                    if reply.status_code >= 400:
                        assert_error_shape(reply, f"{method} {path} as {who} with {body!r}")
    assert walked > 1000


def test_every_office_and_portal_route_refuses_a_caller_without_a_user_token(app, client, tokens):
    for rule, method in routes(app):
        if not rule.endpoint.startswith(("office", "portal")):
            continue
        for who in ("nobody", "garbage", "wrong scheme", "device"):
            reply = call(client, method, paths(rule)[0], {}, tokens[who])
            assert reply.status_code == 401, f"{method} {rule.rule} as {who}"
            assert_error_shape(reply, f"{method} {rule.rule} as {who}")


def test_a_method_a_route_does_not_have_answers_405_in_the_error_shape(app, client, tokens):
    for rule in app.url_map.iter_rules():
        path = paths(rule)[0]
        allowed = {m for r in app.url_map.iter_rules() if r.rule == rule.rule for m in r.methods or ()}
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed):
            reply = call(client, method, path, {}, tokens["office"])
            assert reply.status_code == 405, f"{method} {path}"
            assert_error_shape(reply, f"{method} {path}")


def test_an_unknown_path_answers_404_in_the_error_shape(client, tokens):
    for path in ("/", "/api/v1/nope", "/api/v1/jobs/job-1/nope", "/api/v2/tickets"):
        reply = client.get(path, headers=tokens["office"])
        assert reply.status_code == 404
        assert_error_shape(reply, path)


def test_a_body_over_the_size_limit_answers_413_in_the_error_shape(tmp_path, clock):
    app = create_app({"database": tmp_path / "small.db", "clock": clock, "max_request_bytes": 2048})
    try:
        token = auth.create_user(store_of(app), "office", auth.PERMISSIONS)
        client = app.test_client()
        big = {"name": "x" * 4096}
        for rule, method in routes(app):
            if method in ("POST", "PUT", "PATCH"):
                reply = call(client, method, paths(rule)[0], big, {"Authorization": f"Bearer {token}"})
                assert_error_shape(reply, f"{method} {rule.rule}")
    finally:
        store_of(app).close()


def test_the_openapi_description_names_every_route_and_the_error_shape(app, client):
    described = client.get("/api/v1/openapi.json").json
    assert described["openapi"].startswith("3.")
    for rule, method in routes(app):
        if rule.endpoint == "static":
            continue
        path = PARAM.sub(lambda m: "{" + m.group(1) + "}", rule.rule)
        operation = described["paths"][path][method.lower()]
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}, f"{method} {path}"
    error = described["components"]["schemas"]["Error"]
    assert set(error["required"]) == SHAPE and set(error["properties"]) == SHAPE | {"hint"}
    assert set(error["properties"]["errors"]["items"]["$ref"].rsplit("/", 1)[1:]) == {"ErrorItem"}
    ticket = described["components"]["schemas"]["Ticket"]
    assert ticket["properties"]["status"]["x-merge"] == "status" and ticket["properties"]["title"]["x-merge"] == "lww"
    assert "title" not in described["components"]["schemas"]["TicketEdit"].get("required", [])
    dispatch = described["paths"]["/api/v1/jobs"]["post"]
    assert dispatch["x-permission"] == "service_management:assign" and dispatch["security"] == [{"user": []}]
    assert described["paths"]["/api/v1/sync/push"]["post"]["security"] == [{"device": []}]


def reasons(reply):
    return {item["field"]: item["reason"] for item in reply.get_json()["errors"]}


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/enrol"])
def test_a_json_body_that_does_not_parse_is_named_as_such_and_where_not_as_a_content_type_to_send(client, tokens,
                                                                                                   path):
    sent = {"Content-Type": "application/json", **tokens["office"]}
    reply = client.post(path, data=b'{"name": "Harbour",\n "notes": }', headers=sent)
    assert reply.status_code == 400 and reply.json["error"] == "the body is not valid JSON"
    assert reasons(reply) == {"body": "not valid JSON: Expecting value at line 2, column 11"}
    assert "Content-Type" not in reply.get_data(as_text=True)
    empty = client.post(path, data=b"", headers=sent)
    assert reasons(empty) == {"body": "not valid JSON: the body is empty; send a JSON object"}
    listed = client.post(path, json=[1], headers=tokens["office"])
    assert listed.json["error"] == "the body must be a JSON object" and reasons(listed)["body"].startswith("got a list")
    plain = client.post(path, data=b"{}", headers={**tokens["office"], "Content-Type": "text/plain"})
    assert reasons(plain) == {"body": "send Content-Type: application/json (got text/plain)"}


def test_a_push_whose_json_does_not_parse_is_named_as_such(client, tokens):
    reply = client.post("/api/v1/sync/push", data=b'{"ops": [}',
                        headers={**tokens["device"], "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reasons(reply) == {"body": "not valid JSON: Expecting value at line 1, column 10"}


def test_404_names_the_path_and_points_at_the_openapi_description(client, tokens):
    for path in ("/", "/api/v1/nope", "/api/v2/tickets"):
        reply = client.get(path, headers=tokens["office"])
        assert reply.status_code == 404
        assert reasons(reply) == {"path": f"{path} is not a route of this hub"}
        assert "GET /api/v1/openapi.json" in reply.json["hint"]


def test_405_names_the_method_and_the_methods_the_route_has(client, tokens):
    reply = client.delete("/api/v1/customers", headers=tokens["office"])
    assert reply.status_code == 405 and reply.json["error"] == "DELETE is not allowed on /api/v1/customers"
    assert reasons(reply) == {"method": "use GET or POST"}
    assert {m.strip() for m in reply.headers["Allow"].split(",")} >= {"GET", "POST"}
    assert reasons(client.put("/api/v1/sync/push", headers=tokens["device"])) == {"method": "use POST"}
