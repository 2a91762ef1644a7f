"""Benchmarks of FieldSync, one subcommand each. Figures go to stdout as JSON lines; progress goes to stderr.

    python scripts/bench.py sync [--ops 200000] [--batch 1000] [--seed 1] [--repeat 1] [--profile N] [--steps]

``sync``: how fast a hub replica (``SqliteReplica``) ingests a realistic field-service op stream
(see ``scripts/workload.py``), against the physical limit of the same machine — a bare SQLite table
with the store's ``ops`` columns and PRAGMAs, filled with ``executemany`` in transactions of the same
size. The two are run batch by batch in turn, each timed on its own, so the machine's noise falls on
both alike. One JSON line per run, then a summary line with the medians and whether they meet the
targets.

Adding a benchmark: write ``configure_<name>(parser)`` and ``bench_<name>(args) -> int`` and register
them in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import bench_fleet as fleet_commands  # noqa: E402
import bench_history as history_commands  # noqa: E402
import bench_hub_commands as hub_commands  # noqa: E402
import orjson  # noqa: E402
from bench_hub import print_profile  # noqa: E402
from workload import Workload, generate  # noqa: E402

from sync.ops import Op  # noqa: E402
from sync.store.sqlite import SqliteReplica  # noqa: E402
from tests.sync.model import REGISTRY  # noqa: E402

# What the sync engine must reach on this kind of machine (see DESIGN.md, "Facts measured").
SYNC_TARGETS = {"ratio_to_raw_sqlite": 0.25, "ops_per_s": 50_000}
# The store's PRAGMAs (SqliteReplica.open with its default 64 MiB cache): the raw baseline uses the same.
RAW_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA cache_size=-65536")
RAW_DDL = ("CREATE TABLE ops (node INTEGER, counter INTEGER, hlc INTEGER, entity TEXT, eid TEXT, action TEXT, "
           "field TEXT, value TEXT, refs TEXT)")
RAW_INSERT = "INSERT INTO ops (node, counter, hlc, entity, eid, action, field, value, refs) VALUES (?,?,?,?,?,?,?,?,?)"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def on_disk_bytes(conn: sqlite3.Connection, path: Path) -> int:
    """Database file plus WAL, after folding the WAL into the file and truncating it."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError(f"checkpoint of {path} did not complete")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# -- sync ---------------------------------------------------------------------------------------------


class IngestRun(NamedTuple):
    seconds: float
    bytes_on_disk: int
    conflicts: int


def ingest_replica(path: Path, ops: Sequence[Op], batch: int, now_ms: int,
                   profiler: cProfile.Profile | None = None) -> IngestRun:
    """Ingest ``ops`` into a fresh hub replica, one transaction per batch; fails loudly on any rejection."""
    chunks = batches(ops, batch)
    replica = SqliteReplica.open(path, "hub", REGISTRY)
    try:
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        for chunk in chunks:
            result = replica.ingest(chunk, now_ms)
            if result.rejected or len(result.accepted) != len(chunk):
                shown = [f"{op_id}: {r.field}: {r.reason}" for op_id, r in result.rejected[:5]]
                raise SystemExit(
                    f"bench sync: the replica did not accept the whole batch ({len(result.accepted)} of "
                    f"{len(chunk)} accepted, {result.duplicates} duplicates, {len(result.rejected)} rejected): "
                    f"{shown} — the workload generator or the library is wrong"
                )
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        held = replica.op_count()
        if held != len(ops):
            raise SystemExit(f"bench sync: the replica holds {held} ops after ingesting {len(ops)}")
        conflicts = len(replica.conflicts())
        size = on_disk_bytes(replica.conn, path)
    finally:
        replica.close()
    return IngestRun(seconds, size, conflicts)


