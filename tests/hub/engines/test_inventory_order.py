"""Whatever order a day's device work reaches the hub in, and however it is cut into pushes, the
inventory ends the same: stock levels, the ledger, the live exceptions and purchase requests.

A day is recorded once, offline, by the real device library: van-7's terminal receives a kit;
Ana (tech-1) and Ben (tech-2, her crew) use parts from the van beyond what it holds, Ana takes
parts from the warehouse (one use voided), Ben voids a use of his own; Ana completes the job.
Each example then pushes those ops to a fresh copy of the hub through the sync API, in an order
and in batches hypothesis chooses, running the inventory engine after every push.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from device_agent import Agent, visit
from device_agent import van as van_stock
from device_agent.transport import InProcessTransport
from hub import auth
from hub.app import create_app, store_of
from hub.engines.inventory import ENGINE
from hub.engines.inventory_moves import issue_id, reversal_id
from sync.ops import ADD, SET, to_wire

from ..conftest import seed_job
from .test_inventory_ledger import add_items_and_warehouse, ms

FIX = visit.Fix(51.4545, -2.5879, 8)
EVENING = "2026-11-27T17:00:00+00:00"


class Clock:
    def __init__(self, when: str) -> None:
        self.ms = ms(when)

    def __call__(self) -> int:
        return self.ms


def _office(client, token, path, body):
    reply = client.post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 201, reply.json
    return reply.json["data"]


def enrol(app, folder: Path, roster: tuple[tuple[str, str, str], ...]) -> dict[str, Agent]:
    """Enrol each (name, kind, subject) of ``roster`` in process and sync it once."""
    devices = {}
    for name, kind, subject in roster:
        code = auth.create_enrolment_code(store_of(app), kind, subject, name)
        devices[name] = Agent.enrol(folder / name, "http://hub.in-process", code, transport=InProcessTransport(app))
        devices[name].sync()
    return devices


def own_work(devices: dict[str, Agent]) -> dict[str, tuple[str, list]]:
    """Each device's token and the ops it authored; the devices are closed."""
    work = {name: (agent.config.token, [op for op in agent.replica.ops_after({}, 100_000)
                                        if op.node == agent.config.node])
            for name, agent in devices.items()}
    for agent in devices.values():
        agent.close()
    return work


def arrive(tablet: Agent, at, setting_off: str) -> None:
    """The technician accepts job-1 and sets off at ``setting_off``, and checks in at 10:00."""
    at(setting_off)
    visit.accept(tablet, "job-1")
    visit.depart(tablet, "job-1")
    at("10:00")
    visit.check_in(tablet, "job-1", FIX)


