"""A contract's terms agree with each other before anything is billed from them: its milestones
stay within its value, and its currency is the currency of what it prices from — through the office
API on a real hub, and in the billing engine for data that arrived some other way."""

from __future__ import annotations

from hub import auth
from hub.app import create_app, store_of
from sync.ops import SET

from .test_billing_world import Tablet, contract, invoices, item, resolve, run, sync, ticket

API = "/api/v1"


def new_contract(client, office, **body):
    reply = client.post(f"{API}/contracts", json={"customer_id": "cust-1", "title": "Chiller upgrade",
                                                  "type": "milestone", **body}, headers=office)
    assert reply.status_code == 201, reply.json
    return reply.json["data"]


def add_milestone(client, office, contract_id, sequence, amount):
    return client.post(f"{API}/milestones", json={"contract_id": contract_id, "title": f"Stage {sequence}",
                                                  "sequence": sequence, "amount": amount}, headers=office)


def milestone_ids(client, office, contract_id):
    return [m["id"] for m in client.get(f"{API}/milestones?contract_id={contract_id}", headers=office).json["data"]]


# -- milestones within the contract's value ---------------------------------------------------------------

def test_milestones_that_would_add_up_to_more_than_the_contract_value_are_refused_naming_the_amount(
        store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    contract = new_contract(client, office, value="10000.00")
    for sequence, amount in ((1, "5000.00"), (2, "3000.00"), (3, "2000.00")):  # seed 000: exactly the value
        assert add_milestone(client, office, contract["id"], sequence, amount).status_code == 201
    refused = add_milestone(client, office, contract["id"], 4, "0.01")
    assert refused.status_code == 400, refused.json
    assert refused.json["errors"][0]["field"] == "amount"
    assert "10000.01" in refused.json["errors"][0]["reason"] and "10000.00" in refused.json["errors"][0]["reason"]
    assert len(milestone_ids(client, office, contract["id"])) == 3  # nothing stored

    first = milestone_ids(client, office, contract["id"])[0]
    raised = client.patch(f"{API}/milestones/{first}", json={"amount": "5000.50"}, headers=office)
    assert raised.status_code == 400 and raised.json["errors"][0]["field"] == "amount"
    assert client.get(f"{API}/milestones/{first}", headers=office).json["data"]["amount"] == "5000.00"
    lowered = client.patch(f"{API}/milestones/{first}", json={"amount": "4000.00"}, headers=office)
    assert lowered.status_code == 200  # an edit counts the milestone's new amount, not both
    assert add_milestone(client, office, contract["id"], 4, "1000.00").status_code == 201


def test_a_contract_value_below_its_milestones_total_is_refused_naming_the_value(store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    contract = new_contract(client, office, value="10000.00")
    add_milestone(client, office, contract["id"], 1, "6000.00")
    add_milestone(client, office, contract["id"], 2, "3000.00")
    refused = client.patch(f"{API}/contracts/{contract['id']}", json={"value": "8000.00"}, headers=office)
    assert refused.status_code == 400, refused.json
    assert refused.json["errors"][0]["field"] == "value" and "9000.00" in refused.json["errors"][0]["reason"]
    assert client.get(f"{API}/contracts/{contract['id']}", headers=office).json["data"]["value"] == "10000.00"
    assert client.patch(f"{API}/contracts/{contract['id']}", json={"value": "9000.00"},
                        headers=office).status_code == 200


def test_milestones_of_a_contract_without_a_value_are_not_limited(store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    contract = new_contract(client, office)
    assert add_milestone(client, office, contract["id"], 1, "250000.00").status_code == 201
    # Setting a value later is the same check as lowering it.
    refused = client.patch(f"{API}/contracts/{contract['id']}", json={"value": "1000.00"}, headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "value"


def test_a_milestone_belongs_to_a_milestone_contract_which_keeps_its_type_while_it_has_them(store, client, office):
    """Only a milestone contract bills by milestone: a stage added to another, or left behind by a
    change of type, would never be invoiced."""
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    care = new_contract(client, office, type="time_material", rates={"labour_rate": "85.00"})
    refused = add_milestone(client, office, care["id"], 1, "500.00")
    assert refused.status_code == 409 and refused.json["errors"][0]["field"] == "contract_id"
    assert milestone_ids(client, office, care["id"]) == []
    project = new_contract(client, office, value="10000.00")
    assert add_milestone(client, office, project["id"], 1, "5000.00").status_code == 201
    changed = client.patch(f"{API}/contracts/{project['id']}", json={"type": "fixed_fee"}, headers=office)
    assert changed.status_code == 409 and changed.json["errors"][0]["field"] == "type"
    assert client.get(f"{API}/contracts/{project['id']}", headers=office).json["data"]["type"] == "milestone"


# -- a contract's currency and its price list's -----------------------------------------------------------

T_AND_M = {"customer_id": "cust-1", "title": "Plant care", "type": "time_material", "rates": {"labour_rate": "85.00"}}


def test_a_contract_billing_parts_from_a_price_list_in_another_currency_is_refused_naming_the_currency(
        store, client, office):
    store.write([("customer", "cust-1", SET, "name", "Harbour Hotel")])
    refused = client.post(f"{API}/contracts", json={**T_AND_M, "currency": "EUR"}, headers=office)
    assert refused.status_code == 400, refused.json
    [error] = refused.json["errors"]
    assert error["field"] == "currency" and "EUR" in error["reason"] and "GBP" in error["reason"]
    assert client.get(f"{API}/contracts", headers=office).json["data"] == []
    for kind in ("warranty",):  # warranty books its parts at the price list's unit cost
        assert client.post(f"{API}/contracts", json={**T_AND_M, "type": kind, "currency": "EUR"},
                           headers=office).status_code == 400
    # A fixed fee prices nothing from the price list: any currency the customer pays in.
    fixed = client.post(f"{API}/contracts", json={**T_AND_M, "type": "fixed_fee", "currency": "EUR"}, headers=office)
    assert fixed.status_code == 201
    retyped = client.patch(f"{API}/contracts/{fixed.json['data']['id']}", json={"type": "time_material"},
                           headers=office)
    assert retyped.status_code == 400 and retyped.json["errors"][0]["field"] == "currency"
    assert client.get(f"{API}/contracts/{fixed.json['data']['id']}", headers=office).json["data"]["type"] == "fixed_fee"
    pounds = client.post(f"{API}/contracts", json=T_AND_M, headers=office).json["data"]
    moved = client.patch(f"{API}/contracts/{pounds['id']}", json={"currency": "EUR"}, headers=office)
    assert moved.status_code == 400 and moved.json["errors"][0]["field"] == "currency"
    assert client.get(f"{API}/contracts/{pounds['id']}", headers=office).json["data"]["currency"] == "GBP"


def test_on_a_hub_whose_price_list_is_in_euros_a_contract_in_pounds_is_refused(tmp_path, clock):
    app = create_app({"database": tmp_path / "euro.db", "clock": clock, "price_list_currency": "EUR"})
    try:
        store = store_of(app)
        office = {"Authorization": f"Bearer {auth.create_user(store, 'office', auth.PERMISSIONS)}"}
        store.write([("customer", "cust-1", SET, "name", "Hôtel du Port")])
        client = app.test_client()
        refused = client.post(f"{API}/contracts", json={**T_AND_M, "currency": "GBP"}, headers=office)
        assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "currency"
        assert client.post(f"{API}/contracts", json={**T_AND_M, "currency": "EUR"}, headers=office).status_code == 201
    finally:
        store_of(app).close()


def test_billing_never_mixes_currencies_it_holds_a_contract_whose_currency_is_not_its_price_lists_and_says_why(
        store, client, office):
    tablet = Tablet()
    contract(store, "c-tm", "time_material", rates={"labour_rate": "85.00"})
    item(store)
    job = ticket(store, "T1", "c-tm")
    sync(store, [tablet.time("tl-1", job, "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z"), tablet.part("pu-1", job, 2)])
    resolve(store, "T1")
    run(store)
    [draft] = invoices(store)
    assert draft["currency"] == "GBP" and draft["status"] == "draft"
    # The contract's currency changes under the hub's feet (an op merged from elsewhere): the draft
    # in pounds is withdrawn, and nothing is drafted in euros with parts priced in pounds.
    store.write([("contract", "c-tm", SET, "currency", "EUR")])
    assert run(store) > 0
    assert [inv["status"] for inv in invoices(store)] == ["void"]
    held = client.get(f"{API}/contracts/c-tm", headers=office).json["data"]
    [problem] = held["billing_state"]["problems"]
    assert problem.startswith("currency: ") and "EUR" in problem and "GBP" in problem
    assert run(store) == 0
    asked = client.post(f"{API}/invoices/draft", json={"ticket_id": "T1"}, headers=office)
    assert asked.status_code == 409 and asked.json["errors"][0]["field"] == "currency"
    assert [inv["status"] for inv in invoices(store)] == ["void"]
    # Put right, the work is drafted again in the one currency, and the problem is gone.
    store.write([("contract", "c-tm", SET, "currency", "GBP")])
    run(store)
    [fresh] = invoices(store, status="draft")
    assert fresh["currency"] == "GBP" and fresh["total"] == "110.00"  # 1 h x 85.00 + 2 x 12.50
    assert "problems" not in client.get(f"{API}/contracts/c-tm", headers=office).json["data"]["billing_state"]
    assert run(store) == 0


def test_once_invoices_are_issued_in_a_currency_the_contract_keeps_it_and_no_later_invoice_mixes_them(
        store, client, office):
    # Later invoices of a contract follow what it issued: supplementary invoices relate to it, credit
    # notes take back its amounts, a retainer's overage is adjusted against it. In another currency
    # each of those would mix the two.
    contract(store, "c-fx", "fixed_fee", billing={"fixed_fee": "300.00", "period": "monthly"},
             starts_at="2026-10-01T00:00:00+00:00")
    run(store)
    [october] = invoices(store)
    assert client.post(f"{API}/invoices/{october['id']}/send", headers=office).status_code == 200
    refused = client.patch(f"{API}/contracts/c-fx", json={"currency": "EUR"}, headers=office)
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "currency"
    assert "GBP" in refused.json["errors"][0]["reason"]
    # Merged from elsewhere anyway: nothing more is drafted in euros beside the pounds already issued.
    store.write([("contract", "c-fx", SET, "currency", "EUR")])
    run(store)
    assert [inv["currency"] for inv in invoices(store)] == ["GBP"]
    [problem] = client.get(f"{API}/contracts/c-fx", headers=office).json["data"]["billing_state"]["problems"]
    assert problem.startswith("currency: ") and "GBP" in problem