def raw_rows(ops: Sequence[Op]) -> list[tuple[Any, ...]]:
    """The rows the store's ``ops`` table would get: node interned to a small int, value and refs as JSON."""
    node_ix: dict[str, int] = {}
    dumps = orjson.dumps
    return [
        (
            node_ix.setdefault(op.node, len(node_ix) + 1), op.counter, op.hlc, op.entity, op.eid, op.action, op.field,
            None if op.value is None else dumps(op.value).decode(),
            dumps([[r.node, r.counter] for r in op.refs]).decode() if op.refs else None,
        )
        for op in ops
    ]


def ingest_interleaved(folder: Path, ops: Sequence[Op], rows: Sequence[tuple[Any, ...]], batch: int,
                       now_ms: int) -> tuple[IngestRun, float, int]:
    """Both sides of the ratio, batch by batch in turn (alternating which goes first), each timed
    on its own: a noisy neighbour slows both alike, so the ratio holds where absolute rates swing."""
    replica = SqliteReplica.open(folder / "replica.db", "hub", REGISTRY)
    raw = sqlite3.connect(str(folder / "raw.db"), isolation_level=None)
    replica_seconds = raw_seconds = 0.0
    try:
        for pragma in RAW_PRAGMAS:
            raw.execute(pragma)
        raw.execute(RAW_DDL)
        for index, (chunk, raw_chunk) in enumerate(zip(batches(ops, batch), batches(rows, batch), strict=True)):
            for side in ((0, 1) if index % 2 == 0 else (1, 0)):
                started = time.perf_counter()
                if side == 0:
                    result = replica.ingest(chunk, now_ms)
                    replica_seconds += time.perf_counter() - started
                    if result.rejected or len(result.accepted) != len(chunk):
                        raise SystemExit(f"bench sync: the replica refused part of a batch: {result.rejected[:5]} "
                                         "— the workload generator or the library is wrong")
                else:
                    raw.execute("BEGIN IMMEDIATE")
                    raw.executemany(RAW_INSERT, raw_chunk)
                    raw.execute("COMMIT")
                    raw_seconds += time.perf_counter() - started
        held = replica.op_count()
        raw_held = raw.execute("SELECT count(*) FROM ops").fetchone()[0]
        if held != len(ops) or raw_held != len(rows):
            raise SystemExit(f"bench sync: {held} ops in the replica, {raw_held} raw rows, after {len(ops)}")
        run = IngestRun(replica_seconds, on_disk_bytes(replica.conn, folder / "replica.db"), len(replica.conflicts()))
        raw_size = on_disk_bytes(raw, folder / "raw.db")
    finally:
        replica.close()
        raw.close()
    return run, raw_seconds, raw_size


def configure_sync(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=positive, default=200_000, help="ops in the workload (default 200000)")
    parser.add_argument("--batch", type=positive, default=1000, help="ops per ingest() call = per transaction")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--repeat", type=positive, default=1, help="runs, each on fresh files (default 1)")
    parser.add_argument("--tmpdir", type=Path, default=None,
                        help="where to put the temporary databases (default: the system temp dir)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the timed runs, profile one more ingest and print the top N functions "
                             "by cumulative and by own time to stderr (default: off)")
    parser.add_argument("--steps", action="store_true",
                        help="after the timed runs, print where an ingest's time goes (commits, loads, saves, "
                             "merge), the WAL frames a commit writes on each side, and how far back in the "
                             "workload the jobs a batch touches lie")


