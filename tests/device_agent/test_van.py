"""The van-stock terminal receives kits, counts shelves and hands out parts offline; the hub sums it all."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from device_agent import van as stock
from device_agent import visit as v
from hub.app import store_of
from hub.engines.inventory import ENGINE
from sync.ops import APPEND, SET

from .test_visit import enrolled, hub_quarantine, hub_view, online


def add_filter_to_catalogue(hub):
    store_of(hub.app).write([
        ("item", "FLT-20", SET, "name", "Filter 20in"),
        ("item", "FLT-20", SET, "unit_cost", "3.00"),
        ("item", "FLT-20", SET, "unit_price", "9.00"),
    ])


@pytest.fixture
def terminal(hub, code, tmp_path):
    add_filter_to_catalogue(hub)
    agent = enrolled(hub, code, tmp_path / "van", "van", "van-7")
    yield agent
    agent.close()


def hub_moves(hub, van, sku):
    store = store_of(hub.app)
    with store.reading():
        moves = [store.replica.entity("stock_move", eid) for eid in store.replica.entity_ids("stock_move")]
    return [m for m in moves if m["value"]["location_id"] == van and m["value"]["sku"] == sku and not m["voided"]]


def test_receive_count_and_hand_out_offline_then_the_hub_on_hand_is_their_sum(hub, terminal):
    assert stock.stock(terminal) == [{"van": "van-7", "sku": "CAP-45", "name": "Capacitor 45uF", "unit": "ea",
                                      "on_hand": "2"}]
    kit = stock.receive_kit(terminal, stock.parse_lines(["CAP-45=5", "FLT-20=2"]), "kit-118")
    assert "CAP-45 +5 (2 -> 7)" in kit.description and "FLT-20 +2 (0 -> 2)" in kit.description
    counted = stock.count(terminal, "CAP-45", 6)
    assert "adjusted by -1" in counted.description
    handed = stock.hand_out(terminal, "CAP-45", 2, "tech-1", "job-1")
    assert handed.warnings == [] and handed.description.endswith("6 -> 4")
    assert {r["sku"]: r["on_hand"] for r in stock.stock(terminal)} == {"CAP-45": "4", "FLT-20": "2"}
    terminal.close()

    with online(terminal.home) as agent:
        assert agent.sync().rejected == []
    assert hub_quarantine(hub) == []
    seeded = 2  # the hub's own opening balance, written before any movement existed
    cap_moves = hub_moves(hub, "van-7", "CAP-45")
    assert [m["value"]["reason"] for m in cap_moves].count("kit_in") == 1
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 4
    assert seeded + sum(Decimal(m["value"]["qty"]) for m in cap_moves) == 4
    assert "location_id" not in hub_view(hub, "stock", "van-7:FLT-20")  # a device leaves naming rows to the hub
    ENGINE.run(store_of(hub.app), store_of(hub.app).now_ms())
    filters = hub_view(hub, "stock", "van-7:FLT-20")
    assert filters["on_hand"] == 2 and filters["location_id"] == "van-7" and filters["sku"] == "FLT-20"
    assert sum(Decimal(m["value"]["qty"]) for m in hub_moves(hub, "van-7", "FLT-20")) == 2


def test_handing_out_more_than_the_van_holds_warns_and_records(hub, terminal):
    handed = stock.hand_out(terminal, "CAP-45", 5, "tech-1")
    assert len(handed.warnings) == 1 and "van-7 held 2 CAP-45; it now shows -3" in handed.warnings[0]
    terminal.close()
    with online(terminal.home) as agent:
        assert agent.sync().rejected == []
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == -3 and hub_quarantine(hub) == []


def test_a_count_that_matches_is_still_recorded_as_proof(terminal):
    counted = stock.count(terminal, "CAP-45", "2")
    assert "no difference" in counted.description
    assert [r["entity"] for r in counted.records] == ["stock_move"] and counted.changes == []
    # This terminal synced a moment ago: its figure is fresh, so no stale-count warning.
    assert counted.warnings == []


def test_the_tablet_and_the_terminal_both_take_parts_offline_and_the_hub_counts_both(hub, code, terminal, tmp_path):
    tablet = enrolled(hub, code, tmp_path / "tablet")
    try:
        v.use_part(tablet, "job-1", "CAP-45", 1)
        stock.hand_out(terminal, "CAP-45", 1, "tech-1", "job-1")
        assert stock.stock(tablet)[0]["on_hand"] == "1"  # each device sees only its own take yet
    finally:
        tablet.close()
        terminal.close()
    for home in (tmp_path / "tablet", tmp_path / "van"):
        with online(home) as agent:
            assert agent.sync().rejected == []
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 0
    with online(tmp_path / "tablet") as agent:
        agent.sync()
        assert stock.stock(agent)[0]["on_hand"] == "0"


@pytest.mark.parametrize(("command", "field"), [
    (lambda a: stock.receive_kit(a, [("CAP-45", 0)]), "qty of CAP-45"),
    (lambda a: stock.receive_kit(a, [("NOPE-1", 1)]), "sku"),
    (lambda a: stock.parse_lines(["CAP-45"]), "lines"),
    (lambda a: stock.parse_lines(["CAP-45=1", "CAP-45=2"]), "lines"),
    (lambda a: stock.count(a, "CAP-45", -1), "qty"),
    (lambda a: stock.hand_out(a, "CAP-45", "0", "tech-1"), "qty"),
    (lambda a: stock.hand_out(a, "CAP-45", 1, ""), "technician"),
    (lambda a: stock.receive_kit(a, [("CAP-45", "0.5")]), "qty"),
    (lambda a: stock.count(a, "CAP-45", "1.5"), "qty"),
    (lambda a: stock.hand_out(a, "CAP-45", "0.5", "tech-1"), "qty"),
])
def test_bad_van_input_is_refused_naming_the_field(terminal, command, field):
    before = terminal.status()["recorded_ops"]
    with pytest.raises(v.NotRecorded) as refused:
        command(terminal)
    assert refused.value.field == field
    assert terminal.status()["recorded_ops"] == before


def test_a_tablet_sees_its_van_stock_but_kits_are_received_on_the_terminal(hub, code, tmp_path):
    with enrolled(hub, code, tmp_path / "tablet") as tablet:
        assert stock.stock(tablet)[0]["sku"] == "CAP-45"
        with pytest.raises(v.NotRecorded) as refused:
            stock.receive_kit(tablet, [("CAP-45", 1)])
    assert refused.value.field == "device" and "use-part" in refused.value.hint


def add_cable_to_catalogue(hub):
    store_of(hub.app).write([
        ("item", "CBL-25", SET, "name", "Cable 2.5mm2"), ("item", "CBL-25", SET, "unit", "m"),
        ("item", "CBL-25", SET, "unit_cost", "0.80"), ("item", "CBL-25", SET, "unit_price", "2.00"),
    ])


def test_half_a_part_counted_each_is_refused_but_metres_of_cable_may_be_fractions(hub, code, tmp_path):
    add_cable_to_catalogue(hub)
    with enrolled(hub, code, tmp_path / "tablet") as tablet:
        before = tablet.status()["recorded_ops"]
        with pytest.raises(v.NotRecorded) as refused:
            v.use_part(tablet, "job-1", "CAP-45", "0.5")
        assert refused.value.field == "qty" and "CAP-45 is counted in whole pieces (unit ea)" in refused.value.reason
        assert "0.5 is not a whole number" in refused.value.reason
        assert tablet.status()["recorded_ops"] == before
        assert "-1.5" in v.use_part(tablet, "job-1", "CBL-25", "1.5").description  # 0 -> -1.5 m in the van


def test_the_cli_refuses_half_a_part_naming_qty(hub, code, tmp_path):
    from click.testing import CliRunner

    from device_agent.cli import main

    enrolled(hub, code, tmp_path / "tablet").close()
    runner = CliRunner()
    result = runner.invoke(main, ["--home", str(tmp_path / "tablet"), "--json", "use-part", "job-1", "CAP-45", "0.5"])
    assert result.exit_code != 0
    refusal = json.loads(result.stdout)
    assert refusal["ok"] is False and [e["field"] for e in refusal["errors"]] == ["qty"]
    assert "whole" in refusal["errors"][0]["reason"]


def test_the_hub_quarantines_half_a_part_an_older_agent_recorded(hub, code, tmp_path):
    with enrolled(hub, code, tmp_path / "tablet") as tablet:
        # An agent from before the rule: it wrote the use and its movement as typed.
        usage = {"job_id": "job-1", "sku": "CAP-45", "qty": "0.5", "location_id": "van-7", "technician_id": "tech-1",
                 "note": "", "device_time": tablet.device_time()}
        move = {"location_id": "van-7", "sku": "CAP-45", "qty": "-0.5", "reason": "usage", "job_id": "job-1",
                "kit_id": None, "note": "", "device_time": tablet.device_time()}
        tablet.write([("part_usage", "pu-half", APPEND, "", usage), ("stock_move", "pu-half", APPEND, "", move)])
    with online(tmp_path / "tablet") as agent:
        rejected = agent.sync().rejected
    assert sorted(r["field"] for r in rejected) == ["qty", "qty"], rejected
    held = hub_quarantine(hub)  # kept, with the reason, as the device was told
    assert len(held) == 2 and all(q["field"] == "qty" and "CAP-45 is counted in whole pieces" in q["reason"]
                                  for q in held)
    assert hub_view(hub, "part_usage", "pu-half") == {} and hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 2
