"""Exactly once, whatever the network does: the same device ops delivered in any order, cut into
any batches, some delivered twice, with the engine run and every open invoice sent at arbitrary
moments in between, always end with each source billed exactly once net — the same figures,
worked out by hand — and no sent invoice ever changed."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from freezegun import freeze_time
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.app import create_app, store_of
from hub.billing import invoices as billing
from hub.errors import ApiError
from sync import hlc
from sync.ops import MOVE, Op

from .test_billing_world import Tablet, contract, invoices, item, net_by_source, run, sync, ticket

NOW_MS = 1_795_770_000_000  # 2026-11-27 09:00 UTC
D = Decimal


def tm_work():
    """Ana's T&M visit as device ops, and the office resolving the ticket from its own node."""
    tablet = Tablet()
    job = "j-T1"
    ops = [
        *tablet.visit(job),
        tablet.time("tl-1", job, "2026-11-27T09:00:00Z", "2026-11-27T10:10:00Z"),
        tablet.time("tl-2", job, "2026-11-27T08:35:00Z", "2026-11-27T09:00:00Z", category="travel"),
        tablet.time("tl-3", job, "2026-11-27T10:10:00Z", "2026-11-27T10:50:00Z", billable=False),
        tablet.time("tl-4", job, "2026-11-27T11:00:00Z", "2026-11-27T11:50:00Z"),
        tablet.void("time_log", "tl-4"),
        tablet.part("pu-1", job, 2),
        tablet.part("pu-2", job, 1),
        tablet.void("part_usage", "pu-2"),
        tablet.time("tl-5", job, "2026-11-27T12:00:00Z", "2026-11-27T12:20:00Z"),
        tablet.time("tl-6", job, "2026-11-27T12:30:00Z", "2026-11-27T13:00:00Z"),
        tablet.void("time_log", "tl-6"),
        tablet.unvoid("time_log", "tl-6"),
        Op("office-pc", 1, hlc.pack(NOW_MS - 60_000), "ticket", "T1", MOVE, "status", "resolved"),
    ]
    return ops


TM_OPS = tm_work()
# By hand (85.00/h, travel 40.00/h, call-out 45.00, 30-min increments; tl-3 non-billable, tl-4 and
# pu-2 voided, tl-6 voided then restored):
TM_EXPECTED = {
    ("time_log", "tl-1"): (D("1.5"), D("127.50")),  # 1h10m -> 1.5 h
    ("time_log", "tl-2"): (D("0.5"), D("20.00")),  # 25 min travel -> 0.5 h x 40.00
    ("time_log", "tl-5"): (D("0.5"), D("42.50")),  # 20 min -> 0.5 h
    ("time_log", "tl-6"): (D("0.5"), D("42.50")),  # 30 min
    ("part_usage", "pu-1"): (D("2"), D("25.00")),  # 2 x 12.50
    ("callout", "j-T1"): (D("1"), D("45.00")),
}
TM_TOTAL = D("272.25")  # 302.50 less 10% per line (12.75 + 2.00 + 4.25 + 4.25 + 2.50 + 4.50 = 30.25)


def retainer_work():
    tablet = Tablet(start_ms=1_796_083_500_000 - 3_600_000)  # an hour before 2026-12-01 00:05
    job = "j-R1"
    return [
        tablet.time("oct-1", job, "2026-10-12T09:00:00Z", "2026-10-12T15:00:00Z"),
        tablet.time("oct-2", job, "2026-10-20T09:00:00Z", "2026-10-20T11:00:00Z"),
        tablet.time("nov-1", job, "2026-11-09T08:00:00Z", "2026-11-09T16:00:00Z"),
        tablet.time("nov-2", job, "2026-11-10T08:00:00Z", "2026-11-10T15:00:00Z"),
        tablet.time("nov-3", job, "2026-11-11T08:00:00Z", "2026-11-11T11:00:00Z"),
        tablet.void("time_log", "nov-3"),
    ]