def bench_sync(args: argparse.Namespace) -> int:
    progress(f"sync: generating {args.ops} ops (seed {args.seed})")
    started = time.perf_counter()
    workload: Workload = generate(args.ops, args.seed)
    ops = workload.ops
    now_ms = workload.max_wall_ms + 1000  # later than every HLC, so the clock bound lets every op in
    rows = raw_rows(ops)
    progress(f"sync: generated in {time.perf_counter() - started:.1f} s: {workload.jobs} jobs, "
             f"{workload.rewrites} lww rewrites, mix {workload.mix()}")

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-", dir=args.tmpdir) as tmp:
        for run in range(1, args.repeat + 1):
            folder = Path(tmp) / f"run{run}"
            folder.mkdir()
            progress(f"sync: run {run}/{args.repeat}: SqliteReplica ingest and raw SQLite executemany, "
                     f"batches of {args.batch}, interleaved")
            ingest, raw_seconds, raw_size = ingest_interleaved(folder, ops, rows, args.batch, now_ms)
            ops_per_s = len(ops) / ingest.seconds
            raw_per_s = len(rows) / raw_seconds
            record = {
                "bench": "sync", "run": run, "ops": len(ops), "batch": args.batch,
                "ops_per_s": round(ops_per_s), "raw_rows_per_s": round(raw_per_s),
                "ratio_to_raw_sqlite": round(ops_per_s / raw_per_s, 4),
                "bytes_per_op": round(ingest.bytes_on_disk / len(ops), 1),
                "raw_bytes_per_op": round(raw_size / len(rows), 1),
                "seconds": round(ingest.seconds, 3), "raw_seconds": round(raw_seconds, 3),
                "conflicts": ingest.conflicts, "seed": args.seed,
            }
            runs.append(record)
            emit(record)
            progress(f"sync: run {run}/{args.repeat}: {ops_per_s:,.0f} ops/s vs raw {raw_per_s:,.0f} rows/s "
                     f"(ratio {ops_per_s / raw_per_s:.3f})")
            for name in ("replica.db", "raw.db"):  # free the disk before the next run
                for suffix in ("", "-wal", "-shm"):
                    (folder / (name + suffix)).unlink(missing_ok=True)
        if args.profile > 0:
            profile_ingest(Path(tmp) / "profiled.db", ops, args.batch, now_ms, args.profile)
        if args.steps:
            emit({"bench": "sync", "steps": True, "ops": len(ops), "batch": args.batch,
                  **step_times(Path(tmp) / "steps.db", ops, args.batch, now_ms),
                  "wal_frames_per_commit": wal_frames(Path(tmp), ops, rows, args.batch, now_ms),
                  "jobs_touched_per_batch": touched_jobs(ops, args.batch)})

    median_ops = statistics.median(r["ops_per_s"] for r in runs)
    median_raw = statistics.median(r["raw_rows_per_s"] for r in runs)
    median_ratio = statistics.median(r["ratio_to_raw_sqlite"] for r in runs)
    emit({
        "bench": "sync", "summary": True, "runs": len(runs), "ops": len(ops), "batch": args.batch,
        "median_ops_per_s": round(median_ops), "median_raw_rows_per_s": round(median_raw),
        "median_ratio_to_raw_sqlite": round(median_ratio, 4),
        "bytes_per_op": statistics.median(r["bytes_per_op"] for r in runs),
        "raw_bytes_per_op": statistics.median(r["raw_bytes_per_op"] for r in runs),
        "targets": SYNC_TARGETS,
        "meets_targets": median_ratio >= SYNC_TARGETS["ratio_to_raw_sqlite"]
        and median_ops >= SYNC_TARGETS["ops_per_s"],
    })
    return 0


def profile_ingest(path: Path, ops: Sequence[Op], batch: int, now_ms: int, top: int) -> None:
    progress(f"sync: profiling one more ingest of {len(ops)} ops (slower than the timed runs)")
    profiler = cProfile.Profile()
    run = ingest_replica(path, ops, batch, now_ms, profiler)
    progress(f"sync: profiled ingest took {run.seconds:.1f} s")
    print_profile(profiler, top, "the replica's ingest")


