"""The billing routes as the billing team uses them: draft a ticket or a period in one call, see
the draft first, list and filter, approve, send, mark paid, void — and the refusals, each in the
one error shape naming the field."""

from __future__ import annotations

from hub import auth
from sync.ops import SET

from .test_billing_world import Tablet, contract, invoices, item, resolve, run, sync, ticket

RATES = {"labour_rate": "85.00", "callout_fee": "45.00"}


def visit(store):
    contract(store, "c-tm", "time_material", rates=RATES)
    item(store)
    tablet = Tablet()
    job = ticket(store, "T1", "c-tm")
    sync(store, [*tablet.visit(job), tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z"),
                 tablet.part("pu-1", job, 2)])
    return tablet, job


def test_one_call_drafts_a_ticket_not_yet_resolved_with_every_line_and_later_work_joins_it(store, client, office):
    tablet, job = visit(store)
    reply = client.post("/api/v1/invoices/draft", json={"ticket_id": "T1"}, headers=office)
    assert reply.status_code == 201
    [draft] = reply.json["data"]
    # 1.5 h x 85.00 = 127.50; 2 x 12.50 = 25.00; call-out 45.00.
    assert [line["amount"] for line in draft["lines"]] == ["127.50", "25.00", "45.00"] and draft["total"] == "197.50"
    assert run(store) == 0  # the engine keeps a draft the office opened early
    sync(store, [tablet.time("tl-2", job, "2026-11-27T10:30:00Z", "2026-11-27T11:00:00Z")])
    run(store)
    [same] = invoices(store)
    assert same["id"] == draft["id"] and same["total"] == "240.00"


def test_the_draft_can_be_seen_before_it_is_written(store, client, office):
    visit(store)
    before = store.replica.op_count()
    reply = client.get("/api/v1/invoices/draft?ticket_id=T1", headers=office)
    assert reply.status_code == 200 and reply.json["data"][0]["total"] == "197.50"
    assert store.replica.op_count() == before and invoices(store) == []


def test_a_period_is_drafted_from_its_contract_before_it_ends(store, client, office):
    contract(store, "c-ff", "fixed_fee", billing={"fixed_fee": "250.00", "period": "monthly"},
             starts_at="2026-10-01T00:00:00+00:00")
    run(store)
    assert {inv["period_start"][:10] for inv in invoices(store)} == {"2026-10-01"}  # November runs until the 30th
    reply = client.post("/api/v1/invoices/draft", json={
        "contract_id": "c-ff", "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z"},
        headers=office)
    assert reply.status_code == 201 and reply.json["data"][0]["total"] == "250.00"
    assert reply.json["data"][0]["billing_key"] == "period:c-ff:2026-11-01"
    assert run(store) == 0


def test_draft_requests_that_name_no_billable_unit_are_refused_naming_the_field(store, client, office):
    visit(store)
    contract(store, "c-ff", "fixed_fee", billing={"fixed_fee": "250.00"}, starts_at="2026-10-01T00:00:00+00:00")
    cases = [
        ({}, 400, "ticket_id"),
        ({"ticket_id": "nope"}, 404, "id"),
        ({"ticket_id": "T1", "colour": "red"}, 400, "colour"),
        ({"contract_id": "c-ff"}, 400, "period_start"),
        ({"contract_id": "c-ff", "period_start": "2026-11-05T00:00:00Z"}, 400, "period_start"),
        ({"contract_id": "c-ff", "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-11-30T00:00:00Z"},
         400, "period_end"),
        ({"contract_id": "c-ff", "period_start": "2027-01-01T00:00:00Z"}, 409, "period_start"),
        ({"contract_id": "c-tm"}, 409, "contract_id"),
        ({"contract_id": "c-ff", "period_start": "not a date"}, 400, "period_start"),
    ]
    for body, status, field in cases:
        reply = client.post("/api/v1/invoices/draft", json=body, headers=office)
        assert reply.status_code == status, (body, reply.json)
        assert reply.json["ok"] is False and field in [e["field"] for e in reply.json["errors"]], (body, reply.json)
    ticket(store, "T2", "c-ff")
    reply = client.post("/api/v1/invoices/draft", json={"ticket_id": "T2"}, headers=office)
    assert reply.status_code == 409 and reply.json["errors"][0]["field"] == "ticket_id"


