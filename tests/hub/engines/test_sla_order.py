"""The same visit, pushed in any order and cut into any batches — with the engine running between
the batches or not — ends in the same SLA picture, the one worked out by hand below.

The tablet's clock runs three hours fast; the hub measured that (-3 h) and logs it with each push.
Its ops are stamped in hub time (HLC); its business times (``device_time``, ``written_at``) read
three hours ahead and are corrected by the engine.

Seeded ticket: High, opened 08:00, no contract -> field-service table, 24x7: 60 / 240 / 480 min.
- a customer-visible comment by the technician at 08:35 (tablet: 11:35): response 35 min, met,
  ahead of the job accepted at 08:40; due 08:00 + 60 = 09:00;
- check-in at 10:05 (tablet: 13:05): on site 125 min, met; due 08:00 + 240 = 12:00;
- job completed at 11:30 (the ticket is not resolved): resolution 210 min, met; due 16:00.
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import auth
from hub.app import create_app, store_of
from hub.engines.sla import ENGINE
from sync import hlc
from sync.ops import APPEND, MOVE, Op, to_wire

from ..conftest import seed_job
from .test_sla_support import iso_ms, ms

FAST_MS = 3 * 3600 * 1000


def tablet_time(hhmm):
    """What the fast tablet's clock shows at hub time ``hhmm``."""
    hours, minutes = map(int, hhmm.split(":"))
    return f"2026-11-27T{hours + 3:02d}:{minutes:02d}:00+00:00"


def visit(node):
    """The tablet's ops, authored in this order (counters 1..7)."""
    at = {hhmm: ms(f"2026-11-27T{hhmm}:00Z") for hhmm in ("08:35", "08:40", "09:30", "10:05", "11:30", "11:35")}
    place = {"job_id": "job-1", "technician_id": "tech-1", "lat": 51.45, "lon": -2.59}
    authored = [
        (at["08:35"], "ticket_comment", "cmt-1", APPEND, "", {
            "ticket_id": "tkt-1", "visibility": "customer", "body": "On my way", "author": "Ana Silva",
            "written_at": tablet_time("08:35")}),
        (at["08:40"], "job", "job-1", MOVE, "status", "accepted"),
        (at["09:30"], "job", "job-1", MOVE, "status", "en_route"),
        (at["10:05"], "check_event", "chk-in", APPEND, "", {**place, "direction": "in",
                                                            "device_time": tablet_time("10:05")}),
        (at["10:05"] + 1, "job", "job-1", MOVE, "status", "on_site"),
        (at["11:30"], "job", "job-1", MOVE, "status", "completed"),
        (at["11:35"], "check_event", "chk-out", APPEND, "", {**place, "direction": "out",
                                                             "device_time": tablet_time("11:35")}),
    ]
    return [Op(node, counter, hlc.pack(wall), entity, eid, action, field, value)
            for counter, (wall, entity, eid, action, field, value) in enumerate(authored, 1)]


def stopped(target, due, elapsed, at, by):
    return {"target_min": target, "state": "met", "due_at": iso_ms(due), "elapsed_min": elapsed, "paused_min": 0.0,
            "stopped_at": iso_ms(at), "stopped_by": by, "paused": False, "as_of": iso_ms(at)}


EXPECTED = {
    "priority": "High", "policy": "table:field_service", "calendar": "24x7",
    "response": stopped(60, "2026-11-27T09:00:00Z", 35.0, "2026-11-27T08:35:00Z", "staff comment"),
    "onsite": stopped(240, "2026-11-27T12:00:00Z", 125.0, "2026-11-27T10:05:00Z", "check-in"),
    "resolution": stopped(480, "2026-11-27T16:00:00Z", 210.0, "2026-11-27T11:30:00Z", "job completed"),
}


class Clock:
    def __init__(self, now):
        self.ms = now

    def __call__(self):
        return self.ms


def picture_after(order, cuts, run_between):
    """A fresh hub receives the visit in ``order``, cut before each index in ``cuts``."""
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock(ms("2026-11-27T08:00:00Z"))
        app = create_app({"database": Path(folder) / "hub.db", "clock": clock})
        store = store_of(app)
        try:
            seed_job(store)
            device, token = auth.enrol(store, auth.create_enrolment_code(store, "technician", "tech-1", "tablet"),
                                       "tablet", "test")
            headers = {"Authorization": f"Bearer {token}"}
            ops = visit(device.node)
            ordered = [ops[i] for i in order]
            bounds = [0, *sorted(cuts), len(ordered)]
            client = app.test_client()
            for number, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
                clock.ms = ms("2026-11-27T12:00:00Z") + number * 30 * 60_000
                client.post("/api/v1/sync/hello", headers=headers,
                            json={"device_now_ms": clock.ms + FAST_MS, "clock_offset_ms": -FAST_MS})
                reply = client.post("/api/v1/sync/push", headers=headers,
                                    json={"ops": [to_wire(op) for op in ordered[start:end]]}).json
                assert reply["accepted"] == end - start and reply["rejected"] == []
                if run_between:
                    ENGINE.run(store, clock.ms)
            clock.ms = ms("2026-11-27T16:00:00Z")
            ENGINE.run(store, clock.ms)
            assert ENGINE.run(store, clock.ms) == 0
            return store.replica.entity("ticket", "tkt-1")["sla"]
        finally:
            store.close()


def test_the_visit_in_the_order_it_happened_gives_the_hand_computed_picture():
    assert picture_after(range(7), set(), run_between=False) == EXPECTED


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(7)), cuts=st.sets(st.integers(1, 6), max_size=4), run_between=st.booleans())
def test_arrival_order_and_batch_cuts_do_not_change_the_sla_picture(order, cuts, run_between):
    assert picture_after(order, cuts, run_between) == EXPECTED
