"""A contract's terms agree with each other before anything is billed from them: its milestones
stay within its value, and its currency is the currency of what it prices from — through the office
API on a real hub, and in the billing engine for data that arrived some other way."""

from __future__ import annotations

from sync.ops import SET

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
