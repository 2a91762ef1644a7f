"""The simulation's checks are not blind: in a healed world, each kind of damage they are there to
find — an op the hub never got, a replica that differs, a record billed twice, stock moved without
its movement, a server error — is reported, and an untouched world passes."""

from __future__ import annotations

import random

import pytest

from device_agent import views, visit
from sync.ops import APPEND, INCR, MOVE, SET

from . import checks
from .runner import Settings, World
from .world import seeded_entropy


@pytest.fixture
def world(tmp_path):
    """A world set up and healed with no schedule in between: every check passes on it."""
    with seeded_entropy(random.Random(1)):
        built = World(1, Settings(steps=0), tmp_path)
        built.set_up()
        built.network.heal()
        yield built
        built.close()


def tablet(world):
    """The first technician's tablet that holds a job."""
    return next(d for d in world.devices if d.kind == "technician" and views.my_jobs(d.agent))


def failures(world):
    return checks.run_all(world.hub, world.devices, world.office.business.created)


def work_a_visit(world):
    """A technician works their job and syncs: returns (device, job id, time log id)."""
    device = tablet(world)
    job = views.my_jobs(device.agent)[0]["id"]
    visit.accept(device.agent, job)
    visit.check_in(device.agent, job, visit.Fix(51.45, -2.59, 5.0))
    recorded = visit.log_time(device.agent, job, minutes=45, description="repair")
    world.sync(device)
    return device, job, recorded.records[0]["id"]


def test_an_untouched_healed_world_passes(world):
    work_a_visit(world)
    world.heal()
    assert failures(world) == []


def test_an_op_recorded_but_never_synced_is_missing(world):
    device = tablet(world)
    job = views.my_jobs(device.agent)[0]["id"]
    visit.accept(device.agent, job)
    found = checks.nothing_lost(world.hub, world.devices, [])
    assert any("vector" in f and device.name in f for f in found)
    assert any("missing at the hub" in f for f in found)
    assert any("still waiting" in f for f in found)


def test_a_device_listing_as_refused_what_the_hub_accepted_is_reported_until_it_syncs(world):
    device, _, _ = work_a_visit(world)
    device.agent._remember_rejections([{"id": [device.node, 1], "field": "hlc", "reason": "ahead"}])
    assert any(device.name in f and "refused" in f for f in checks.nothing_lost(world.hub, world.devices, []))
    world.sync(device)  # the hub's hello says what it holds in quarantine of the device's ops: nothing
    assert checks.nothing_lost(world.hub, world.devices, []) == []


def test_a_replica_that_missed_a_change_differs(world):
    device, job, _ = work_a_visit(world)
    world.hub.store.write([("job", job, SET, "completion_notes", "changed at the hub, never pulled")])
    found = checks.replicas_agree(world.hub, world.devices)
    assert any(device.name in f and f"('job', '{job}')" in f for f in found)


def test_a_time_log_on_two_invoices_is_billed_twice(world):
    _, job, time_log = work_a_visit(world)
    line = {"description": "labour", "qty": "1", "unit_price": "85.00", "amount": "85.00",
            "source_entity": "time_log", "source_id": time_log}
    customer = world.office.business.customers[0]
    for invoice in ("inv-a", "inv-b"):
        world.hub.store.write([("invoice", invoice, SET, "lines", [line]),
                               ("invoice", invoice, SET, "contract_id", customer["contract"]),
                               ("invoice", invoice, SET, "customer_id", customer["id"]),
                               ("invoice", invoice, SET, "kind", "invoice")])
    assert any(f"time_log {time_log}" in f and "2 times" in f for f in checks.billed_once(world.hub))
    # A credit note against one of them nets it back to once.
    world.hub.store.write([("invoice", "cn-1", SET, "lines", [{**line, "qty": "-1", "amount": "-85.00"}]),
                           ("invoice", "cn-1", SET, "kind", "credit_note")])
    assert checks.billed_once(world.hub) == []
    world.hub.store.write([("invoice", "cn-1", MOVE, "status", "void")])
    assert checks.billed_once(world.hub) != []


def test_a_device_moving_stock_without_its_movement_is_flagged(world):
    device = tablet(world)
    van = device.agent.replica.entity("technician", device.subject)["van_id"]
    device.agent.write([("stock", f"{van}:CAP-45", INCR, "on_hand", -1)])
    world.sync(device)
    found = checks.stock_balances(world.hub)
    assert any(f"stock {van}:CAP-45" in f and device.node in f for f in found)


def test_a_record_voided_after_billing_and_still_billed_is_reported(world):
    device, job, time_log = work_a_visit(world)
    line = {"description": "labour", "qty": "1", "unit_price": "85.00", "amount": "85.00",
            "source_entity": "time_log", "source_id": time_log}
    world.hub.store.write([("invoice", "inv-a", SET, "lines", [line]), ("invoice", "inv-a", SET, "kind", "invoice")])
    visit.void(device.agent, "time_log", time_log, "logged twice")
    world.sync(device)
    assert any("voided" in f for f in checks.billed_once(world.hub))


def test_a_server_error_is_a_failure(world, monkeypatch):
    import hub.engines

    class Broken:
        name = "broken"

        def run(self, store, now_ms):
            raise RuntimeError("an engine bug")

    monkeypatch.setattr(hub.engines, "engines", lambda: {"broken": Broken()})
    world.office.run_engines()
    found = checks.server_errors(world.hub)
    assert any("500 POST /api/v1/engines/run" in f for f in found)
    assert any("RuntimeError: an engine bug" in f for f in found)  # with the hub's traceback


def test_a_record_the_office_was_told_exists_must_exist(world):
    assert checks.nothing_lost(world.hub, world.devices, [("ticket", "never-created")])


def test_a_comment_appended_at_the_hub_reaches_the_tablet_before_the_checks_pass(world):
    device, job, _ = work_a_visit(world)
    ticket = device.agent.replica.entity("job", job)["ticket_id"]
    world.hub.store.write([("ticket_comment", "c-1", APPEND, "", {
        "ticket_id": ticket, "visibility": "internal", "body": "from the office", "author": "office",
        "written_at": "2026-11-26T08:00:00+00:00"})])
    assert checks.replicas_agree(world.hub, world.devices)
    world.heal()
    assert checks.replicas_agree(world.hub, world.devices) == []
