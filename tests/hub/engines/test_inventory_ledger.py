"""The stock ledger at the hub: a warehouse receives stock and sends a van a parts kit; the van's
terminal books its arrival offline; the reconciliation balances. Shared helpers for the other
inventory tests live here too."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

import pytest
from freezegun import freeze_time

from device_agent import Agent
from device_agent import van as van_stock
from device_agent.transport import InProcessTransport
from hub import auth
from hub.engines.inventory import ENGINE
from sync.ops import SET

from ..conftest import seed_job

API = "/api/v1"


# -- helpers shared by the inventory tests ---------------------------------------------------------
def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class World:
    """A hub (real SQLite, Flask test client) with its clock, and devices working beside it."""

    def __init__(self, app, store, client, office, clock, tmp_path) -> None:
        self.app, self.store, self.client, self.office, self.clock = app, store, client, office, clock
        self.tmp_path = tmp_path
        self.frozen = None
        self.agents: list[Agent] = []

    @contextmanager
    def day(self, start: str = "2026-11-27T09:00:00+00:00"):
        """Freeze time for the devices (their wall clocks) and set the hub's clock beside it."""
        with freeze_time(start) as frozen:
            self.frozen = frozen
            self.clock.ms = ms(start)
            try:
                yield self
            finally:
                for agent in self.agents:
                    agent.close()

    def at(self, when: str) -> None:
        """It is now ``when`` for the hub and for every device."""
        self.frozen.move_to(when)
        self.clock.ms = ms(when)

    def device(self, kind: str, subject: str, name: str = "") -> Agent:
        """Enrol a tablet (technician) or a van terminal and sync it once, online; ``name`` tells
        apart two devices of one subject."""
        code = auth.create_enrolment_code(self.store, kind, subject, name or f"{kind} {subject}")
        agent = Agent.enrol(self.tmp_path / (name or f"{kind}-{subject}"), "http://hub.in-process", code,
                            transport=InProcessTransport(self.app))
        self.agents.append(agent)
        assert agent.sync().rejected == []
        return agent

    def sync(self, agent: Agent) -> None:
        assert agent.sync().rejected == []

    def run(self) -> int:
        """One round of the inventory engine, as after a push."""
        return ENGINE.run(self.store, self.clock.ms)

    def get(self, path: str, **params):
        reply = self.client.get(f"{API}{path}", query_string=params, headers=self.office)
        assert reply.status_code == 200, reply.json
        return reply.json["data"]

    def post(self, path: str, body: dict, status: int = 201):
        reply = self.client.post(f"{API}{path}", json=body, headers=self.office)
        assert reply.status_code == status, reply.json
        return reply.json

    def stock(self, location: str, sku: str) -> dict:
        rows = self.get("/stock", location_id=location, sku=sku)
        assert len(rows) == 1
        return {name: rows[0][name] for name in ("on_hand", "reserved", "available")}

    def reconciliation(self, location: str, sku: str) -> dict:
        rows = self.get("/stock/reconciliation", location_id=location, sku=sku)
        assert len(rows) == 1
        return rows[0]


def add_items_and_warehouse(store) -> None:
    """A second SKU in the catalogue and a warehouse, Central (wh-1), that holds nothing yet."""
    store.write([
        ("item", "FLT-20", SET, "name", "Filter 20in"), ("item", "FLT-20", SET, "unit_cost", "3.00"),
        ("item", "FLT-20", SET, "unit_price", "9.00"),
        ("stock_location", "wh-1", SET, "kind", "warehouse"), ("stock_location", "wh-1", SET, "name", "Central"),
    ])


@pytest.fixture(name="world")
def world_fixture(app, store, client, office, clock, tmp_path):
    """The seeded job (tech-1, van-7 holding 2 CAP-45), FLT-20 in the catalogue and an empty
    warehouse wh-1, on 2026-11-27 from 09:00 (frozen; move on with ``world.at``)."""
    seed_job(store)  # tech-1 drives van-7, which holds 2 CAP-45 loaded before the ledger existed
    add_items_and_warehouse(store)
    world = World(app, store, client, office, clock, tmp_path)
    with world.day():
        yield world


