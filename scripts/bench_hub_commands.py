"""The hub's benchmark subcommands (registered in ``scripts/bench.py``). Each prints JSON lines."""

from __future__ import annotations

import argparse
import cProfile
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from bench_hub import (
    Device,
    HubProcess,
    device_ops,
    emit,
    enrolment_code,
    median_of,
    print_profile,
    progress,
    raw_insert_rate,
    seed_hub,
    temporary_folder,
)

from device_agent import Agent
from device_agent.transport import HttpTransport
from hub.config import HubConfig
from hub.store import HubStore
from sync.ops import to_wire
from sync.store.sqlite import SqliteReplica

SCRIPTS = Path(__file__).resolve().parent


# -- hub ingest: HTTP, the store alone, raw SQLite ------------------------------------------------------
def configure_hub_ingest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=100_000, help="device ops pushed (default 100000)")
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the device's scope")
    parser.add_argument("--batch", type=int, default=1000)


def bench_hub_ingest(args: argparse.Namespace) -> int:
    with temporary_folder() as tmp:
        folder = Path(tmp)
        (folder / "http").mkdir()
        (folder / "store").mkdir()
        http_db, store_db = folder / "http" / "hub.db", folder / "store" / "hub.db"
        jobs = seed_hub(http_db, args.jobs)
        seed_hub(store_db, args.jobs)
        code = enrolment_code(http_db)
        with HubProcess(http_db) as hub:
            device = _device(hub.url, code)
            device.pull_all()  # as a tablet does before it works on its jobs (not timed)
            start_ms = int(time.time() * 1000) - 60_000
            ops = device_ops(device.node, jobs, args.ops, start_ms)
            bodies = [{"ops": [to_wire(op) for op in batch]} for batch in _batches(ops, args.batch)]
            progress(f"hub-ingest: pushing {len(ops)} ops over HTTP in {len(bodies)} batches")
            started = time.perf_counter()
            for body in bodies:
                reply = device.post("push", body)
                if reply["accepted"] != len(body["ops"]):
                    raise SystemExit(f"bench: the hub refused ops: {reply['rejected'][:3]}")
            http_seconds = time.perf_counter() - started
            device.close()
        progress("hub-ingest: the same ops through the hub's store alone (replica + links read model)")
        store = HubStore(HubConfig(database=store_db))
        try:
            started = time.perf_counter()
            for batch in _batches(ops, args.batch):
                with store.unit_of_work():
                    result = store.replica.ingest(batch, store.now_ms())
                if len(result.accepted) != len(batch):
                    raise SystemExit(f"bench: the store refused ops: {result.rejected[:3]}")
            store_seconds = time.perf_counter() - started
        finally:
            store.close()
        progress("hub-ingest: raw SQLite executemany of the same rows")
        raw_rate = raw_insert_rate(folder, ops, args.batch)
    http_rate, store_rate = len(ops) / http_seconds, len(ops) / store_seconds
    emit({"bench": "hub-ingest", "ops": len(ops), "batch": args.batch, "http_ops_per_s": round(http_rate),
          "store_ops_per_s": round(store_rate), "raw_rows_per_s": round(raw_rate),
          "http_to_store": round(http_rate / store_rate, 3), "store_to_raw": round(store_rate / raw_rate, 3),
          "http_to_raw": round(http_rate / raw_rate, 3)})
    return 0


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _device(url: str, code: str) -> Device:
    return Device(url, code)


# -- bootstrap ------------------------------------------------------------------------------------------
def configure_bootstrap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=100_000, help="records in the device's scope")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh hub (default 1)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run the hub in this process (waitress, one thread) and print the top N functions "
                             "of its request handling and of the device, by cumulative and own time "
                             "(default: off; slower than the timed run)")


def bench_bootstrap(args: argparse.Namespace) -> int:
    runs = [_bootstrap_once(args) for _ in range(args.repeat)]
    for run in runs:
        emit(run)
    if len(runs) > 1:
        seconds = median_of([run["seconds"] for run in runs])
        emit({"bench": "bootstrap", "summary": True, "runs": len(runs), "median_seconds": seconds,
              "median_bytes_on_wire": median_of([run["bytes_on_wire"] for run in runs]), "target_seconds": 5,
              "meets_target": seconds < 5})
    return 0


