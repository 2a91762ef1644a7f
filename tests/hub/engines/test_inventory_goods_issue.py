"""Parts taken from a warehouse (or another van) on a job: the hub issues the goods when the job
completes — exactly once, however often the engine runs and whatever order the ops arrive in."""

from __future__ import annotations

from device_agent import visit
from sync.ops import MOVE, to_wire

from .test_inventory_ledger import world_fixture  # noqa: F401  (the world fixture)

FIX = visit.Fix(51.4545, -2.5879, 8)


def own_ops(agent):
    """Every op this device authored, in the order it wrote them."""
    return [op for op in agent.replica.ops_after({}, 100_000) if op.node == agent.config.node]


def push(world, agent, ops):
    reply = world.client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]},
                              headers={"Authorization": f"Bearer {agent.config.token}"})
    assert reply.status_code == 200 and reply.json["rejected"] == [], reply.json
    return reply.json


def work_the_job(world, tablet, uses):
    """Accept, drive, arrive at 10:00, use parts (sku, qty, location) and complete at 11:00, offline."""
    world.at("2026-11-27T09:40:00+00:00")
    visit.accept(tablet, "job-1")
    visit.depart(tablet, "job-1")
    world.at("2026-11-27T10:00:00+00:00")
    visit.check_in(tablet, "job-1", FIX)
    used = [visit.use_part(tablet, "job-1", sku, qty, location).records[0]["id"] for sku, qty, location in uses]
    world.at("2026-11-27T11:00:00+00:00")
    visit.complete(tablet, "job-1", "capacitor replaced")
    return used


def test_a_part_from_the_warehouse_is_issued_once_when_the_job_completes_even_if_ops_arrive_late(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "10"}]})
    tablet = world.device("technician", "tech-1")
    [usage] = work_the_job(world, tablet, [("CAP-45", "1", "wh-1")])
    ops = own_ops(tablet)
    completion = [op for op in ops if op.action == MOVE and op.value == "completed"]
    world.at("2026-11-27T15:00:00+00:00")

    push(world, tablet, [op for op in ops if op not in completion])  # the work, but not yet the completion
    world.run()
    assert world.stock("wh-1", "CAP-45")["on_hand"] == "10"  # not issued while the job is open
    [exception] = world.get("/stock/exceptions")
    assert (exception["reason"], exception["location_id"], exception["qty"], exception["part_usage_id"],
            exception["at"]) == ("other_location", "wh-1", "1", usage, "2026-11-27T10:00:00+00:00")
    assert world.reconciliation("wh-1", "CAP-45")["pending_issue"] == "1"
    assert world.stock("van-7", "CAP-45")["on_hand"] == "2"  # the van was not touched

    push(world, tablet, completion)
    assert world.run() > 0
    for _again in range(3):
        assert push(world, tablet, ops)["duplicates"] == len(ops)
        assert world.run() == 0
    assert world.stock("wh-1", "CAP-45")["on_hand"] == "9"
    [issue] = world.get("/stock/moves", location_id="wh-1", reason="usage")
    assert (issue["qty"], issue["job_id"], issue["device_time"]) == ("-1", "job-1", "2026-11-27T10:00:00+00:00")
    assert usage in issue["note"]
    assert len(world.get("/stock/exceptions")) == 1
    row = world.reconciliation("wh-1", "CAP-45")
    assert row["balanced"] and row["pending_issue"] == "0" and row["moves_total"] == "9"


def test_the_completion_before_the_part_use_issues_it_when_it_arrives(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "10"}]})
    tablet = world.device("technician", "tech-1")
    work_the_job(world, tablet, [("CAP-45", "2", "wh-1")])
    ops = own_ops(tablet)
    world.at("2026-11-27T15:00:00+00:00")
    for op in reversed(ops):  # the worst order: one op a push, last written first
        push(world, tablet, [op])
        world.run()
    assert world.run() == 0
    assert world.stock("wh-1", "CAP-45")["on_hand"] == "8"
    assert len(world.get("/stock/moves", location_id="wh-1", reason="usage")) == 1


def test_parts_from_the_own_van_are_never_deducted_twice(world):
    tablet = world.device("technician", "tech-1")
    work_the_job(world, tablet, [("CAP-45", "1", None)])
    world.sync(tablet)
    world.run()
    assert world.run() == 0
    assert world.stock("van-7", "CAP-45")["on_hand"] == "1"  # the tablet moved it; the hub adds nothing
    assert world.get("/stock/exceptions") == []
    assert [m["reason"] for m in world.get("/stock/moves", location_id="van-7")] == ["usage"]


def test_a_voided_part_use_from_the_warehouse_is_issued_and_returned(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "10"}]})
    tablet = world.device("technician", "tech-1")
    wrong, right = work_the_job(world, tablet, [("CAP-45", "2", "wh-1"), ("CAP-45", "1", "wh-1")])
    world.at("2026-11-27T11:30:00+00:00")
    world.sync(tablet)
    world.run()
    assert world.stock("wh-1", "CAP-45")["on_hand"] == "7"
    assert len(world.get("/stock/exceptions")) == 2

    visit.void(tablet, "part_usage", wrong, "typed 2, took 1")
    world.sync(tablet)
    world.run()
    assert world.run() == 0
    assert world.stock("wh-1", "CAP-45")["on_hand"] == "9"  # 10 - 2 + 2 - 1
    ledger = sorted((m["qty"], m["reason"]) for m in world.get("/stock/moves", location_id="wh-1"))
    assert ledger == [("-1", "usage"), ("-2", "usage"), ("10", "receipt"), ("2", "return")]
    assert [e["part_usage_id"] for e in world.get("/stock/exceptions")] == [right]
    assert world.reconciliation("wh-1", "CAP-45")["balanced"]


def test_a_part_from_another_van_is_taken_from_that_van_by_the_hub(world):
    world.store.write([("stock_location", "van-2", "set", "kind", "van"),
                       ("stock_location", "van-2", "set", "name", "Van 2")])
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "4"}]})
    world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-2",
                               "lines": [{"sku": "FLT-20", "qty": "4"}]})
    tablet = world.device("technician", "tech-1")
    [usage] = work_the_job(world, tablet, [("FLT-20", "1", "van-2")])
    world.sync(tablet)
    world.run()
    # van-2's terminal has not booked the kit yet: the hub's goods issue takes it to -1.
    assert world.stock("van-2", "FLT-20")["on_hand"] == "-1"
    reasons = sorted((e["reason"], e["location_id"], e["qty"]) for e in world.get("/stock/exceptions"))
    assert reasons == [("negative_stock", "van-2", "1"), ("other_location", "van-2", "1")]
    assert all(e["part_usage_id"] == usage for e in world.get("/stock/exceptions"))
