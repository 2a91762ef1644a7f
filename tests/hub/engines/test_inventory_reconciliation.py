"""The reconciliation holds each stock counter against the ledger: an opening balance the hub
loaded is explained; a device's movement without its counter delta (or the other way round) is
flagged, with that device's movements as the explanation, until the rest of its work arrives."""

from __future__ import annotations

from device_agent import visit
from sync.ops import INCR, VOID

from .test_inventory_goods_issue import own_ops, push, work_the_job
from .test_inventory_ledger import world_fixture  # noqa: F401  (the world fixture)


def test_half_of_a_device_write_is_flagged_with_its_movement_until_the_other_half_arrives(world):
    tablet = world.device("technician", "tech-1")
    [usage] = work_the_job(world, tablet, [("CAP-45", "1", None)])
    ops = own_ops(tablet)
    delta = [op for op in ops if op.action == INCR]
    push(world, tablet, [op for op in ops if op not in delta])  # the batch was cut before the delta

    row = world.reconciliation("van-7", "CAP-45")
    assert (row["on_hand"], row["moves_total"], row["opening"], row["difference"], row["balanced"]) == (
        "2", "-1", "2", "1", False)
    [why] = row["explain"]
    assert (why["node"], why["deltas"], why["moves_total"], why["difference"]) == (tablet.config.node, "0", "-1", "1")
    assert [(m["id"], m["qty"], m["reason"], m["voided"]) for m in why["moves"]] == [(usage, "-1", "usage", False)]

    push(world, tablet, delta)
    row = world.reconciliation("van-7", "CAP-45")
    assert (row["on_hand"], row["moves_total"], row["opening"], row["difference"], row["balanced"]) == (
        "1", "-1", "2", "0", True)
    assert row["explain"] == []


def test_a_void_whose_quantity_has_not_come_back_yet_is_shown_as_the_explanation(world):
    tablet = world.device("technician", "tech-1")
    [usage] = work_the_job(world, tablet, [("CAP-45", "2", None)])
    world.sync(tablet)
    world.at("2026-11-27T12:00:00+00:00")
    visit.void(tablet, "part_usage", usage, "used none in the end")
    voids = [op for op in own_ops(tablet) if op.action == VOID]
    push(world, tablet, voids)  # the voids arrived, the +2 on hand did not
    row = world.reconciliation("van-7", "CAP-45")
    assert (row["on_hand"], row["moves_total"], row["difference"], row["balanced"]) == ("0", "0", "-2", False)
    assert [(m["qty"], m["voided"]) for m in row["explain"][0]["moves"]] == [("-2", True)]
    world.sync(tablet)
    assert world.reconciliation("van-7", "CAP-45")["balanced"]
    assert world.stock("van-7", "CAP-45")["on_hand"] == "2"