def record_the_day(folder: Path) -> dict:
    """The hub as the office left it at 09:00 (saved to ``folder/hub.db``), and each device's
    ops of the day, recorded offline."""
    with freeze_time("2026-11-27T09:00:00+00:00") as frozen:
        clock = Clock("2026-11-27T09:00:00+00:00")
        app = create_app({"database": folder / "hub.db", "clock": clock})
        store, client = store_of(app), app.test_client()
        seed_job(store)
        add_items_and_warehouse(store)
        store.write([("technician", "tech-2", SET, "name", "Ben Okafor"),
                     ("technician", "tech-2", SET, "van_id", "van-7"), ("job", "job-1", ADD, "crew_ids", "tech-2"),
                     ("work_order", "wo-1", SET, "parts_estimate", [{"sku": "CAP-45", "qty": "2"}])])
        token = auth.create_user(store, "office", auth.PERMISSIONS)
        _office(client, token, "/stock/receipts", {"location_id": "wh-1", "lines": [{"sku": "CAP-45", "qty": "10"}]})
        kit = _office(client, token, "/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                                     "lines": [{"sku": "CAP-45", "qty": "3"}]})
        ENGINE.run(store, clock.ms)  # the estimate is reserved at van-7
        devices = enrol(app, folder, (("terminal", "van", "van-7"), ("ana", "technician", "tech-1"),
                                      ("ben", "technician", "tech-2")))
        terminal, ana, ben = devices["terminal"], devices["ana"], devices["ben"]

        def at(when: str) -> None:
            frozen.move_to(f"2026-11-27T{when}:00+00:00")

        at("09:30")
        van_stock.receive_kit(terminal, [], kit["id"])
        arrive(ana, at, "09:40")
        at("10:05")
        ids = {"ana_van": visit.use_part(ana, "job-1", "CAP-45", "2").records[0]["id"]}
        at("10:10")
        ids["ana_wrong"] = visit.use_part(ana, "job-1", "CAP-45", "2", "wh-1").records[0]["id"]
        at("10:12")
        visit.void(ana, "part_usage", ids["ana_wrong"], "took 1, not 2")
        at("10:15")
        ids["ana_wh"] = visit.use_part(ana, "job-1", "CAP-45", "1", "wh-1").records[0]["id"]
        at("10:20")
        ids["ben_van"] = visit.use_part(ben, "job-1", "CAP-45", "4").records[0]["id"]
        at("10:25")
        ids["ben_wrong"] = visit.use_part(ben, "job-1", "CAP-45", "1").records[0]["id"]
        at("10:26")
        visit.void(ben, "part_usage", ids["ben_wrong"], "put it back")
        at("11:00")
        visit.complete(ana, "job-1", "capacitors replaced")
        work = own_work(devices)
        store.close()
    return {"ids": ids, "kit": kit["id"], "work": work, "database": folder / "hub.db"}


@pytest.fixture(scope="module")
def day():
    with tempfile.TemporaryDirectory() as folder:
        yield record_the_day(Path(folder))


@st.composite
def deliveries(draw, work):
    """The day's ops in any order, cut into pushes: each push is one device's consecutive ops."""
    ops = [(name, op) for name, (_token, device_ops) in sorted(work.items()) for op in device_ops]
    order = draw(st.permutations(ops))
    cuts = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    batches: list[tuple[str, list]] = []
    for (name, op), cut in zip(order, cuts, strict=True):
        if batches and batches[-1][0] == name and not cut:
            batches[-1][1].append(op)
        else:
            batches.append((name, [op]))
    return batches


def outcome(store) -> dict:
    """Stock levels, the whole ledger, the live exceptions and the requests not withdrawn."""
    replica = store.replica
    stock = {eid: (str(row.get("on_hand", 0)), str(row.get("reserved", 0)))
             for eid in replica.entity_ids("stock") for row in [replica.entity("stock", eid)]}
    ledger = {eid: (r["value"]["location_id"], r["value"]["qty"], r["value"]["reason"], r["voided"])
              for eid in replica.entity_ids("stock_move") for r in [replica.entity("stock_move", eid)]}
    exceptions = {(r["value"]["reason"], r["value"]["location_id"], r["value"]["qty"], r["value"]["part_usage_id"],
                   r["value"]["at"]) for eid in replica.entity_ids("stock_exception")
                  for r in [replica.entity("stock_exception", eid)] if not r["voided"]}
    requests = {(r["location_id"], r["sku"], r["qty"], r.get("status", "open"))
                for eid in replica.entity_ids("purchase_request")
                for r in [replica.entity("purchase_request", eid)] if not r.get("withdrawn")}
    return {"stock": stock, "ledger": ledger, "exceptions": exceptions, "requests": requests}


def expected(day) -> dict:
    """Worked by hand. van-7 CAP-45: 2 loaded before the ledger + 3 (kit, 09:30) - 2 (Ana, 10:05)
    - 4 (Ben, 10:20) = -1; Ben's use of 1 at 10:25 is voided, so the van ran short at 10:20 by 1.
    wh-1 CAP-45: 10 received - 3 sent in the kit - 2 issued + 2 returned (Ana's void) - 1 issued = 6.
    Reservations are released: the job is completed."""
    ids = day["ids"]
    # The hub's goods issues (and the return of the voided one) under ids derived from the uses.
    derived = {issue_id(ids["ana_wrong"]), reversal_id(ids["ana_wrong"]), issue_id(ids["ana_wh"])}
    return {
        "stock": {"van-7:CAP-45": ("-1", "0"), "wh-1:CAP-45": ("6", "0")},
        "ledger_live": {
            ("wh-1", "10", "receipt"), ("wh-1", "-3", "kit_out"), ("van-7", "3", "kit_in"),
            ("van-7", "-2", "usage"), ("van-7", "-4", "usage"), ("wh-1", "-2", "usage"), ("wh-1", "2", "return"),
            ("wh-1", "-1", "usage")},
        "voided": {ids["ben_wrong"]},
        "derived": derived,
        "exceptions": {("negative_stock", "van-7", "1", ids["ben_van"], "2026-11-27T10:20:00+00:00"),
                       ("other_location", "wh-1", "1", ids["ana_wh"], "2026-11-27T10:15:00+00:00")},
        "requests": {("van-7", "CAP-45", "1", "open")},
    }


def deliver(day, batches, folder: Path, measure=outcome) -> dict:
    target = folder / "hub.db"
    with sqlite3.connect(day["database"]) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    app = create_app({"database": target, "clock": Clock(EVENING)})
    store, client = store_of(app), app.test_client()
    try:
        for name, ops in batches:
            token = day["work"][name][0]
            reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]},
                                headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 200 and reply.json["rejected"] == [], reply.json
            ENGINE.run(store, store.now_ms())
        assert ENGINE.run(store, store.now_ms()) == 0
        return measure(store)
    finally:
        store.close()


