"""One physical event booked twice by devices working offline is counted once at the hub: a kit
cancelled at the office while the van received it, one kit received on two terminals, parts
handed out for a job and then used on it, a shelf count taken before a use synced; and a stock
row two devices created offline holds no conflict of two equal names."""

from __future__ import annotations

import pytest

from device_agent import van as van_stock
from device_agent import visit
from sync.ops import INCR, SET

from .test_inventory_goods_issue import FIX
from .test_inventory_ledger import world_fixture  # noqa: F401  (the world fixture)

DAY = "2026-11-27T{}:00+00:00"


def send_kit(world, sent: str = "3") -> dict:
    """wh-1 receives 5 filters and sends ``sent`` of them to van-7 (deducted at dispatch)."""
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "5"}]})
    return world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                      "lines": [{"sku": "FLT-20", "qty": sent}]})["data"]


def settled(world) -> None:
    """Run the engine until it has nothing left to write (once more than needed, to prove it)."""
    world.run()
    assert world.run() == 0


def on_site(world, tablet) -> None:
    world.at(DAY.format("09:40"))
    visit.accept(tablet, "job-1")
    visit.depart(tablet, "job-1")
    world.at(DAY.format("10:00"))
    visit.check_in(tablet, "job-1", FIX)


@pytest.mark.parametrize(("received_at", "cancelled_at"), [("10:00", "10:30"), ("10:30", "10:00")])
def test_a_kit_cancelled_at_the_office_while_the_van_received_it_is_counted_once_in_the_van(
        world, received_at, cancelled_at):
    kit = send_kit(world)
    terminal = world.device("van", "van-7")
    world.at(DAY.format(received_at))
    van_stock.receive_kit(terminal, [], kit["id"])  # offline: the terminal does not know of the cancel
    world.at(DAY.format(cancelled_at))
    world.post(f"/parts_kits/{kit['id']}/status", {"status": "cancelled"}, 200)
    settled(world)
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "5"  # as far as the hub knows, they came back

    world.at(DAY.format("12:00"))
    world.sync(terminal)
    settled(world)
    assert world.stock("van-7", "FLT-20")["on_hand"] == "3"
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "2"  # the receipt wins: not back on the shelf
    assert sorted((m["qty"], m["reason"]) for m in world.get("/stock/moves", location_id="wh-1", kit_id=kit["id"])
                  if not m["voided"]) == [("-3", "kit_out"), ("-3", "kit_out"), ("3", "return")]
    assert world.reconciliation("wh-1", "FLT-20")["balanced"]
    assert world.get("/stock/exceptions") == []
    van = world.reconciliation("van-7", "FLT-20")
    assert van["difference"] == "0"
    status = world.get(f"/parts_kits/{kit['id']}")["status"]
    if received_at < cancelled_at:
        # Received first: the kit's status says so, and the office's cancel is the skipped move.
        assert status == "received" and van["balanced"]
        [skipped] = world.get("/conflicts", entity="parts_kit", eid=kit["id"])
        assert skipped["value"] == "cancelled"
    else:
        # Cancelled first: the kit stays cancelled, its parts in the van, flagged for the storekeeper.
        assert status == "cancelled" and not van["balanced"]
        [flag] = van["kits"]
        assert (flag["kit_id"], flag["sent"], flag["received"]) == (kit["id"], "3", "3")
        assert "cancelled" in flag["why"]