def step_times(path: Path, ops: Sequence[Op], batch: int, now_ms: int) -> dict[str, Any]:
    """One more ingest, not counted in the ratio, timed per step of the store. ``merge`` is what
    is left: routing, checks, grouping and the kinds' merges (``sync.replica._merge``)."""
    progress("sync: one more ingest, timed per step")
    replica = SqliteReplica.open(path, "hub", REGISTRY)
    spent: Counter[str] = Counter()

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args)
            finally:
                spent[name] += time.perf_counter() - started
        return run

    # Set on the instance, they stand in for the class's methods in the store's own calls too.
    for name in ("held", "load", "save", "_executemany"):
        setattr(replica, name, timed(name, getattr(replica, name)))
    execute = replica._execute

    def execute_timed(sql: str, params: Sequence[Any] = ()) -> Any:
        return timed("commit", execute)(sql, params) if sql == "COMMIT" else execute(sql, params)

    replica._execute = execute_timed
    try:
        started = time.perf_counter()
        for chunk in batches(ops, batch):
            replica.ingest(chunk, now_ms)
        total = time.perf_counter() - started
    finally:
        replica.close()
    merge = total - spent["commit"] - spent["held"] - spent["load"] - spent["save"]
    return {"seconds": round(total, 3), "step_seconds": {
        "commit": round(spent["commit"], 3), "load": round(spent["load"], 3),
        "save_statements": round(spent["_executemany"], 3),
        "save_encoding": round(spent["save"] - spent["_executemany"], 3),
        "held": round(spent["held"], 3), "merge": round(merge, 3)}}


def wal_frames(folder: Path, ops: Sequence[Op], rows: Sequence[tuple[Any, ...]], batch: int,
               now_ms: int) -> dict[str, float]:
    """Both sides once more with WAL checkpoints off: the frames (pages) each commit appended to
    the WAL, on average. A commit's cost grows with them."""
    progress("sync: both sides once more, counting the WAL frames of each commit")
    replica = SqliteReplica.open(folder / "frames.db", "hub", REGISTRY)
    raw = sqlite3.connect(str(folder / "frames-raw.db"), isolation_level=None)
    try:
        replica.conn.execute("PRAGMA wal_autocheckpoint=0")
        for pragma in RAW_PRAGMAS:
            raw.execute(pragma)
        raw.execute("PRAGMA wal_autocheckpoint=0")
        raw.execute(RAW_DDL)
        chunks = batches(ops, batch)
        for chunk, raw_chunk in zip(chunks, batches(rows, batch), strict=True):
            replica.ingest(chunk, now_ms)
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(RAW_INSERT, raw_chunk)
            raw.execute("COMMIT")
        page = replica.conn.execute("PRAGMA page_size").fetchone()[0]
        # A WAL file: a 32-byte header, then per frame a 24-byte header and one page.
        frames = {name: ((folder / f"{name}-wal").stat().st_size - 32) / (page + 24) / len(chunks)
                  for name in ("frames.db", "frames-raw.db")}
    finally:
        replica.close()
        raw.close()
    return {"replica": round(frames["frames.db"], 1), "raw": round(frames["frames-raw.db"], 1)}


def touched_jobs(ops: Sequence[Op], batch: int) -> dict[str, int]:
    """Per batch, the jobs it touches that earlier batches created (each a page of the registers
    table to rewrite), and how many jobs were created after them: how scattered the writes are."""
    created: dict[str, int] = {}
    per_batch: list[int] = []
    ages: list[int] = []
    for chunk in batches(ops, batch):
        before = len(created)
        old = {op.eid for op in chunk if op.entity == "job" and op.eid in created}
        per_batch.append(len(old))
        ages.extend(before - created[eid] for eid in old)
        for op in chunk:
            if op.entity == "job":
                created.setdefault(op.eid, len(created))
    return {"median": round(statistics.median(per_batch)), "median_age_in_jobs": round(statistics.median(ages or [0]))}


# -- the command line -----------------------------------------------------------------------------------


class Command(NamedTuple):
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "sync": Command("ingest throughput of a SQLite replica against raw SQLite inserts", configure_sync, bench_sync),
    **{name: Command(*spec) for name, spec in hub_commands.COMMANDS.items()},
    **{name: Command(*spec) for name, spec in fleet_commands.COMMANDS.items()},
    **{name: Command(*spec) for name, spec in history_commands.COMMANDS.items()},
}


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_push"]:  # the pushing device of the txn benchmark, in a process of its own
        return hub_commands.push_client(argv[1:])
    if argv[:1] == ["_fleet"]:  # the fleet's load, in a process of its own
        return fleet_commands.fleet_client(argv[1:])
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