RETAINER_OPS = retainer_work()
# October 8 h of 10: 2 h carry (cap 3). November 15 h of 10 + 2: 3 h x 90.00. December still runs.
RETAINER_EXPECTED = {
    ("period", "c-ret:2026-10-01"): (D("1"), D("1000.00")),
    ("period", "c-ret:2026-11-01"): (D("1"), D("1000.00")),
    ("retainer_overage", "c-ret:2026-11-01"): (D("3"), D("270.00")),
}


@st.composite
def deliveries(draw, count):
    """Batches of op indexes (a permutation cut anywhere), each with what the office does after it."""
    order = draw(st.permutations(range(count)))
    cuts = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    after = draw(st.lists(st.sampled_from(["nothing", "run", "run and send"]), min_size=count, max_size=count))
    again = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    batches, current = [], []
    for position, index in enumerate(order):
        current.append(index)
        if cuts[position] or position == count - 1:
            batches.append((current, after[position], again[position]))
            current = []
    # The office may send whatever is open at the end too (credit notes for late voids included).
    batches[-1] = (batches[-1][0], draw(st.sampled_from(["run", "run and send"])), batches[-1][2])
    return batches


def deliver(store, ops, batches, sent):
    for indexes, then, twice in batches:
        sync(store, [ops[i] for i in indexes])
        if twice:
            sync(store, [ops[i] for i in indexes])  # a batch re-sent after a lost acknowledgement
        if then != "nothing":
            run(store)
        if then == "run and send":
            for invoice in invoices(store):
                if invoice["status"] in ("draft", "approved"):
                    try:
                        sent[invoice["id"]] = billing.send(store, store.now_ms(), invoice["id"])
                    except ApiError:
                        pass  # the send's own engine run found nothing left on it
    run(store)


def check(store, expected, sent):
    kinds = sorted({inv["kind"] for inv in invoices(store) if inv["status"] in ("sent", "paid")})
    event(f"sent: {', '.join(kinds) or 'nothing'}")
    assert net_by_source(store) == expected
    assert run(store) == 0
    for eid, at_sending in sent.items():
        now = [inv for inv in invoices(store) if inv["id"] == eid][0]
        assert {k: v for k, v in now.items() if k != "status"} == {k: v for k, v in at_sending.items()
                                                                   if k != "status"}
        assert now["status"] in ("sent", "paid")


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(deliveries(len(TM_OPS)))
def test_time_and_material_bills_each_source_once_whatever_the_order_batches_and_sends(batches):
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"database": Path(folder) / "hub.db", "clock": lambda: NOW_MS})
        store = store_of(app)
        try:
            contract(store, "c-tm", "time_material",
                     rates={"labour_rate": "85.00", "callout_fee": "45.00", "travel_rate": "40.00",
                            "discount_pct": "10"})
            item(store)
            ticket(store, "T1", "c-tm")
            sent: dict = {}
            deliver(store, TM_OPS, batches, sent)
            check(store, TM_EXPECTED, sent)
            live = [inv for inv in invoices(store) if inv["status"] != "void"]
            assert sum((D(inv["total"]) for inv in live), D(0)) == TM_TOTAL
        finally:
            store.close()


@FAST
@given(deliveries(len(RETAINER_OPS)))
def test_a_retainer_bills_each_period_and_its_overage_once_whatever_the_order_batches_and_sends(batches):
    with tempfile.TemporaryDirectory() as folder, freeze_time("2026-12-01 00:05:00"):
        app = create_app({"database": Path(folder) / "hub.db"})
        store = store_of(app)
        try:
            contract(store, "c-ret", "retainer", starts_at="2026-10-01T00:00:00+00:00", billing={
                "retainer_fee": "1000.00", "retainer_hours": "10", "overage_rate": "90.00",
                "carry_over": "rollover", "rollover_cap_hours": "3"})
            ticket(store, "R1", "c-ret")
            sent: dict = {}
            deliver(store, RETAINER_OPS, batches, sent)
            check(store, RETAINER_EXPECTED, sent)
        finally:
            store.close()