def test_a_kit_the_office_cancelled_before_it_left_but_the_van_received_leaves_the_warehouse_once(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "5"}]})
    kit = world.post("/parts_kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "FLT-20", "qty": "2"}]})["data"]  # prepared, never dispatched
    terminal = world.device("van", "van-7")
    world.at(DAY.format("10:00"))
    world.post(f"/parts_kits/{kit['id']}/status", {"status": "cancelled"}, 200)
    world.at(DAY.format("10:30"))
    van_stock.receive_kit(terminal, [], kit["id"])  # the picker had put the box in the van anyway
    world.sync(terminal)
    settled(world)
    assert (world.stock("wh-1", "FLT-20")["on_hand"], world.stock("van-7", "FLT-20")["on_hand"]) == ("3", "2")
    assert not world.reconciliation("van-7", "FLT-20")["balanced"]


def test_a_kit_received_on_two_terminals_of_one_van_adds_its_parts_once(world):
    kit = send_kit(world)
    first = world.device("van", "van-7", "terminal-front")
    second = world.device("van", "van-7", "terminal-back")
    world.at(DAY.format("10:00"))
    van_stock.receive_kit(first, [], kit["id"])
    world.at(DAY.format("10:05"))
    van_stock.receive_kit(second, [], kit["id"])  # neither knows of the other's receipt
    world.sync(second)
    settled(world)
    world.sync(first)
    settled(world)

    assert world.stock("van-7", "FLT-20")["on_hand"] == "3"
    moves = world.get("/stock/moves", location_id="van-7", kit_id=kit["id"])
    receipts = [m for m in moves if m["reason"] == "kit_in"]
    assert len(receipts) == 2 and not any(m["voided"] for m in receipts)  # both kept
    [offset] = [m for m in moves if m["reason"] == "adjustment"]
    assert offset["qty"] == "-3" and first.config.node in offset["note"] and second.config.node in offset["note"]
    row = world.reconciliation("van-7", "FLT-20")
    assert row["balanced"] and row["kits"] == []
    for terminal in (first, second):
        world.sync(terminal)
        assert terminal.replica.entity("stock", "van-7:FLT-20")["on_hand"] == 3


def test_parts_handed_out_for_a_job_and_then_used_on_it_leave_the_van_once(world):
    terminal = world.device("van", "van-7")
    tablet = world.device("technician", "tech-1")
    world.at(DAY.format("09:30"))
    van_stock.hand_out(terminal, "CAP-45", 1, "tech-1", "job-1")
    on_site(world, tablet)
    visit.use_part(tablet, "job-1", "CAP-45", 1)  # the part handed out
    world.at(DAY.format("10:10"))
    visit.use_part(tablet, "job-1", "CAP-45", 1)  # one more, straight from the van
    world.sync(tablet)
    world.sync(terminal)
    settled(world)

    assert world.stock("van-7", "CAP-45")["on_hand"] == "0"  # 2 - 1 handed out - 1 more used
    assert world.get("/stock/exceptions") == []
    assert world.reconciliation("van-7", "CAP-45")["balanced"]
    [back] = world.get("/stock/moves", location_id="van-7", reason="return")
    assert back["qty"] == "1" and back["job_id"] == "job-1"


def test_a_use_before_the_hand_out_is_another_part(world):
    terminal = world.device("van", "van-7")
    tablet = world.device("technician", "tech-1")
    on_site(world, tablet)
    visit.use_part(tablet, "job-1", "CAP-45", 1)  # 10:00, from the van's shelf
    world.at(DAY.format("10:30"))
    van_stock.hand_out(terminal, "CAP-45", 1, "tech-1", "job-1")  # a second one, for later
    world.sync(tablet)
    world.sync(terminal)
    settled(world)
    assert world.stock("van-7", "CAP-45")["on_hand"] == "0"
    assert world.get("/stock/moves", location_id="van-7", reason="return") == []


@pytest.mark.parametrize(("used_at", "counted", "left"), [
    ("10:15", "1", "1"),  # used before the count: the shelf showed it gone, it is not taken again
    ("10:45", "2", "1"),  # used after the count: it still comes off
])
def test_a_count_keeps_a_use_synced_after_it_in_the_right_place(world, used_at, counted, left):
    terminal = world.device("van", "van-7")
    tablet = world.device("technician", "tech-1")
    on_site(world, tablet)
    world.at(DAY.format(used_at))
    visit.use_part(tablet, "job-1", "CAP-45", 1)
    world.at(DAY.format("10:30"))
    van_stock.count(terminal, "CAP-45", counted)  # the terminal has not heard of the use
    world.at(DAY.format("11:00"))
    world.sync(terminal)
    settled(world)
    assert world.stock("van-7", "CAP-45")["on_hand"] == counted
    world.sync(tablet)
    settled(world)

    assert world.stock("van-7", "CAP-45")["on_hand"] == left
    assert world.reconciliation("van-7", "CAP-45")["balanced"]
    assert world.get("/stock/exceptions") == []


def test_a_stock_row_two_devices_create_offline_holds_no_conflict(world):
    kit = send_kit(world)
    terminal = world.device("van", "van-7")
    tablet = world.device("technician", "tech-1")
    on_site(world, tablet)
    visit.use_part(tablet, "job-1", "FLT-20", 1)  # a part new to the van on this tablet
    van_stock.receive_kit(terminal, [], kit["id"])
    world.sync(tablet)
    world.sync(terminal)
    settled(world)

    assert world.get("/conflicts", entity="stock") == []
    row = world.store.replica.entity("stock", "van-7:FLT-20")
    assert (row["location_id"], row["sku"], row["on_hand"]) == ("van-7", "FLT-20", 2)
    world.sync(tablet)  # named, the row reaches the van's other device
    assert tablet.replica.entity("stock", "van-7:FLT-20")["on_hand"] == 2


def test_equal_names_two_older_agents_gave_a_stock_row_are_closed_by_the_hub(world):
    terminal = world.device("van", "van-7")
    tablet = world.device("technician", "tech-1")
    for agent, delta in ((terminal, 2), (tablet, -1)):
        # As agents did before the hub named rows alone: each names the row it creates, offline.
        agent.write([("stock", "van-7:FLT-20", SET, "location_id", "van-7"),
                     ("stock", "van-7:FLT-20", SET, "sku", "FLT-20"),
                     ("stock", "van-7:FLT-20", INCR, "on_hand", delta)])
    world.sync(terminal)
    world.sync(tablet)
    assert len(world.get("/conflicts", entity="stock")) == 2  # location_id and sku, each the same twice
    settled(world)
    closed = world.get("/conflicts", entity="stock")
    assert len(closed) == 2 and all(c["resolved_by"].startswith(world.store.replica.node) for c in closed)
    row = world.store.replica.entity("stock", "van-7:FLT-20")
    assert (row["location_id"], row["sku"], row["on_hand"]) == ("van-7", "FLT-20", 1)
