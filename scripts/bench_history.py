"""``bench.py history``: what one history page costs a hub whose log is large (registered in ``bench.py``).

A hub replica holds ``--ops`` ops in 1,000-op batches: time logs of jobs nobody asks for (most of the
log), and spread over every batch the deltas of a few stock counters that are in every device's scope
(a van's stock rows) plus the titles, notes, deltas and resolved conflicts of the ``--jobs`` jobs the
page asks for. The page is ``history_ops`` of those jobs and the stock rows: timed cold (a replica just
opened, nothing decoded yet) and warm (the same call again), median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from bench_hub import emit, progress, temporary_folder

from sync.hlc import pack
from sync.ops import APPEND, INCR, SET, Op, OpId
from sync.store.sqlite import SqliteReplica
from tests.sync.model import REGISTRY

T0_MS = 1_800_000_000_000
STOCK_ROWS = 20


def configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=200_000, help="ops in the hub's log (default 200000)")
    parser.add_argument("--jobs", type=int, default=250, help="jobs in the history page (default 250)")
    parser.add_argument("--repeat", type=int, default=3)


class _Log:
    """Ops in arrival order, each node's counters in sequence."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._counters: dict[str, int] = {}

    def add(self, node: str, entity: str, eid: str, action: str, field: str, value: object,
            refs: tuple[OpId, ...] = ()) -> Op:
        counter = self._counters[node] = self._counters.get(node, 0) + 1
        op = Op(node, counter, pack(T0_MS, 0) + len(self.ops), entity, eid, action, field, value, refs)
        self.ops.append(op)
        return op


def hub_log(ops: int, jobs: int) -> tuple[list[Op], list[tuple[str, str]]]:
    """The hub's log and the page's entities (see the module docstring)."""
    rng = random.Random(1)
    log = _Log()
    page = [f"job-{n:04d}" for n in range(jobs)]
    stock = [f"van-1:SKU-{n:02d}" for n in range(STOCK_ROWS)]
    for job in page:
        log.add("office", "job", job, SET, "title", f"title of {job}")
    notes: dict[str, OpId] = {}
    for n, job in enumerate(page):
        first = log.add("office", "job", job, SET, "notes", "first notes")
        if n % 10:
            notes[job] = first.id
            continue
        # Two tablets overwrite the notes at once; one of them resolves the conflict, and the other
        # overwrites the resolution: the case whose history once needed the whole log.
        a = log.add("tablet-a", "job", job, SET, "notes", "a's notes", (first.id,))
        b = log.add("tablet-b", "job", job, SET, "notes", "b's notes", (first.id,))
        resolved = log.add("tablet-a", "job", job, SET, "notes", "merged notes", (a.id, b.id))
        notes[job] = log.add("tablet-b", "job", job, SET, "notes", "final notes", (resolved.id,)).id
    time_logs = 0
    while len(log.ops) < ops:
        roll = rng.random()
        if roll < 0.005:
            log.add("hub", "job", rng.choice(stock), INCR, "stock", rng.choice((-1, -2, 5)))
        elif roll < 0.007:
            job = rng.choice(page)
            log.add(f"tablet-{rng.randrange(8)}", "job", job, INCR, "stock", -1)
        elif roll < 0.008:
            job = rng.choice(page)
            notes[job] = log.add("office", "job", job, SET, "notes", f"notes {len(log.ops)}", (notes[job],)).id
        else:
            time_logs += 1
            log.add(f"tablet-{rng.randrange(8)}", "time_log", f"log-{time_logs:07d}", APPEND, "",
                    {"minutes": 5 + time_logs % 50, "job_id": f"other-{time_logs % 5000:05d}",
                     "technician_id": f"tech-{time_logs % 40:02d}", "started_at": "2026-11-27T09:00:00+00:00",
                     "ended_at": "2026-11-27T09:45:00+00:00", "description": "routine service",
                     "billable": True, "category": "labour"})
    return log.ops, [("job", eid) for eid in page + stock]


def bench_history(args: argparse.Namespace) -> int:
    ops, page = hub_log(args.ops, args.jobs)
    with temporary_folder() as tmp:
        path = Path(tmp) / "hub.db"
        progress(f"history: ingesting {len(ops)} ops")
        with SqliteReplica.open(path, "hub", REGISTRY) as hub:
            for start in range(0, len(ops), 1000):
                result = hub.ingest(ops[start:start + 1000], 4_102_444_800_000)
                if result.rejected:
                    raise SystemExit(f"bench history: ops refused: {result.rejected[:3]}")
            sizes = dict(hub.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        cold, warm, sent = [], [], 0
        for _ in range(args.repeat):
            with SqliteReplica.open(path, None, REGISTRY) as hub:
                started = time.perf_counter()
                sent = len(hub.history_ops(page))
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                hub.history_ops(page)
                warm.append(time.perf_counter() - started)
    emit({"bench": "history", "log_ops": len(ops), "jobs": args.jobs, "stock_rows": STOCK_ROWS,
          "entities": len(page), "ops_sent": sent, "runs": args.repeat,
          "cold_ms_median": round(statistics.median(cold) * 1000, 1),
          "warm_ms_median": round(statistics.median(warm) * 1000, 1),
          "cold_ms": [round(s * 1000, 1) for s in cold], "warm_ms": [round(s * 1000, 1) for s in warm],
          "op_log_bytes_per_op": round(sizes.get("op_chunks", 0) / len(ops), 1),
          "logged_ops_bytes_per_op": round(sizes.get("logged_ops", 0) / len(ops), 1)})
    return 0


COMMANDS = {
    "history": ("one history page (jobs with counters and resolved conflicts) from a hub of a large log",
                configure_history, bench_history),
}
