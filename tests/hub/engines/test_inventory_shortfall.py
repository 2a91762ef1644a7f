"""Part use beyond what a van holds is never blocked: the hub raises one stock exception and one
purchase request per shortfall, from the ledger in the order the work happened — not the order
it synced in."""

from __future__ import annotations

from device_agent import van as van_stock
from device_agent import visit
from sync.ops import ADD, SET

from .test_inventory_ledger import world_fixture  # noqa: F401  (the world fixture)


def crew_ben(world) -> None:
    """Ben (tech-2) also works from van-7 and joins Ana on job-1."""
    world.store.write([("technician", "tech-2", SET, "name", "Ben Okafor"),
                       ("technician", "tech-2", SET, "van_id", "van-7"), ("job", "job-1", ADD, "crew_ids", "tech-2")])


def live(world, path, **params):
    return world.get(path, **params)


def test_two_technicians_use_more_than_the_van_holds_offline_one_exception_one_request(world):
    crew_ben(world)
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "10"}]})
    kit = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "FLT-20", "qty": "3"}]})["data"]
    terminal, ana, ben = world.device("van", "van-7"), world.device("technician", "tech-1"), \
        world.device("technician", "tech-2")
    world.at("2026-11-27T09:20:00+00:00")
    van_stock.receive_kit(terminal, [], kit["id"])
    world.sync(terminal)
    world.run()
    world.sync(ana)
    world.sync(ben)  # both tablets see the van's 3 filters before they go out

    world.at("2026-11-27T10:00:00+00:00")
    visit.use_part(ana, "job-1", "FLT-20", "2")  # offline, in the plant room
    world.at("2026-11-27T10:30:00+00:00")
    ben_used = visit.use_part(ben, "job-1", "FLT-20", "3")
    assert ben_used.warnings == []  # Ben's tablet still believes the van holds 3

    world.at("2026-11-27T11:00:00+00:00")
    world.sync(ana)
    world.run()
    assert world.stock("van-7", "FLT-20")["on_hand"] == "1" and live(world, "/stock/exceptions") == []
    world.at("2026-11-27T12:00:00+00:00")
    world.sync(ben)
    assert world.run() > 0
    assert world.run() == 0

    assert world.stock("van-7", "FLT-20")["on_hand"] == "-2"
    moves = live(world, "/stock/moves", location_id="van-7", sku="FLT-20", voided="false")
    assert sorted(m["qty"] for m in moves) == ["-2", "-3", "3"]  # on hand is their sum: 3 - 2 - 3
    [exception] = live(world, "/stock/exceptions")
    assert {k: exception[k] for k in ("location_id", "sku", "qty", "reason", "job_id", "part_usage_id", "at")} == {
        "location_id": "van-7", "sku": "FLT-20", "qty": "2", "reason": "negative_stock", "job_id": "job-1",
        "part_usage_id": ben_used.records[0]["id"], "at": "2026-11-27T10:30:00+00:00"}
    [request] = live(world, "/purchase_requests")
    assert (request["sku"], request["qty"], request["location_id"], request["status"], request["withdrawn"]) == (
        "FLT-20", "2", "van-7", "open", False)
    assert request["stock_exception_id"] == exception["id"]
    assert world.reconciliation("van-7", "FLT-20")["balanced"]

    # The van is refilled: the episode ends, nothing new is raised; a later overuse is a new episode.
    kit2 = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                      "lines": [{"sku": "FLT-20", "qty": "4"}]})["data"]
    world.at("2026-11-27T13:00:00+00:00")
    world.sync(terminal)
    van_stock.receive_kit(terminal, [], kit2["id"])
    world.sync(terminal)
    assert world.run() == 0 and world.stock("van-7", "FLT-20")["on_hand"] == "2"
    world.sync(ana)
    world.at("2026-11-27T14:00:00+00:00")
    visit.use_part(ana, "job-1", "FLT-20", "5")
    world.sync(ana)
    world.run()
    assert sorted((e["qty"], e["at"]) for e in live(world, "/stock/exceptions")) == [
        ("2", "2026-11-27T10:30:00+00:00"), ("3", "2026-11-27T14:00:00+00:00")]
    assert sorted(r["qty"] for r in live(world, "/purchase_requests")) == ["2", "3"]


