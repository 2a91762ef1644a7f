"""The SLA on the technician's job card is the one the hub holds the ticket to.

The card reads the contract and its SLA policy from the tablet's replica and applies the hub's
own rule (``schema.sla_terms.build``): the seed table (or the table the contract's overrides
name), then the contract's policy, then the contract's overrides. Each test syncs a real tablet
from a live hub and compares what the tablet shows (library, ``show`` text and ``show --json``)
with what the hub's SLA API says for the same ticket.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from device_agent import Agent
from device_agent.cli import main
from device_agent.views import job_card
from hub import auth
from hub.app import store_of
from hub.engines import sla as sla_engine
from hub.engines import sla_calendar, sla_policy
from schema import sla_terms
from sync.ops import SET

POLICY = {
    "Critical": {"response_min": 20, "onsite_min": 90, "resolution_min": 240},
    # No onsite_min: no on-site commitment at High under this policy (the seed table has 240).
    "High": {"response_min": 45, "resolution_min": 600},
    "Medium": {"response_min": 240, "onsite_min": 480, "resolution_min": 1440},
    "Low": {"response_min": 480, "onsite_min": 1440, "resolution_min": 2400},
}


def put_on_contract(hub, overrides, policy=None):
    """Dispatch puts the seeded ticket (High) on a contract with its own SLA terms."""
    ops = [("contract", "con-1", SET, "customer_id", "cust-1"), ("contract", "con-1", SET, "title", "Plant care"),
           ("contract", "con-1", SET, "type", "fixed_fee"), ("contract", "con-1", SET, "sla_overrides", overrides),
           ("ticket", "tkt-1", SET, "contract_id", "con-1")]
    if policy is not None:
        ops += [("sla_policy", "pol-1", SET, "name", "Gold"), ("sla_policy", "pol-1", SET, "targets", policy),
                ("sla_policy", "pol-1", SET, "calendar", "business:GB"),
                ("contract", "con-1", SET, "sla_policy_id", "pol-1")]
    store_of(hub.app).write(ops)


def synced_tablet(hub, code, home):
    with Agent.enrol(home, hub.url, code()) as agent:
        agent.sync()
    return home


@pytest.fixture
def hub_sla(hub):
    """``GET /api/v1/sla/tickets/<id>`` over HTTP, as the office reads it."""
    token = auth.create_user(store_of(hub.app), "office", auth.PERMISSIONS)

    def read(ticket="tkt-1"):
        reply = requests.get(f"{hub.url}/api/v1/sla/tickets/{ticket}", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]["sla"]

    return read


def hub_targets(sla):
    """The hub's target per clock; a clock the hub does not run has no commitment (None)."""
    return {clock: sla[clock]["target_min"] if clock in sla else None for clock in ("response", "onsite", "resolution")}


def card_of(home):
    with Agent.open(home) as agent:
        return job_card(agent, "job-1")["sla"]


def show(home, *args):
    result = CliRunner().invoke(main, ["--home", str(home), *args, "show", "job-1"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_card_shows_the_contracts_overrides_as_the_hub_does(hub, code, hub_sla, tmp_path):
    # The contract moves to the service management table and tightens High to 30 / 120 min.
    put_on_contract(hub, {"table": "service_management", "High": {"response_min": 30, "resolution_min": 120}})
    home = synced_tablet(hub, code, tmp_path / "tablet")

    held_to = hub_sla()
    assert (held_to["policy"], held_to["priority"], held_to["calendar"]) == ("table:service_management", "High", "24x7")
    assert hub_targets(held_to) == {"response": 30, "onsite": None, "resolution": 120}

    card = card_of(home)
    assert card == {"source": "table:service_management", "policy_name": None, "priority": "High",
                    "calendar": "24x7", "targets": {"response": 30, "onsite": None, "resolution": 120}}
    assert card["targets"] == hub_targets(held_to)

    # What the technician reads: not the field service table's 60 / 240 / 480.
    text = show(home)
    assert ("SLA for High (table:service_management; calendar 24x7): respond 30 min, on site — no commitment, "
            "resolve 120 min") in text.splitlines()
    assert "field_service" not in text
    assert json.loads(show(home, "--json"))["sla"] == card


def test_the_policy_applies_then_the_contracts_overrides(hub, code, hub_sla, tmp_path):
    # Table (High 60 / 240 / 480), then policy Gold (45 / none / 600, business hours), then the
    # contract's overrides (resolution 300): 45 / none / 300.
    put_on_contract(hub, {"High": {"resolution_min": 300}}, policy=POLICY)
    home = synced_tablet(hub, code, tmp_path / "tablet")

    held_to = hub_sla()
    assert (held_to["policy"], held_to["calendar"]) == ("sla_policy:pol-1", "business:GB")
    assert hub_targets(held_to) == {"response": 45, "onsite": None, "resolution": 300}

    card = card_of(home)
    assert (card["source"], card["policy_name"], card["calendar"]) == ("sla_policy:pol-1", "Gold", "business:GB")
    assert card["targets"] == hub_targets(held_to)
    assert ("SLA for High (policy Gold, sla_policy:pol-1; calendar business:GB): respond 45 min, "
            "on site — no commitment, resolve 300 min") in show(home).splitlines()
    assert json.loads(show(home, "--json"))["sla"]["targets"] == {"response": 45, "onsite": None, "resolution": 300}

    # The overrides can give back an on-site commitment the policy left out.
    store_of(hub.app).write([("contract", "con-1", SET, "sla_overrides",
                              {"High": {"resolution_min": 300, "onsite_min": 150}})])
    with Agent.open(home) as agent:
        agent.sync()
    assert card_of(home)["targets"] == hub_targets(hub_sla()) == {"response": 45, "onsite": 150,
                                                                     "resolution": 300}


def test_without_a_contract_the_card_shows_the_default_table(hub, code, hub_sla, tmp_path):
    home = synced_tablet(hub, code, tmp_path / "tablet")
    card = card_of(home)
    assert card["source"] == hub_sla()["policy"] == "table:field_service"
    assert card["targets"] == hub_targets(hub_sla()) == {"response": 60, "onsite": 240, "resolution": 480}


def test_one_rule_the_hub_reexports_and_the_tablet_imports_without_the_hub():
    assert sla_policy.build is sla_terms.build and sla_policy.Policy is sla_terms.Policy
    assert sla_calendar.parse is sla_terms.parse
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, device_agent.views; print(sorted(m for m in sys.modules "
                               "if m.split('.')[0] in ('hub', 'flask', 'psycopg')))"],
        capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_after_a_breach_raised_the_priority_the_card_keeps_the_targets_the_clocks_run_on(hub, code, hub_sla,
                                                                                          tmp_path):
    store = store_of(hub.app)
    sla_engine.ENGINE.run(store, store.now_ms())  # the High ticket opened on 2026-11-27 08:00 is long breached
    assert store.replica.entity("ticket", "tkt-1")["priority"] == "Critical"
    home = synced_tablet(hub, code, tmp_path / "tablet")
    card = card_of(home)
    assert card["priority"] == hub_sla()["priority"] == "High"
    assert card["targets"] == hub_targets(hub_sla()) == {"response": 60, "onsite": 240, "resolution": 480}
