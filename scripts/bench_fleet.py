"""``bench.py fleet``: many devices syncing against one hub on loopback — latency and errors.

Each simulated device does what a tablet does at a sync: hello, push its new ops (a handful of time
logs on its own job), pull what is new in its scope. The devices are enrolled up front; the load
runs in a separate process (threads, one HTTP session each) so it does not share the hub's
interpreter. Bounded twice: each device syncs ``--rounds`` times, and the run stops at
``--deadline`` seconds whatever is left.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import requests
from bench_hub import TECH, HubProcess, emit, progress, temporary_folder, time_ordered_id

from hub import auth
from hub.config import HubConfig
from hub.store import HubStore
from sync.hlc import pack
from sync.ops import APPEND, SET, Op, to_wire

SCRIPTS = Path(__file__).resolve().parent


def configure_fleet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="syncs per device")
    parser.add_argument("--ops", type=int, default=10, help="ops each device pushes per sync")
    parser.add_argument("--concurrency", type=int, default=32, help="devices syncing at once")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds before the load stops by itself")
    parser.add_argument("--db", default=None, help="a postgresql:// URL to run the hub on PostgreSQL")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (PostgreSQL only)")


def enrol_fleet(db: str | Path, devices: int) -> list[dict[str, str]]:
    """``devices`` technicians, one job each, one enrolled tablet each: [{node, token, job}]."""
    store = HubStore(HubConfig.load({"database": db}))
    fleet = []
    try:
        for start in range(0, devices, 100):
            changes: list[tuple[Any, ...]] = [("customer", "cust-fleet", SET, "name", "Fleet customer")]
            for i in range(start, min(devices, start + 100)):
                tech, job = f"tech-{i:05d}", f"job-{i:05d}"
                changes += [("technician", tech, SET, "name", f"Technician {i}"),
                            ("ticket", f"tkt-{i:05d}", SET, "customer_id", "cust-fleet"),
                            ("ticket", f"tkt-{i:05d}", SET, "title", f"ticket {i}"),
                            ("ticket", f"tkt-{i:05d}", SET, "opened_at", "2026-11-27T08:00:00+00:00"),
                            ("job", job, SET, "ticket_id", f"tkt-{i:05d}"), ("job", job, SET, "technician_id", tech)]
            store.write(changes)
            for i in range(start, min(devices, start + 100)):
                code = auth.create_enrolment_code(store, "technician", f"tech-{i:05d}", f"tablet {i}")
                device, token = auth.enrol(store, code, f"tablet {i}", "bench")
                fleet.append({"node": device.node, "token": token, "job": f"job-{i:05d}"})
    finally:
        store.close()
    return fleet


def bench_fleet(args: argparse.Namespace) -> int:
    with temporary_folder() as tmp:
        folder = Path(tmp)
        database = args.db or str(folder / "hub.db")
        progress(f"fleet: enrolling {args.devices} devices")
        fleet = enrol_fleet(database, args.devices)
        (folder / "fleet.json").write_text(json.dumps(fleet))
        extra = ("--workers", str(args.workers)) if args.workers else ()
        with HubProcess(database, *extra) as hub:
            progress(f"fleet: {args.devices} devices x {args.rounds} syncs, {args.concurrency} at once, "
                     f"against {hub.url} ({'PostgreSQL' if args.db else 'SQLite'})")
            load = subprocess.run(
                [sys.executable, str(SCRIPTS / "bench.py"), "_fleet", hub.url, str(folder / "fleet.json"),
                 str(args.rounds), str(args.ops), str(args.concurrency), str(args.deadline)],
                capture_output=True, text=True, timeout=args.deadline + 120)
            if load.returncode != 0:
                raise SystemExit(f"bench: the load process failed: {load.stderr[-800:]}")
        result = json.loads(load.stdout.strip().splitlines()[-1])
    emit({"bench": "fleet", "backend": "postgresql" if args.db else "sqlite", "workers": args.workers or 1,
          "devices": args.devices, **result})
    return 0


def fleet_client(argv: list[str]) -> int:
    """``bench.py _fleet URL FLEET_FILE ROUNDS OPS CONCURRENCY DEADLINE``: the load, in its own process."""
    url, fleet_file = argv[0], argv[1]
    rounds, ops_each, concurrency, deadline = int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5])
    fleet = json.loads(Path(fleet_file).read_text())
    latencies: dict[str, list[float]] = {"hello": [], "push": [], "pull": [], "sync": []}
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def call(path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        reply = session().post(f"{url}/api/v1/sync/{path}", data=orjson.dumps(body), timeout=60,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with lock:
            latencies[path].append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise RuntimeError(f"{path} {reply.status_code}: {reply.text[:120]}")
        return orjson.loads(reply.content)

    def sync(device: dict[str, Any], round_: int) -> None:
        if time.monotonic() > stop_at:
            return
        started = time.perf_counter()
        try:
            now = int(time.time() * 1000)
            call("hello", device["token"], {"device_now_ms": now})
            first = round_ * ops_each + 1
            ops = [Op(device["node"], counter, pack(now, counter), "time_log", time_ordered_id(now, counter),
                      APPEND, "", {"job_id": device["job"], "technician_id": TECH, "started_at":
                                   "2026-11-27T09:00:00+00:00", "ended_at": "2026-11-27T09:30:00+00:00"})
                   for counter in range(first, first + ops_each)]
            call("push", device["token"], {"ops": [to_wire(op) for op in ops]})
            cursor = device.get("cursor", 0)
            while True:
                reply = call("pull", device["token"], {"cursor": cursor, "limit": 1000})
                cursor = reply["cursor"]
                if not reply["more"]:
                    break
            device["cursor"] = cursor
            with lock:
                latencies["sync"].append(time.perf_counter() - started)
        except Exception as exc:  # every failure is counted and reported, none stops the fleet
            with lock:
                errors.append(str(exc))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for round_ in range(rounds):
            list(pool.map(lambda device, r=round_: sync(device, r), fleet))
    seconds = time.perf_counter() - started

    def quantiles(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        ordered = sorted(values)
        return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1)}

    print(json.dumps({
        "syncs": len(latencies["sync"]), "errors": len(errors), "error_samples": errors[:3],
        "seconds": round(seconds, 1), "syncs_per_s": round(len(latencies["sync"]) / seconds, 1),
        **{f"{name}": quantiles(values) for name, values in latencies.items()},
        "stopped_by_deadline": time.monotonic() > stop_at,
    }), flush=True)
    return 0


COMMANDS = {"fleet": ("devices syncing against one hub on loopback: p50/p99 latency and errors", configure_fleet,
                      bench_fleet)}