def _bootstrap_once(args: argparse.Namespace) -> dict[str, Any]:
    hub_profiler = cProfile.Profile() if args.profile else None
    device_profiler = cProfile.Profile() if args.profile else None
    with temporary_folder() as tmp:
        folder = Path(tmp)
        db = folder / "hub.db"
        seed_hub(db, args.jobs, records_per_job=max(1, args.records // args.jobs))
        code = enrolment_code(db)
        with _bootstrap_hub(db, hub_profiler) as hub:
            transport = HttpTransport(hub.url, timeout_s=600)
            received = {"bytes": 0}
            transport.session.hooks["response"].append(
                lambda response, *a, **k: received.__setitem__("bytes", received["bytes"] + len(response.content)))
            if device_profiler is not None:
                device_profiler.enable()
            started = time.perf_counter()
            agent = Agent.enrol(folder / "tablet", hub.url, code, transport=transport)
            try:
                summary = agent.sync()
                seconds = time.perf_counter() - started
                if device_profiler is not None:
                    device_profiler.disable()
                records = len(agent.replica.entity_ids("time_log"))
            finally:
                agent.close()
    if hub_profiler is not None and device_profiler is not None:
        print_profile(hub_profiler, args.profile, "the hub (its request handling)")
        print_profile(device_profiler, args.profile, "the device (enrol and sync)")
    return {"bench": "bootstrap", "records_in_scope": records, "ops_pulled": summary.pulled,
            "seconds": round(seconds, 2), "bytes_on_wire": received["bytes"],
            "bytes_per_record": round(received["bytes"] / max(1, records), 1), "target_seconds": 5,
            "meets_target": seconds < 5, "profiled": bool(args.profile)}


@contextmanager
def _bootstrap_hub(db: Path, profiler: cProfile.Profile | None) -> Iterator[Any]:
    """The hub's own process; or, to profile it, this process with one server thread, each
    request's handling profiled (cProfile sees only the thread it is enabled in)."""
    if profiler is None:
        with HubProcess(db) as process:
            yield process
        return
    from hub.app import create_app
    from hub.server import start

    app = create_app({"database": db, "engines_interval_s": 0})
    handle = app.wsgi_app

    def profiled(environ: Any, start_response: Any) -> Any:
        profiler.enable()
        try:
            return handle(environ, start_response)
        finally:
            profiler.disable()

    app.wsgi_app = profiled  # type: ignore[method-assign]
    hub = start(app, "127.0.0.1", 0, threads=1)
    try:
        yield hub
    finally:
        hub.stop()


# -- delta sync -----------------------------------------------------------------------------------------
def configure_delta(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small", type=int, default=10_000, help="ops held by the small hub")
    parser.add_argument("--big", type=int, default=1_000_000, help="ops held by the big hub")
    parser.add_argument("--new", type=int, default=100, help="new ops to pull each round")
    parser.add_argument("--rounds", type=int, default=5)


def bench_delta(args: argparse.Namespace) -> int:
    results = {}
    for label, size in (("small", args.small), ("big", args.big)):
        with temporary_folder() as tmp:
            folder = Path(tmp)
            db = folder / "hub.db"
            jobs = seed_hub(db, 20, other_jobs=200, other_records=size)
            code = enrolment_code(db)
            crew_code = _crew_code(db, jobs)
            with HubProcess(db) as hub:
                reader = _device(hub.url, code)
                reader.pull_all()
                writer = _device(hub.url, crew_code)
                timings = []
                counter = 0
                for _round in range(args.rounds):
                    ops = device_ops(writer.node, jobs, counter + args.new, int(time.time() * 1000))[counter:]
                    counter += args.new
                    writer.post("push", {"ops": [to_wire(op) for op in ops]})
                    started = time.perf_counter()
                    pulled = reader.pull_all()
                    timings.append(time.perf_counter() - started)
                    if pulled < args.new:
                        raise SystemExit(f"bench: pulled {pulled} of {args.new} new ops")
                reader.close()
                writer.close()
        results[label] = (size, median_of(timings))
        progress(f"delta: hub of {size} ops: pull of {args.new} new ops in {results[label][1] * 1000:.1f} ms")
    emit({"bench": "delta", "new_ops": args.new, "small_hub_ops": results["small"][0],
          "big_hub_ops": results["big"][0], "small_pull_ms": round(results["small"][1] * 1000, 2),
          "big_pull_ms": round(results["big"][1] * 1000, 2),
          "ratio_big_to_small": round(results["big"][1] / results["small"][1], 3)})
    return 0


def _crew_code(db: Path, jobs: list[str]) -> str:
    """A second technician working the same jobs as crew: the writer of the new ops."""
    from hub import auth
    from sync.ops import ADD, SET

    store = HubStore(HubConfig(database=db))
    try:
        store.write([("technician", "tech-crew", SET, "name", "Crew Tech")]
                    + [("job", job, ADD, "crew_ids", "tech-crew") for job in jobs])
        return auth.create_enrolment_code(store, "technician", "tech-crew", "crew tablet")
    finally:
        store.close()


# -- the longest write transaction during a large ingest ---------------------------------------------------
def configure_txn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)


def _opener() -> str:
    """The hub function that opened the transaction being timed: the first frame, going up,
    in the hub's code but outside its store (hub.store, hub.db) and the replica."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("hub.") and name not in ("hub.store", "hub.db", "hub.engines.planning"):
            return f"{name}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "other"


@contextmanager
def _timed_transactions(durations: list[tuple[float, str]], waits: list[float]):
    """Time every outermost write transaction of every SQLite replica in this process, with the
    hub function that opened it; and how long each request waited for the store before its own
    work began (its lock, then the database's write lock)."""
    original = SqliteReplica.transaction
    original_unit = HubStore.unit_of_work

    @contextmanager
    def timed(self):
        outermost = self._depth == 0
        opener = _opener() if outermost else ""
        started = time.perf_counter()
        with original(self):
            yield
        if outermost:
            durations.append((time.perf_counter() - started, opener))

    @contextmanager
    def waited(self):
        asked = time.perf_counter()
        with original_unit(self) as inside:
            if threading.current_thread().name != "fieldsync-engines":
                waits.append(time.perf_counter() - asked)
            yield inside

    SqliteReplica.transaction = timed  # type: ignore[method-assign]
    HubStore.unit_of_work = waited  # type: ignore[method-assign]
    try:
        yield
    finally:
        SqliteReplica.transaction = original  # type: ignore[method-assign]
        HubStore.unit_of_work = original_unit  # type: ignore[method-assign]


def bench_txn(args: argparse.Namespace) -> int:
    from hub.app import create_app
    from hub.server import start

    durations: list[tuple[float, str]] = []
    waits: list[float] = []
    with temporary_folder() as tmp:
        folder = Path(tmp)
        db = folder / "hub.db"
        seed_hub(db, 200)
        code = enrolment_code(db)
        with _timed_transactions(durations, waits):
            # The hub in this process (so its transactions can be timed), engines every second;
            # the pushing device in another process.
            app = create_app({"database": db, "engines_interval_s": 1.0})
            hub = start(app, "127.0.0.1", 0, threads=4)
            try:
                pusher = subprocess.run(
                    [sys.executable, str(SCRIPTS / "bench.py"), "_push", hub.url, code, str(args.ops),
                     str(args.batch)], capture_output=True, text=True, timeout=1800)
                if pusher.returncode != 0:
                    raise SystemExit(f"bench: the pushing device failed: {pusher.stderr[-500:]}")
                time.sleep(1.5)  # one more engine round after the last push
            finally:
                hub.stop()
    ordered = sorted(seconds for seconds, _opener_name in durations)
    longest_by_opener: dict[str, float] = {}
    for seconds, opener in durations:
        longest_by_opener[opener] = max(seconds, longest_by_opener.get(opener, 0.0))
    waited = sorted(waits)
    emit({"bench": "txn", "ops": args.ops, "batch": args.batch, "transactions": len(ordered),
          "longest_ms": round(ordered[-1] * 1000, 1), "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 1),
          "median_ms": round(ordered[len(ordered) // 2] * 1000, 1), "target_longest_ms": 50,
          "meets_target": ordered[-1] * 1000 <= 50,
          "longest_ms_by_opener": {name: round(seconds * 1000, 1) for name, seconds in
                                   sorted(longest_by_opener.items(), key=lambda item: -item[1])},
          "request_wait_longest_ms": round(waited[-1] * 1000, 1) if waited else None,
          "request_wait_p99_ms": round(waited[int(len(waited) * 0.99)] * 1000, 1) if waited else None})
    return 0


def push_client(argv: list[str]) -> int:
    """``bench.py _push URL CODE OPS BATCH``: enrol and push, in its own process."""
    url, code, count, batch = argv[0], argv[1], int(argv[2]), int(argv[3])
    device = _device(url, code)
    jobs = [f"job-{i:06d}" for i in range(200)]
    ops = device_ops(device.node, jobs, count, int(time.time() * 1000) - 60_000)
    for chunk in _batches(ops, batch):
        device.post("push", {"ops": [to_wire(op) for op in chunk]})
    device.close()
    return 0


# -- bytes on disk per op ------------------------------------------------------------------------------------
def configure_bytes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=100_000)


def bench_bytes(args: argparse.Namespace) -> int:
    with temporary_folder() as tmp:
        db = Path(tmp) / "hub.db"
        jobs = seed_hub(db, 200)
        store = HubStore(HubConfig(database=db))
        try:
            before = _table_bytes(store)
            ops = device_ops("dev-bytes", jobs, args.ops, int(time.time() * 1000) - 60_000)
            for batch in _batches(ops, 1000):
                with store.unit_of_work():
                    store.replica.ingest(batch, store.now_ms())
            after = _table_bytes(store)
            payload = sum(len(_json(op.value)) for op in ops)
        finally:
            store.close()
    grown = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    per_op = {name: round(size / args.ops, 1) for name, size in sorted(grown.items()) if size}
    # What a history read needs beyond the log (counters' deltas, overwritten resolutions) is sync
    # metadata too.
    log = grown.get("op_chunks", 0) + grown.get("op_chunks_by_node", 0) + grown.get("logged_ops", 0)
    materialised = grown.get("registers", 0)
    emit({"bench": "bytes", "ops": args.ops, "bytes_per_op_by_table": per_op,
          "total_bytes_per_op": round(sum(grown.values()) / args.ops, 1),
          "op_log_bytes_per_op": round(log / args.ops, 1),
          "registers_bytes_per_op": round(materialised / args.ops, 1),
          "payload_json_bytes_per_op": round(payload / args.ops, 1),
          # The op log holds each op once, zstd-compressed with its payload; what it costs beyond
          # the payload's own JSON is what sync adds (ids, clocks, routing): bounded above by the log.
          "sync_metadata_bytes_per_op_upper_bound": round(log / args.ops, 1), "target_sync_metadata": 60,
          "meets_target": log / args.ops <= 60})
    return 0


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _table_bytes(store: HubStore) -> dict[str, int]:
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {name: size for name, size in store.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}


COMMANDS = {
    "hub-ingest": ("hub ingest over HTTP vs the store alone vs raw SQLite, in one run", configure_hub_ingest,
                   bench_hub_ingest),
    "bootstrap": ("a new device's first sync of a scope of 100,000 records: seconds and bytes", configure_bootstrap,
                  bench_bootstrap),
    "delta": ("pulling 100 new ops from a hub of 10,000 ops and of 1,000,000", configure_delta, bench_delta),
    "txn": ("the longest write transaction at the hub during a large ingest", configure_txn, bench_txn),
    "bytes": ("bytes on disk per op at the hub, by table", configure_bytes, bench_bytes),
}