def test_a_ticket_with_no_billable_work_has_nothing_to_invoice(store, client, office):
    contract(store, "c-tm", "time_material", rates=RATES)
    ticket(store, "T9", "c-tm")
    reply = client.post("/api/v1/invoices/draft", json={"ticket_id": "T9"}, headers=office)
    assert reply.status_code == 409 and reply.json["error"] == "nothing to invoice"


def test_invoices_are_listed_by_filter_and_move_through_sent_and_paid(store, client, office):
    visit(store)
    resolve(store, "T1")
    run(store)
    listed = client.get("/api/v1/invoices?status=draft&contract_id=c-tm", headers=office).json
    assert listed["count"] == 1
    eid = listed["data"][0]["id"]
    assert client.get("/api/v1/invoices?kind=credit_note", headers=office).json["count"] == 0
    bad = client.get("/api/v1/invoices?colour=red", headers=office)
    assert bad.status_code == 400 and bad.json["errors"][0]["field"] == "colour"
    early = client.post(f"/api/v1/invoices/{eid}/paid", headers=office)
    assert early.status_code == 409 and early.json["errors"][0]["field"] == "status"
    client.post(f"/api/v1/invoices/{eid}/send", headers=office)
    refused = client.post(f"/api/v1/invoices/{eid}/void", headers=office)
    assert refused.status_code == 409 and "credit note" in refused.json["hint"]
    paid = client.post(f"/api/v1/invoices/{eid}/paid", headers=office).json["data"]
    assert paid["status"] == "paid" and paid["number"] == "INV-000001"
    assert client.get("/api/v1/invoices?number=INV-000001", headers=office).json["data"][0]["id"] == eid
    assert client.get("/api/v1/invoices/nope", headers=office).status_code == 404


def test_billing_routes_need_the_billing_permission(store, client):
    reader = auth.create_user(store, "reader", ["service_management:read"])
    reply = client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {reader}"})
    assert reply.status_code == 403 and reply.json["ok"] is False


def test_a_tablet_pushes_its_offline_visit_and_the_engines_run_drafts_the_invoice(seeded, device, client, office):
    from sync.ops import to_wire
    node, token = device
    contract(seeded, "c-tm", "time_material", rates={**RATES, "discount_pct": "10"})
    seeded.write([("ticket", "tkt-1", "set", "contract_id", "c-tm")])
    tablet = Tablet(node=node.node)
    ops = [*tablet.visit("job-1"), tablet.time("tl-1", "job-1", "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z"),
           tablet.part("pu-1", "job-1", 2)]
    pushed = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]},
                         headers={"Authorization": f"Bearer {token}"}).json
    assert pushed["accepted"] == len(ops) and pushed["rejected"] == []
    client.post("/api/v1/tickets/tkt-1/status", json={"status": "resolved"}, headers=office)
    assert client.post("/api/v1/engines/run", headers=office).json["data"]["written"]["billing"] > 0
    [draft] = client.get("/api/v1/invoices?ticket_id=tkt-1", headers=office).json["data"]
    # 127.50 + 25.00 + 45.00 = 197.50, less 10% per line (12.75 + 2.50 + 4.50 = 19.75): 177.75.
    assert (draft["subtotal"], draft["discount"], draft["total"]) == ("197.50", "19.75", "177.75")


