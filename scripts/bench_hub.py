"""Hub benchmarks for ``scripts/bench.py``: ingest over HTTP, bootstrap, delta sync, the longest write
transaction, bytes on disk. Every server runs on 127.0.0.1 and is stopped by its own PID; every loop
is bounded.

The hub runs as its own process (``fieldsync-hub serve``) wherever HTTP is measured, so the client
and the server do not share one interpreter's lock; databases are seeded in this process first.
"""

from __future__ import annotations

import collections
import cProfile
import io
import json
import os
import pstats
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import requests

from hub import auth
from hub.config import HubConfig
from hub.store import HubStore
from sync.hlc import pack
from sync.ops import APPEND, SET, Op

BIN = Path(sys.executable).parent
TECH = "tech-bench"
VAN = "van-bench"
RAW_DDL = ("CREATE TABLE ops (node INTEGER, counter INTEGER, hlc INTEGER, entity TEXT, eid TEXT, action TEXT, "
           "field TEXT, value TEXT, refs TEXT)")
RAW_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA cache_size=-65536")


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def print_profile(profiler: cProfile.Profile, top: int, title: str) -> None:
    """The top ``top`` functions by cumulative and by own time, to stderr."""
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"[bench] profile of {title}, by {order} time:{out.getvalue()}", file=sys.stderr, flush=True)


def time_ordered_id(ms: int, sequence: int) -> str:
    """A UUIDv7-shaped id, ordered by time then sequence (as the agent and the office make them)."""
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | ((sequence & 0xFFF) << 64) | (0b10 << 62)
                         | (sequence >> 12 & ((1 << 62) - 1))))