# -- the tests ---------------------------------------------------------------------------------------
def test_a_van_receives_a_kit_the_warehouse_is_deducted_at_dispatch_and_the_ledger_reconciles(world):
    received = world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "10"},
                                                                               {"sku": "CAP-45", "qty": "4"}]})
    assert [(m["sku"], m["qty"], m["reason"]) for m in received["data"]["moves"]] == [
        ("FLT-20", "10", "receipt"), ("CAP-45", "4", "receipt")]
    assert world.stock("wh-1", "FLT-20") == {"on_hand": "10", "reserved": "0", "available": "10"}

    world.at("2026-11-27T09:30:00+00:00")
    kit = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7", "job_id": "job-1",
                                     "lines": [{"sku": "FLT-20", "qty": "3"}]})["data"]
    assert kit["status"] == "dispatched" and [(m["qty"], m["reason"]) for m in kit["moves"]] == [("-3", "kit_out")]
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "7"  # deducted at dispatch
    assert world.get("/stock", location_id="van-7", sku="FLT-20") == []  # not at the van yet
    assert world.run() == 0  # the kit's warehouse side is booked already

    terminal = world.device("van", "van-7")
    world.at("2026-11-27T10:15:00+00:00")
    van_stock.receive_kit(terminal, [], kit["id"])  # offline, in the van
    world.sync(terminal)
    assert world.stock("van-7", "FLT-20") == {"on_hand": "3", "reserved": "0", "available": "3"}
    assert world.get(f"/parts_kits/{kit['id']}")["status"] == "received"
    assert world.run() == 0 and world.get("/stock/exceptions") == []

    ledger = world.get("/stock/moves", kit_id=kit["id"])
    assert sorted((m["location_id"], m["qty"], m["reason"]) for m in ledger) == [
        ("van-7", "3", "kit_in"), ("wh-1", "-3", "kit_out")]
    for location, sku, on_hand, moves_total, opening in [("wh-1", "FLT-20", "7", "7", "0"),
                                                         ("wh-1", "CAP-45", "4", "4", "0"),
                                                         ("van-7", "FLT-20", "3", "3", "0"),
                                                         ("van-7", "CAP-45", "2", "0", "2")]:
        row = world.reconciliation(location, sku)
        assert (row["on_hand"], row["moves_total"], row["opening"], row["difference"]) == (
            on_hand, moves_total, opening, "0"), row
        assert row["balanced"] and row["in_transit"] == "0" and row["kits"] == []


def test_a_kit_in_transit_shows_and_one_received_short_is_flagged(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "5"}]})
    kit = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "FLT-20", "qty": "4"}]})["data"]
    terminal = world.device("van", "van-7")
    in_transit = world.reconciliation("wh-1", "FLT-20")
    assert in_transit["on_hand"] == "1" and in_transit["balanced"]
    van_stock.receive_kit(terminal, [("FLT-20", "3")], kit["id"])  # one filter missing from the box
    world.sync(terminal)
    row = world.reconciliation("van-7", "FLT-20")
    assert row["on_hand"] == "3" and row["difference"] == "0" and not row["balanced"]
    assert row["kits"] == [{"kit_id": kit["id"], "sent": "4", "received": "3", "difference": "-1"}]
    flagged = world.client.get(f"{API}/stock/reconciliation", query_string={"balanced": "false"},
                               headers=world.office).json
    assert flagged["flagged"] == 1 and [r["id"] for r in flagged["data"]] == ["van-7:FLT-20"]


def test_a_kit_dispatched_through_the_generic_routes_leaves_its_warehouse_once_and_comes_back_if_cancelled(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "5"}]})
    kit = world.post("/parts_kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "FLT-20", "qty": "2"}]})["data"]
    assert world.run() == 0  # prepared: still on the shelf
    world.post(f"/parts_kits/{kit['id']}/status", {"status": "dispatched"}, 200)
    assert world.run() > 0 and world.run() == 0
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "3"
    world.post(f"/parts_kits/{kit['id']}/status", {"status": "cancelled"}, 200)
    world.run()
    assert world.run() == 0
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "5"
    assert sorted((m["qty"], m["reason"]) for m in world.get("/stock/moves", kit_id=kit["id"])) == [
        ("-2", "kit_out"), ("2", "return")]
    assert world.reconciliation("wh-1", "FLT-20")["balanced"]


def test_a_kit_leaves_only_with_what_its_warehouse_holds_and_its_lines_are_fixed_once_it_has_left(world):
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "FLT-20", "qty": "5"}]})
    big = world.post("/parts_kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "FLT-20", "qty": "500"}]})["data"]
    refused = world.post(f"/parts_kits/{big['id']}/status", {"status": "dispatched"}, 409)
    assert [e["field"] for e in refused["errors"]] == ["lines.0.qty"] and "wh-1 holds 5 FLT-20" in str(refused)
    assert world.get(f"/parts_kits/{big['id']}")["status"] == "prepared"

    sent = world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                      "lines": [{"sku": "FLT-20", "qty": "2"}]})["data"]
    reply = world.client.patch(f"{API}/parts_kits/{sent['id']}", json={"lines": [{"sku": "FLT-20", "qty": "9"}]},
                               headers=world.office)
    assert reply.status_code == 409 and reply.json["errors"][0]["field"] == "lines"
    assert world.get(f"/parts_kits/{sent['id']}")["lines"] == [{"sku": "FLT-20", "qty": "2"}]
    ok = world.client.patch(f"{API}/parts_kits/{big['id']}", json={"lines": [{"sku": "FLT-20", "qty": "3"}]},
                            headers=world.office)
    assert ok.status_code == 200  # a kit not yet gone can still be packed again
    world.post(f"/parts_kits/{big['id']}/status", {"status": "dispatched"}, 200)
    world.run()
    assert world.stock("wh-1", "FLT-20")["on_hand"] == "0"


