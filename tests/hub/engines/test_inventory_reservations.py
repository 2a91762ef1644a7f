"""A work order's parts estimate holds stock at the van of its job (or the default warehouse)
until the job completes or the work order is cancelled."""

from __future__ import annotations

from sync.ops import SET

from .test_inventory_goods_issue import work_the_job
from .test_inventory_ledger import world_fixture  # noqa: F401  (the world fixture)


def estimate(world, order, lines):
    reply = world.client.patch(f"/api/v1/work_orders/{order}", json={"parts_estimate": lines}, headers=world.office)
    assert reply.status_code == 200, reply.json


def held(world, **params):
    return [(r["work_order_id"], r["location_id"], r["sku"], r["qty"], r["state"])
            for r in world.get("/stock/reservations", **params)]


def test_an_estimate_is_reserved_at_the_jobs_van_once_and_released_when_the_job_completes(world):
    estimate(world, "wo-1", [{"sku": "CAP-45", "qty": "2"}])
    assert world.run() > 0
    assert world.run() == 0  # reserved once, not once per run
    assert world.stock("van-7", "CAP-45") == {"on_hand": "2", "reserved": "2", "available": "0"}
    assert held(world) == [("wo-1", "van-7", "CAP-45", "2", "held")]

    estimate(world, "wo-1", [{"sku": "CAP-45", "qty": "3"}, {"sku": "FLT-20", "qty": "1"}])
    world.run()
    assert world.run() == 0
    assert world.stock("van-7", "CAP-45") == {"on_hand": "2", "reserved": "3", "available": "-1"}
    assert world.stock("van-7", "FLT-20") == {"on_hand": "0", "reserved": "1", "available": "-1"}

    tablet = world.device("technician", "tech-1")
    assert tablet.replica.entity("stock", "van-7:CAP-45")["reserved"] == 3  # the van's devices see it
    work_the_job(world, tablet, [("CAP-45", "2", None)])
    world.sync(tablet)
    world.run()
    assert world.run() == 0
    assert world.stock("van-7", "CAP-45") == {"on_hand": "0", "reserved": "0", "available": "0"}
    assert world.stock("van-7", "FLT-20")["reserved"] == "0"
    assert {r["state"] for r in world.get("/stock/reservations")} == {"released"}
    assert world.get("/stock/reservations", sku="CAP-45")[0]["why"] == "job job-1 completed"


def test_an_estimate_without_a_van_waits_at_the_warehouse_follows_the_job_and_is_released_on_cancel(world):
    world.store.write([("work_order", "wo-2", SET, "ticket_id", "tkt-1"),
                       ("work_order", "wo-2", SET, "scope", "Replace the filters"),
                       ("work_order", "wo-2", SET, "parts_estimate", [{"sku": "FLT-20", "qty": "4"}])])
    world.run()
    assert held(world, work_order_id="wo-2") == [("wo-2", "wh-1", "FLT-20", "4", "held")]  # the only warehouse
    assert world.stock("wh-1", "FLT-20")["reserved"] == "4"

    world.store.write([("stock_location", "wh-2", SET, "kind", "warehouse"),
                       ("stock_location", "wh-2", SET, "name", "North")])
    world.run()
    assert held(world, work_order_id="wo-2") == [("wo-2", None, "FLT-20", "4", "unplaced")]
    assert world.stock("wh-1", "FLT-20")["reserved"] == "0"
    world.store.config.default_warehouse = "wh-2"  # FIELDSYNC_DEFAULT_WAREHOUSE, once HubConfig has it
    world.run()
    assert world.stock("wh-2", "FLT-20")["reserved"] == "4"

    dispatched = world.post("/jobs", {"work_order_id": "wo-2", "technician_id": "tech-1"})["data"]
    world.run()
    assert held(world, work_order_id="wo-2") == [("wo-2", "van-7", "FLT-20", "4", "held")]
    assert world.stock("wh-2", "FLT-20")["reserved"] == "0" and world.stock("van-7", "FLT-20")["reserved"] == "4"
    assert world.get("/stock/reservations", work_order_id="wo-2")[0]["job_id"] == dispatched["id"]

    world.post("/work_orders/wo-2/status", {"status": "cancelled"}, 200)
    world.run()
    assert world.run() == 0
    assert held(world, work_order_id="wo-2") == [("wo-2", None, "FLT-20", "4", "released")]
    assert world.stock("van-7", "FLT-20")["reserved"] == "0"


def test_a_cancelled_trip_does_not_hold_parts_a_later_trip_does(world):
    estimate(world, "wo-1", [{"sku": "CAP-45", "qty": "1"}])
    world.post("/jobs/job-1/status", {"status": "cancelled"}, 200)
    world.run()
    assert held(world) == [("wo-1", "wh-1", "CAP-45", "1", "held")]
    world.store.write([("technician", "tech-2", SET, "name", "Ben Okafor"),
                       ("stock_location", "van-2", SET, "kind", "van"), ("stock_location", "van-2", SET, "name", "V2"),
                       ("technician", "tech-2", SET, "van_id", "van-2")])
    world.post("/jobs", {"work_order_id": "wo-1", "technician_id": "tech-2"})
    world.run()
    assert held(world) == [("wo-1", "van-2", "CAP-45", "1", "held")]
    assert [world.stock(v, "CAP-45")["reserved"] for v in ("wh-1", "van-2", "van-7")] == ["0", "1", "0"]
