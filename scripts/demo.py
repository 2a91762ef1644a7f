"""FieldSync demo: three replicas work offline on the same job, sync, and converge.

The office replica plans the job; two technician tablets take it offline, both work it —
including a conflicting edit, parts from the same van and a status move that can no longer
apply — then sync through the office. Every replica ends with the same state, byte for byte.

    python scripts/demo.py [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schema import REGISTRY  # noqa: E402
from sync.hlc import format_hlc  # noqa: E402
from sync.ops import APPEND, INCR, MOVE, SET, dumps  # noqa: E402
from sync.protocol import sync  # noqa: E402
from sync.store import SqliteReplica  # noqa: E402
from sync.transport import InMemoryTransport  # noqa: E402

MINUTE = 60_000


class SimulatedClock:
    """The demo's wall clock: starts now and moves only when the story says time passes."""

    def __init__(self) -> None:
        self.ms = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.ms

    def advance(self, minutes: float) -> None:
        self.ms += int(minutes * MINUTE)

    def iso(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.ms / 1000))


def job_digest(replica: SqliteReplica, job_id: str) -> str:
    """sha256 of the job's canonical merged state: the job and every record that points at it."""
    state = {"job": replica.entity("job", job_id), "records": {}}
    for entity in ("check_event", "time_log", "part_usage", "stock_move"):
        for eid in replica.entity_ids(entity):
            record = replica.register(entity, eid)
            if record is not None and record.record and record.record.value.get("job_id") == job_id:
                state["records"][f"{entity}/{eid}"] = [record.record.value, record.voided]
    state["conflicts"] = [c for c in replica.conflicts("job", job_id)]
    return hashlib.sha256(dumps(state)).hexdigest()


def plan_the_job(office: SqliteReplica, clock: SimulatedClock) -> None:
    now = clock()
    w = office.write
    w(now, "customer", "cust-1", SET, "name", "Harbour Hotel")
    w(now, "site", "site-1", SET, "customer_id", "cust-1")
    w(now, "site", "site-1", SET, "address", "1 Quay Street, Bristol")
    w(now, "ticket", "tkt-1", SET, "customer_id", "cust-1")
    w(now, "ticket", "tkt-1", SET, "title", "Rooftop AC unit not cooling")
    w(now, "ticket", "tkt-1", SET, "priority", "High")
    w(now, "ticket", "tkt-1", SET, "opened_at", clock.iso())
    w(now, "work_order", "wo-1", SET, "ticket_id", "tkt-1")
    w(now, "work_order", "wo-1", SET, "scope", "Diagnose and repair the rooftop AC unit")
    w(now, "job", "job-1", SET, "work_order_id", "wo-1")
    w(now, "job", "job-1", SET, "ticket_id", "tkt-1")
    w(now, "job", "job-1", SET, "van_id", "van-7")
    w(now, "stock", "van-7:CAP-45", INCR, "on_hand", 3)
    w(now, "stock", "van-7:FAN-12", INCR, "on_hand", 1)


def work_offline(tablet: SqliteReplica, clock: SimulatedClock, tech: str, notes: str, capacitors: int) -> None:
    w = tablet.write
    w(clock(), "job", "job-1", MOVE, "status", "accepted")
    clock.advance(1)
    w(clock(), "job", "job-1", MOVE, "status", "en_route")
    clock.advance(25)
    w(clock(), "check_event", f"chk-{tech}", APPEND, value={
        "job_id": "job-1", "technician_id": tech, "direction": "in", "lat": 51.4505, "lon": -2.5966,
        "accuracy_m": 8.0, "device_time": clock.iso()})
    started = clock.iso()
    clock.advance(50)
    w(clock(), "time_log", f"tl-{tech}", APPEND, value={
        "job_id": "job-1", "technician_id": tech, "started_at": started, "ended_at": clock.iso(),
        "description": notes, "billable": True})
    w(clock(), "part_usage", f"pu-{tech}", APPEND, value={
        "job_id": "job-1", "sku": "CAP-45", "qty": str(capacitors), "location_id": "van-7",
        "technician_id": tech, "device_time": clock.iso()})
    w(clock(), "stock", "van-7:CAP-45", INCR, "on_hand", -capacitors)
    w(clock(), "job", "job-1", SET, "completion_notes", notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="keep the replica files in DIR instead of a temporary folder")
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fieldsync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    clock = SimulatedClock()
    office = SqliteReplica.open(folder / "office.db", "office", REGISTRY)
    tablets = {
        "tablet-ana": SqliteReplica.open(folder / "tablet-ana.db", "tablet-ana", REGISTRY),
        "tablet-ben": SqliteReplica.open(folder / "tablet-ben.db", "tablet-ben", REGISTRY),
    }
    link = InMemoryTransport(office, clock)
    replicas = {"office": office, **tablets}
    try:
        print(f"replicas in {folder}")
        plan_the_job(office, clock)
        for name, tablet in tablets.items():
            report = sync(tablet, link, clock())
            print(f"{name}: pulled {report.pulled} ops from the office before going offline")

        print("\n-- offline: both technicians work job-1 --")
        # The two visits overlap in time: each tablet keeps its own clock while offline.
        ana_clock, ben_clock = SimulatedClock(), SimulatedClock()
        ana_clock.ms = ben_clock.ms = clock.ms + 2 * MINUTE
        work_offline(tablets["tablet-ana"], ana_clock, "ana", "Replaced start capacitor", capacitors=2)
        work_offline(tablets["tablet-ben"], ben_clock, "ben", "Replaced fan motor and capacitor", capacitors=2)
        office.write(clock(), "ticket", "tkt-1", MOVE, "status", "in_progress")
        clock.ms = max(ana_clock.ms, ben_clock.ms) + MINUTE
        for name, tablet in tablets.items():
            print(f"{name}: {tablet.max_counters()[tablet.node]} ops of its own recorded, waiting for a network")

        print("\n-- back online: each tablet syncs with the office, then once more --")
        for _round in range(2):
            for name, tablet in tablets.items():
                report = sync(tablet, link, clock())
                print(f"{name}: pushed {report.pushed}, pulled {report.pulled}, rejected {len(report.rejected)}")

        print()
        for name, replica in replicas.items():
            print(f"digest {name}: {job_digest(replica, 'job-1')}")
        whole = {hashlib.sha256(replica.canonical()).hexdigest() for replica in replicas.values()}
        print(f"whole-replica digests identical: {len(whole) == 1}")

        print("\nvan-7 stock of CAP-45 (3 loaded, 2 + 2 used offline):")
        for name, replica in replicas.items():
            print(f"  {name}: {replica.entity('stock', 'van-7:CAP-45').get('on_hand')}")

        print("\njob-1 status history (merged):")
        register = office.register("job", "job-1", "status")
        skipped = dict(register.skipped)
        for transition in register.transitions:
            note = f"  (skipped: {skipped[transition.id]})" if transition.id in skipped else ""
            print(f"  {format_hlc(transition.hlc)}  {transition.node:<11} -> {transition.target:<9}{note}")
        print(f"  now: {register.state}")

        print("\nconflicts kept (both values visible):")
        for conflict in office.conflicts():
            values = f"{conflict['value']!r} lost to {conflict['winner_value']!r}" if conflict["winner"] else ""
            print(f"  {conflict['entity']}/{conflict['eid']}.{conflict['field']}: {conflict['detail']} {values}")
        return 0 if len(whole) == 1 else 1
    finally:
        for replica in replicas.values():
            replica.close()


if __name__ == "__main__":
    sys.exit(main())