def check(day, result) -> None:
    want = expected(day)
    assert {eid: levels for eid, levels in result["stock"].items() if eid.endswith("CAP-45")} == want["stock"]
    live = sorted((loc, qty, reason) for loc, qty, reason, voided in result["ledger"].values() if not voided)
    assert live == sorted(want["ledger_live"])
    assert {eid for eid, move in result["ledger"].items() if move[3]} == want["voided"]
    assert want["derived"] <= set(result["ledger"])
    assert result["exceptions"] == want["exceptions"]
    assert result["requests"] == want["requests"]


def test_the_day_pushed_whole_in_the_order_it_happened(day, tmp_path):
    batches = [(name, ops) for name, (_token, ops) in sorted(day["work"].items())]
    check(day, deliver(day, batches, tmp_path))


@given(data=st.data())
def test_any_arrival_order_and_batch_cuts_give_the_same_stock_ledger_and_exceptions(day, data):
    batches = data.draw(deliveries(day["work"]))
    with tempfile.TemporaryDirectory() as folder:
        result = deliver(day, batches, Path(folder))
    check(day, result)
    whole = day.setdefault("whole", result)  # the first example is the reference for the rest
    assert result == whole


# -- the van's day: one physical event booked twice, counted once ----------------------------------
# A kit received on two terminals, a kit the office cancelled that the van received anyway, parts
# handed out and then used on the job, and a shelf count that uses before and after it reach late.