@pytest.mark.parametrize("path, body, status, field", [
    ("/stock/receipts", {"location_id": "van-7", "lines": [{"sku": "CAP-45", "qty": "1"}]}, 400, "location_id"),
    ("/stock/receipts", {"location_id": "wh-9", "lines": [{"sku": "CAP-45", "qty": "1"}]}, 400, "location_id"),
    ("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "NOPE-1", "qty": "1"}]}, 400, "lines.0.sku"),
    ("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "0"}]}, 400, "lines.0.qty"),
    ("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "0.0000001"}]}, 400,
     "lines.0.qty"),
    ("/stock/receipts", {"location_id": "wh-1", "lines": []}, 400, "lines"),
    ("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "0.5"}]}, 400, "lines.0.qty"),
    ("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                     "lines": [{"sku": "CAP-45", "qty": "1.5"}]}, 400, "lines.0.qty"),
    ("/parts_kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                     "lines": [{"sku": "FLT-20", "qty": "1"}, {"sku": "CAP-45", "qty": "0.25"}]}, 400, "lines.1.qty"),
    ("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                     "lines": [{"sku": "CAP-45", "qty": "1"}]}, 409, "lines.0.qty"),
    ("/stock/kits", {"from_location_id": "van-7", "to_location_id": "wh-1",
                     "lines": [{"sku": "CAP-45", "qty": "1"}]}, 400, "from_location_id"),
    ("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7", "job_id": "job-404",
                     "lines": [{"sku": "CAP-45", "qty": "1"}]}, 400, "job_id"),
])
def test_bad_receipts_and_kits_are_refused_with_the_field_named_and_nothing_written(world, path, body, status, field):
    before = world.store.replica.canonical()
    reply = world.client.post(f"{API}{path}", json=body, headers=world.office)
    assert reply.status_code == status
    assert field in [error["field"] for error in reply.json["errors"]], reply.json
    assert world.store.replica.canonical() == before


def test_an_item_counted_each_moves_in_whole_pieces_and_one_in_metres_in_fractions(world):
    world.store.write([("item", "CBL-25", SET, "name", "Cable 2.5mm2"), ("item", "CBL-25", SET, "unit", "m"),
                       ("item", "CBL-25", SET, "unit_cost", "0.80"), ("item", "CBL-25", SET, "unit_price", "2.00")])
    world.post("/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CBL-25", "qty": "50.5"},
                                                                   {"sku": "CAP-45", "qty": "4"}]})
    world.post("/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                               "lines": [{"sku": "CBL-25", "qty": "12.5"}]})
    assert world.stock("wh-1", "CBL-25")["on_hand"] == "38"
    kit = world.post("/parts_kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                     "lines": [{"sku": "CAP-45", "qty": "2"}]})["data"]
    reply = world.client.patch(f"{API}/parts_kits/{kit['id']}", json={"lines": [{"sku": "CAP-45", "qty": "2.5"}]},
                               headers=world.office)
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "lines.0.qty"
    assert "CAP-45 is counted in whole pieces (unit ea): 2.5 is not a whole number" in reply.json["errors"][0]["reason"]
    assert world.get(f"/parts_kits/{kit['id']}")["lines"] == [{"sku": "CAP-45", "qty": "2"}]


def test_reading_the_ledger_needs_read_and_changing_it_needs_manage(world):
    reader = {"Authorization": f"Bearer {auth.create_user(world.store, 'clerk', ['service_management:read'])}"}
    assert world.client.get(f"{API}/stock", headers=reader).status_code == 200
    refused = world.client.post(f"{API}/stock/receipts", headers=reader,
                                json={"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "1"}]})
    assert refused.status_code == 403