def test_a_kit_received_earlier_but_synced_later_withdraws_the_exception_and_the_request(world):
    # van-7 holds 2 CAP-45. At 09:30 its terminal receives 3 more, offline until 17:00.
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "5"}]})
    kit = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "CAP-45", "qty": "3"}]})["data"]
    terminal, ana = world.device("van", "van-7"), world.device("technician", "tech-1")
    world.at("2026-11-27T09:30:00+00:00")
    van_stock.receive_kit(terminal, [], kit["id"])
    world.at("2026-11-27T10:00:00+00:00")
    used = visit.use_part(ana, "job-1", "CAP-45", "4")
    assert used.warnings  # as far as the tablet knows, the van held 2
    world.at("2026-11-27T11:00:00+00:00")
    world.sync(ana)
    world.run()
    [exception] = world.get("/stock/exceptions")
    assert (exception["qty"], exception["at"]) == ("2", "2026-11-27T10:00:00+00:00")
    [request] = world.get("/purchase_requests")
    assert request["qty"] == "2"

    world.at("2026-11-27T17:00:00+00:00")
    world.sync(terminal)  # the kit_in of 09:30 arrives: at 10:00 the van held 5
    world.run()
    assert world.run() == 0
    assert world.stock("van-7", "CAP-45")["on_hand"] == "1"
    assert world.get("/stock/exceptions") == [] and world.get("/purchase_requests") == []
    assert [e["id"] for e in world.get("/stock/exceptions", voided="true")] == [exception["id"]]
    [withdrawn] = world.get("/purchase_requests", withdrawn="true")
    assert withdrawn["id"] == request["id"] and withdrawn["status"] == "open"


def test_late_work_that_happened_earlier_moves_or_deepens_a_shortfall_and_the_hub_follows(world):
    crew_ben(world)
    ana, ben = world.device("technician", "tech-1"), world.device("technician", "tech-2")
    world.at("2026-11-27T10:00:00+00:00")
    visit.use_part(ben, "job-1", "CAP-45", "1")  # the van: 2 -> 1
    world.at("2026-11-27T10:10:00+00:00")
    first = visit.use_part(ana, "job-1", "CAP-45", "2")  # 1 -> -1: the shortfall starts here
    world.at("2026-11-27T10:20:00+00:00")
    second = visit.use_part(ana, "job-1", "CAP-45", "1")  # -1 -> -2
    world.at("2026-11-27T11:00:00+00:00")
    world.sync(ana)
    world.run()
    # Without Ben's use the van went 2 -> 0 -> -1: short of 1 from Ana's second use.
    [early] = world.get("/stock/exceptions")
    assert (early["qty"], early["part_usage_id"]) == ("1", second.records[0]["id"])
    [early_request] = world.get("/purchase_requests")

    world.sync(ben)
    world.run()
    assert world.run() == 0
    [exception] = world.get("/stock/exceptions")
    assert (exception["qty"], exception["part_usage_id"]) == ("2", first.records[0]["id"])
    [request] = world.get("/purchase_requests")
    assert (request["qty"], request["stock_exception_id"]) == ("2", exception["id"])
    assert [r["id"] for r in world.get("/purchase_requests", withdrawn="true")] == [early_request["id"]]

    world.at("2026-11-27T11:30:00+00:00")
    visit.use_part(ben, "job-1", "CAP-45", "1")  # the same shortfall deepens: -3
    world.at("2026-11-27T12:00:00+00:00")
    world.sync(ben)
    world.run()
    [deeper] = world.get("/stock/exceptions")
    assert (deeper["qty"], deeper["part_usage_id"]) == ("3", first.records[0]["id"])
    [same_request] = world.get("/purchase_requests")
    assert (same_request["id"], same_request["qty"], same_request["stock_exception_id"]) == (
        request["id"], "3", deeper["id"])
    assert world.stock("van-7", "CAP-45")["on_hand"] == "-3"