def record_the_van_day(folder: Path) -> dict:
    """The hub at 09:05 (``folder/hub.db``): 5 FLT-20 and 10 CAP-45 received at wh-1, kit A (3
    FLT-20) and kit B (2 CAP-45) sent to van-7, kit B cancelled by the office once both terminals
    and Ana's tablet had synced. Then, offline, each device's work of the day."""
    with freeze_time("2026-11-27T09:00:00+00:00") as frozen:
        clock = Clock("2026-11-27T09:00:00+00:00")
        app = create_app({"database": folder / "hub.db", "clock": clock})
        store, client = store_of(app), app.test_client()
        seed_job(store)  # van-7 holds 2 CAP-45
        add_items_and_warehouse(store)
        token = auth.create_user(store, "office", auth.PERMISSIONS)
        _office(client, token, "/stock/receipts", {"location_id": "wh-1", "lines": [
            {"sku": "FLT-20", "qty": "5"}, {"sku": "CAP-45", "qty": "10"}]})
        kits = [_office(client, token, "/stock/kits", {"from_location_id": "wh-1", "to_location_id": "van-7",
                                                       "lines": [line]})["id"]
                for line in ({"sku": "FLT-20", "qty": "3"}, {"sku": "CAP-45", "qty": "2"})]
        devices = enrol(app, folder, (("front", "van", "van-7"), ("back", "van", "van-7"),
                                      ("ana", "technician", "tech-1")))
        front, back, ana = devices["front"], devices["back"], devices["ana"]

        def at(when: str) -> None:
            frozen.move_to(f"2026-11-27T{when}:00+00:00")
            clock.ms = int(frozen().timestamp() * 1000)

        at("09:05")
        reply = client.post(f"/api/v1/parts_kits/{kits[1]}/status", json={"status": "cancelled"},
                            headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200, reply.json
        ENGINE.run(store, clock.ms)  # kit B's parts go back on the shelf, as far as the hub knows
        at("09:30")
        van_stock.receive_kit(front, [], kits[0])
        at("09:35")
        van_stock.receive_kit(back, [], kits[0])  # the same kit, on the other terminal
        at("09:40")
        van_stock.receive_kit(front, [], kits[1])  # the cancelled kit was in the van all along
        at("09:45")
        van_stock.hand_out(front, "CAP-45", 1, "tech-1", "job-1")
        arrive(ana, at, "09:50")
        at("10:05")
        visit.use_part(ana, "job-1", "CAP-45", 1)  # the part handed out
        at("10:10")
        visit.use_part(ana, "job-1", "FLT-20", 1)
        at("10:15")
        # The shelf holds 2 + 2 (kit B) - 1 (handed out) = 3; the back terminal knows of 2.
        van_stock.count(back, "CAP-45", 3)
        at("10:20")
        visit.use_part(ana, "job-1", "CAP-45", 1)  # after the count
        at("11:00")
        visit.complete(ana, "job-1", "capacitor and filter replaced")
        work = own_work(devices)
        store.close()
    return {"work": work, "database": folder / "hub.db"}


@pytest.fixture(scope="module")
def van_day():
    with tempfile.TemporaryDirectory() as folder:
        yield record_the_van_day(Path(folder))


def van_outcome(store) -> dict:
    """Stock levels, the live ledger, the live exceptions and the stock rows' conflicts."""
    replica = store.replica
    stock = {eid: str(replica.entity("stock", eid).get("on_hand", 0)) for eid in replica.entity_ids("stock")}
    live = {(eid, r["value"]["location_id"], r["value"]["sku"], r["value"]["qty"], r["value"]["reason"])
            for eid in replica.entity_ids("stock_move") for r in [replica.entity("stock_move", eid)]
            if not r["voided"]}
    exceptions = {(r["value"]["reason"], r["value"]["location_id"], r["value"]["qty"])
                  for eid in replica.entity_ids("stock_exception")
                  for r in [replica.entity("stock_exception", eid)] if not r["voided"]}
    return {"stock": stock, "live": live, "exceptions": exceptions, "conflicts": replica.conflicts("stock")}


def check_van_day(day, result) -> None:
    # van-7 CAP-45: 2 + 2 (kit B, received though cancelled) - 1 handed out - 1 used at 10:20 (the
    # use at 10:05 is the part handed out; the count at 10:15 found the 3 the movements say).
    # van-7 FLT-20: kit A once (3) - 1 used. wh-1: 5 - 3 FLT-20; 10 - 2 CAP-45 (kit B stays gone).
    assert {eid: result["stock"][eid] for eid in ("van-7:CAP-45", "van-7:FLT-20", "wh-1:CAP-45", "wh-1:FLT-20")} == {
        "van-7:CAP-45": "2", "van-7:FLT-20": "2", "wh-1:CAP-45": "8", "wh-1:FLT-20": "2"}
    assert result["exceptions"] == set()
    assert result["conflicts"] == []
    # The hub's settling movements: kit A's second receipt offset, kit B taken off the shelf again,
    # the handed-out part put back at its use, the count's adjustment corrected by the use before it.
    settling = sorted((eid.partition("-")[0], location, qty) for eid, location, _sku, qty, _reason in result["live"]
                      if eid.partition("-")[0] in ("kx", "kd", "hx", "cx"))
    assert settling == [("cx", "van-7", "-1"), ("hx", "van-7", "1"), ("kd", "wh-1", "-2"), ("kx", "van-7", "-3")]
    whole = day.setdefault("whole", result)  # the first delivery is the reference for the rest
    assert result == whole


def test_the_van_day_pushed_whole_counts_each_part_once(van_day, tmp_path):
    batches = [(name, ops) for name, (_token, ops) in sorted(van_day["work"].items())]
    check_van_day(van_day, deliver(van_day, batches, tmp_path, van_outcome))


@settings(max_examples=60)
@given(data=st.data())
def test_any_arrival_order_of_the_van_day_counts_each_part_once(van_day, data):
    batches = data.draw(deliveries(van_day["work"]))
    with tempfile.TemporaryDirectory() as folder:
        result = deliver(van_day, batches, Path(folder), van_outcome)
    check_van_day(van_day, result)