# -- a hub to measure ---------------------------------------------------------------------------------
def seed_hub(db: Path, jobs: int, records_per_job: int = 0, other_jobs: int = 0, other_records: int = 0) -> list[str]:
    """A hub database with one technician (and van) holding ``jobs`` jobs, each with
    ``records_per_job`` hub-written time logs; plus ``other_jobs`` jobs of another technician with
    ``other_records`` records between them (data outside the benchmark device's scope)."""
    store = HubStore(HubConfig(database=db))
    try:
        now = store.now_ms()
        store.write([("technician", TECH, SET, "name", "Bench Tech"), ("technician", TECH, SET, "van_id", VAN),
                     ("stock_location", VAN, SET, "kind", "van"), ("stock_location", VAN, SET, "name", "Bench van"),
                     ("customer", "cust-bench", SET, "name", "Bench customer"),
                     ("technician", "tech-other", SET, "name", "Other Tech")])
        mine = [f"job-{i:06d}" for i in range(jobs)]
        theirs = [f"other-{i:06d}" for i in range(other_jobs)]
        for start in range(0, len(mine) + len(theirs), 200):
            changes: list[tuple[Any, ...]] = []
            for job in (mine + theirs)[start:start + 200]:
                ticket = f"tkt-{job}"
                changes += [("ticket", ticket, SET, "customer_id", "cust-bench"), ("ticket", ticket, SET, "title", job),
                            ("ticket", ticket, SET, "opened_at", "2026-11-27T08:00:00+00:00"),
                            ("job", job, SET, "ticket_id", ticket), ("job", job, SET, "work_order_id", f"wo-{job}"),
                            ("job", job, SET, "technician_id", TECH if job in mine else "tech-other")]
            store.write(changes)
        filler = _hub_records(store, mine, records_per_job, now) + _hub_records(
            store, theirs, max(1, other_records // max(1, other_jobs)) if other_jobs else 0, now)
        progress(f"seeded {db.name}: {jobs} jobs in scope, {other_jobs} outside, {filler} records")
        return mine
    finally:
        store.close()


def _hub_records(store: HubStore, jobs: Sequence[str], per_job: int, now: int) -> int:
    """Time logs written as ops of an office node, ingested in batches (faster than authoring)."""
    if not per_job:
        return 0
    counter = 0
    batch: list[Op] = []
    for job in jobs:
        for _ in range(per_job):
            counter += 1
            batch.append(Op("office-import", counter, pack(now - 3_600_000, 0) + counter, "time_log",
                            time_ordered_id(now - 3_600_000, counter), APPEND, "", _time_log(job, TECH)))
            if len(batch) == 2000:
                store.replica.ingest(batch, store.now_ms())
                batch = []
    if batch:
        store.replica.ingest(batch, store.now_ms())
    return counter


def _time_log(job: str, technician: str) -> dict[str, Any]:
    return {"job_id": job, "technician_id": technician, "started_at": "2026-11-27T09:00:00+00:00",
            "ended_at": "2026-11-27T09:45:00+00:00", "description": "routine service", "billable": True,
            "category": "labour"}


def enrolment_code(db: Path) -> str:
    store = HubStore(HubConfig(database=db))
    try:
        return auth.create_enrolment_code(store, "technician", TECH, "bench tablet")
    finally:
        store.close()


class HubProcess:
    """``fieldsync-hub serve`` on 127.0.0.1, a free port; stopped by its PID."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "fieldsync-hub"), "--db", str(db), "serve", "--port", "0", "--no-zeroconf",
             "--engines-interval", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: collections.deque[str] = collections.deque(maxlen=50)  # the hub's last lines
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if "listening on" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                # Keep reading what the hub prints (waitress warns of queue depth under load): a
                # full pipe would block the hub's thread that writes the next line, mid-request.
                threading.Thread(target=self._drain, daemon=True).start()
                return
            if self.process.poll() is not None:
                break
        self.stop()
        raise SystemExit("bench: the hub did not start")

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> HubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Device:
    """A device speaking the sync API with requests, counting the bytes that come back."""

    def __init__(self, url: str, code: str) -> None:
        self.url = url
        self.session = requests.Session()
        reply = self.session.post(f"{url}/api/v1/enrol", json={"code": code}, timeout=30).json()
        self.node, self.token = reply["node"], reply["token"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self.bytes_in = 0
        self.cursor = 0

    def post(self, path: str, body: Any) -> dict[str, Any]:
        data = orjson.dumps(body)
        reply = self.session.post(f"{self.url}/api/v1/sync/{path}", data=data, timeout=120,
                                  headers={"Content-Type": "application/json"})
        self.bytes_in += len(reply.content)
        if reply.status_code != 200:
            raise SystemExit(f"bench: {path} answered {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def pull_all(self, limit: int = 1000) -> int:
        pulled = 0
        while True:
            reply = self.post("pull", {"cursor": self.cursor, "limit": limit})
            pulled += len(reply["ops"])
            self.cursor = reply["cursor"]
            if not reply["more"]:
                return pulled

    def close(self) -> None:
        self.session.close()


def device_ops(node: str, jobs: Sequence[str], count: int, start_ms: int) -> list[Op]:
    """What a tablet records over a long day: time logs, checklist ticks and part uses on its
    jobs (append-only records), and completion notes rewritten now and then (lww)."""
    ops: list[Op] = []
    notes_head: dict[str, Any] = {}
    for counter in range(1, count + 1):
        job = jobs[(counter * 7) % len(jobs)]
        hlc = pack(start_ms, 0) + counter
        kind = counter % 10
        record_id = time_ordered_id(start_ms, counter)
        if kind < 6:
            op = Op(node, counter, hlc, "time_log", record_id, APPEND, "", _time_log(job, TECH))
        elif kind < 8:
            op = Op(node, counter, hlc, "checklist_step", record_id, APPEND, "",
                    {"job_id": job, "step_id": f"step-{kind}", "done": True, "note": "",
                     "device_time": "2026-11-27T09:30:00+00:00"})
        elif kind < 9:
            op = Op(node, counter, hlc, "part_usage", record_id, APPEND, "",
                    {"job_id": job, "sku": "CAP-45", "qty": "1", "location_id": VAN, "technician_id": TECH,
                     "note": "", "device_time": "2026-11-27T09:30:00+00:00"})
        else:
            previous = notes_head.get(job)
            op = Op(node, counter, hlc, "job", job, SET, "completion_notes", f"notes {counter}",
                    (previous,) if previous else ())
            notes_head[job] = op.id
        ops.append(op)
    return ops


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def raw_insert_rate(folder: Path, ops: Sequence[Op], batch: int) -> float:
    """Rows per second of a plain executemany of the same ops into a bare table (the physical limit)."""
    dumps = orjson.dumps
    rows = [(1, op.counter, op.hlc, op.entity, op.eid, op.action, op.field, dumps(op.value).decode(),
             dumps([list(r) for r in op.refs]).decode() if op.refs else None) for op in ops]
    conn = sqlite3.connect(str(folder / "raw.db"), isolation_level=None)
    try:
        for pragma in RAW_PRAGMAS:
            conn.execute(pragma)
        conn.execute(RAW_DDL)
        started = time.perf_counter()
        for chunk in batches(rows, batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO ops VALUES (?,?,?,?,?,?,?,?,?)", chunk)
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)
    finally:
        conn.close()


def median_of(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4)


def temporary_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="fieldsync-bench-")
