"""A real hub process killed with SIGKILL while it ingests a large push from a tablet.

The hub is the ``fieldsync-hub serve`` console script on a SQLite file. A tablet (the agent
library, over HTTP) records thousands of ops offline and pushes them as one batch; while the hub
ingests the batch — seen from outside by a probe that cannot take the file's write lock — the hub
is killed at a random moment, then started again on the same file. The file must pass ``PRAGMA
integrity_check``; the hub ingests a push a slice at a time (``WRITE_SLICE`` ops, one transaction
each), so it must hold the slices it committed, whole, and nothing of the one it was cut in; and
the tablet's next sync must leave the hub holding each of its ops exactly once.
``FIELDSYNC_CRASH_SEED`` replays a run; ``FIELDSYNC_CRASH_ITERATIONS`` runs more kills.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from device_agent.agent import Agent
from hub.store import WRITE_SLICE
from sync.ops import APPEND, Op
from sync.protocol import MAX_BATCH

from .support import (
    HubProcess,
    assert_exactly_once,
    integrity,
    node_ops,
    open_replica,
    seed_hub,
    set_hub_url,
    wire_batch,
)

BATCH = MAX_BATCH  # the largest batch the hub accepts: ~0.3 s of ingest on this machine


def record_offline(agent: Agent, count: int, tag: str) -> list[Op]:
    """``count`` time logs recorded on the tablet in one go, as the agent's own ops."""
    changes = [("time_log", f"{tag}-{i:05d}", APPEND, "", {
        "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
        "ended_at": "2026-11-27T09:05:00+00:00", "description": f"{tag} entry {i}", "billable": True,
        "category": "labour"}) for i in range(count)]
    return agent.write(changes)


class LockProbe:
    """Tells from outside the hub whether it holds the database's write lock (is inside a write
    transaction): a connection of ours that cannot BEGIN IMMEDIATE without waiting is locked out."""

    def __init__(self, database: Path) -> None:
        self.conn = sqlite3.connect(str(database), timeout=0, isolation_level=None)

    def hub_is_writing(self) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        self.conn.execute("ROLLBACK")
        return False

    def close(self) -> None:
        self.conn.close()


def push_in_background(url: str, token: str, body: dict) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def send() -> None:
        try:
            reply = requests.post(f"{url}/api/v1/sync/push", json=body, timeout=60,
                                  headers={"Authorization": f"Bearer {token}"})
            outcome["status"] = reply.status_code
        except requests.ConnectionError as exc:
            outcome["error"] = exc.__class__.__name__

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


def kill_mid_ingest(hub: HubProcess, probe: LockProbe, thread: threading.Thread, delay_s: float) -> bool:
    """Wait until the hub is inside a write transaction, then ``delay_s`` more, then SIGKILL it.
    Returns whether the lock was seen (False: the reply came first, so nothing was cut)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and thread.is_alive():
        if probe.hub_is_writing():
            time.sleep(delay_s)
            hub.kill()
            return True
        time.sleep(0.0005)
    return False


@pytest.mark.parametrize("kills", [pytest.param(2, id="2-kills"),
                                   pytest.param(int(os.environ.get("FIELDSYNC_CRASH_ITERATIONS", 8)),
                                                marks=pytest.mark.slow, id="many-kills")])
def test_a_hub_killed_mid_ingest_keeps_each_slice_whole_or_absent_and_the_next_sync_completes(tmp_path, kills):
    seed = int(os.environ.get("FIELDSYNC_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    database = tmp_path / "hub" / "hub.db"
    code = seed_hub(database)[0]
    hub = HubProcess(database, tmp_path / "hub.log").start()
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code, "Ana's tablet", attempts=1)
    outcomes = {"cut": 0, "whole": 0}
    try:
        agent.sync()
        for iteration in range(kills):
            context = f"seed {seed}, kill {iteration}"
            with open_replica(database) as replica:
                before = len(node_ops(replica, agent.config.node))
            batch = record_offline(agent, BATCH, f"k{iteration}")
            probe = LockProbe(database)
            try:
                thread, outcome = push_in_background(hub.url, agent.config.token, wire_batch(batch))
                # The first kill lands as soon as the transaction opens; later ones anywhere in it
                # (it lasts ~0.3 s here), or just after its last commit: the batch must then be whole.
                delay = 0.0 if iteration == 0 else rng.uniform(0, 0.5)
                assert kill_mid_ingest(hub, probe, thread, delay), f"{context}: the hub never began to write"
                thread.join(timeout=30)
            finally:
                probe.close()
            assert "status" not in outcome or outcome["status"] == 200, f"{context}: {outcome}"
            assert integrity(database) == "ok", context

            hub = HubProcess(database, tmp_path / "hub.log").start()
            assert integrity(database) == "ok", context
            with open_replica(database) as replica:
                held = sorted(node_ops(replica, agent.config.node))
            whole = list(range(1, before + BATCH + 1))
            committed = len(held) - before
            assert held == whole[:len(held)] and (committed % WRITE_SLICE == 0 or held == whole), (
                f"{context}: the hub holds {committed} of the {BATCH} ops of the batch cut by the kill, "
                f"not a number of whole {WRITE_SLICE}-op slices")
            if outcome.get("status") == 200:
                assert held == whole, f"{context}: the hub acknowledged a batch it does not hold"
            outcomes["whole" if held == whole else "cut"] += 1

            set_hub_url(agent.home, hub.url)
            agent.close()
            agent = Agent.open(tmp_path / "tablet", attempts=1)
            summary = agent.sync()
            assert summary.rejected == [], context
            with open_replica(database) as replica:
                authored = assert_exactly_once(replica, agent.replica)
                assert len(replica.entity_ids("time_log")) == len(agent.replica.entity_ids("time_log")), context
                logs = [("time_log", op.eid) for op in batch]
                assert replica.canonical(logs) == agent.replica.canonical(logs), context
            assert authored == agent.replica.max_counters()[agent.config.node]
    finally:
        agent.close()
        hub.stop()
    # The first kill is immediate: the batch was cut inside its ingest at least once.
    assert outcomes["cut"] >= 1, f"seed {seed}: every kill came after the last commit: {outcomes}"
    print(f"hub kills: {kills}, batch cut by {outcomes['cut']}, whole after {outcomes['whole']}")