def test_a_ticket_whose_work_waits_is_told_why_not_that_there_is_no_billable_work(store, client, office):
    # Per-visit fixed fee: the hours are in the fee, which is due when the job completes.
    contract(store, "c-pv", "fixed_fee", billing={"fixed_fee": "90.00", "period": "per_visit"})
    tablet = Tablet(node="tablet-pv")
    job = ticket(store, "T1", "c-pv")
    sync(store, [tablet.move(job, "en_route"), tablet.move(job, "on_site"),
                 tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z")])
    reply = client.get("/api/v1/invoices/draft?ticket_id=T1", headers=office)
    assert reply.status_code == 409 and reply.json["error"] == "nothing to invoice yet"
    assert reply.json["errors"] == [{"field": "ticket_id", "reason": (
        f"ticket T1 is open, not resolved; job(s) {job} not completed: a per-visit fee is due when its job "
        "completes")}]
    # T&M with a part the catalogue has no price for: it cannot be priced.
    contract(store, "c-tm", "time_material", rates=RATES)
    store.write([("item", "NOPRICE", SET, "name", "Mystery part")])
    job = ticket(store, "T2", "c-tm")
    sync(store, [tablet.part("pu-2", job, 1, sku="NOPRICE")])
    reply = client.post("/api/v1/invoices/draft", json={"ticket_id": "T2"}, headers=office)
    assert reply.status_code == 409 and reply.json["errors"][0]["reason"] == (
        "ticket T2 is open, not resolved; 1 part use(s) cannot be priced: their item has no unit_cost or unit_price")
    assert invoices(store) == []


def test_a_ticket_all_invoiced_still_says_there_is_no_billable_work_left(store, client, office):
    visit(store)
    assert client.post("/api/v1/invoices/draft", json={"ticket_id": "T1"}, headers=office).status_code == 201
    reply = client.get("/api/v1/invoices/draft?ticket_id=T1", headers=office)
    assert reply.status_code == 200  # the open draft is what a draft now would hold
    [draft] = reply.json["data"]
    client.post(f"/api/v1/invoices/{draft['id']}/send", headers=office)
    reply = client.get("/api/v1/invoices/draft?ticket_id=T1", headers=office)
    assert reply.status_code == 409 and reply.json["errors"] == [
        {"field": "ticket_id", "reason": "no billable work that is not invoiced yet"}]


def test_contract_terms_are_never_negative_nor_absurd_and_the_engines_keep_running(store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    base = {"customer_id": "cust-1", "title": "Plant care", "type": "fixed_fee",
            "starts_at": "2026-10-01T00:00:00Z"}
    for body, field in (({"billing": {"fixed_fee": "1e30", "period": "monthly"}}, "billing"),
                        ({"billing": {"fixed_fee": "-100", "period": "monthly"}}, "billing"),
                        ({"rates": {"labour_rate": "-85"}}, "rates"),
                        ({"rates": {"labour_rate": "85", "discount_pct": "150"}}, "rates"),
                        ({"value": "-1"}, "value")):
        refused = client.post("/api/v1/contracts", json={**base, **body}, headers=office)
        assert refused.status_code == 400, (body, refused.json)
        assert refused.json["errors"][0]["field"].split(".")[0] == field, refused.json
    contract = client.post("/api/v1/contracts", json={**base, "type": "milestone", "value": "10000"},
                           headers=office).json["data"]
    refused = client.post("/api/v1/milestones", json={"contract_id": contract["id"], "title": "Stage 1",
                                                      "sequence": 1, "amount": "-500"}, headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "amount"
    assert client.post("/api/v1/engines/run", headers=office).status_code == 200


def test_a_contract_ends_after_it_starts_and_goes_active_only_with_what_its_type_bills_by(store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    base = {"customer_id": "cust-1", "title": "Plant care", "type": "fixed_fee", "starts_at": "2026-10-01T00:00:00Z"}
    refused = client.post("/api/v1/contracts", json={**base, "ends_at": "2026-09-01T00:00:00Z"}, headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "ends_at"
    contract = client.post("/api/v1/contracts", json=base, headers=office).json["data"]
    moved = client.patch(f"/api/v1/contracts/{contract['id']}", json={"ends_at": "2026-01-01T00:00:00Z"},
                         headers=office)
    assert moved.status_code == 400 and moved.json["errors"][0]["field"] == "ends_at"

    activate = f"/api/v1/contracts/{contract['id']}/status"
    refused = client.post(activate, json={"status": "active"}, headers=office)
    assert refused.status_code == 409 and refused.json["errors"][0]["field"] == "billing.fixed_fee"
    assert client.get(f"/api/v1/contracts/{contract['id']}", headers=office).json["data"]["status"] == "draft"
    client.patch(f"/api/v1/contracts/{contract['id']}", json={"billing": {"fixed_fee": "300", "period": "monthly"}},
                 headers=office)
    assert client.post(activate, json={"status": "active"}, headers=office).status_code == 200
