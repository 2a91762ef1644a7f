"""The hub served by several gunicorn workers on one PostgreSQL schema, as the README runs it:
``fieldsync-hub --db postgresql://... serve --workers 3``, a real process on loopback.

Tablets enrol, work their jobs and sync at the same time as the office writes, each request landing
on whichever worker accepts it; afterwards the hub holds every op exactly once and every tablet
agrees with it. The business engines tick in all three workers every few tenths of a second, yet a
round runs in one worker at a time: while this test holds the engines' advisory lock no worker
escalates a breached ticket, and once it lets go the breach is escalated exactly once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

from device_agent import Agent, visit
from device_agent.visit import Fix
from hub import auth
from hub.config import HubConfig
from hub.store import HubStore
from sync.ops import SET
from sync.store.postgres import ENGINES_LOCK, schema_key

from ..crash.support import HubProcess, assert_exactly_once
from ..hub.conftest import seed_job
from .schemas import SERVER

WORKERS = 3
TABLETS = 3


def worker_pids(master: int, expected: int) -> list[int]:
    """The master's worker processes, once it has forked ``expected`` of them (it binds first)."""
    deadline = time.monotonic() + 30
    while True:
        children = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        if len(children) >= expected or time.monotonic() > deadline:
            return children
        time.sleep(0.1)


def escalations(store: HubStore, ticket: str) -> list[dict]:
    with store.reading():
        records = (store.replica.entity("escalation", eid)["value"] for eid in store.replica.entity_ids("escalation"))
        return [record for record in records if record["ticket_id"] == ticket]


def test_three_workers_serve_tablets_and_office_at_once_and_run_each_engine_round_in_one(pg_url, schemas, tmp_path):
    config = HubConfig(database=pg_url, blob_dir=tmp_path / "blobs")
    store = HubStore(config)
    codes, jobs = [], []
    for n in range(1, TABLETS + 1):
        seed_job(store, job=f"job-{n}", technician=f"tech-{n}", van=f"van-{n}")
        codes.append(auth.create_enrolment_code(store, "technician", f"tech-{n}", f"tablet {n}"))
        jobs.append(f"job-{n}")
    office = {"Authorization": f"Bearer {auth.create_user(store, 'dispatch', auth.PERMISSIONS)}"}
    # A High ticket opened three hours ago has breached its 2 h response target: the SLA engine
    # must escalate it, once.
    opened = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    store.write([("ticket", "tkt-late", SET, "customer_id", "cust-1"), ("ticket", "tkt-late", SET, "title", "No heat"),
                 ("ticket", "tkt-late", SET, "priority", "High"), ("ticket", "tkt-late", SET, "opened_at", opened)])
    schema = schemas.made[-1]
    lock = psycopg.connect(SERVER, autocommit=True)
    key = (ENGINES_LOCK, schema_key(f"{schema}/engines"))
    lock.execute("SELECT pg_advisory_lock(%s, %s)", key)  # no engine round may start until we let go

    hub = HubProcess(pg_url, tmp_path / "hub.log", "--workers", str(WORKERS), "--engines-interval", "0.3")
    hub.start(timeout_s=60)
    agents: list[Agent] = []
    try:
        assert len(worker_pids(hub.pid, WORKERS)) == WORKERS
        agents = [Agent.enrol(tmp_path / f"tablet-{n}", hub.url, code) for n, code in enumerate(codes, 1)]
        failures: list[BaseException] = []

        def work(agent: Agent, job: str) -> None:
            try:
                agent.sync()
                visit.accept(agent, job)
                visit.depart(agent, job)
                agent.sync()
                visit.check_in(agent, job, Fix(51.45, -2.59, 8.0, None))
                visit.log_time(agent, job, minutes=45, description="diagnosis")
                visit.use_part(agent, job, "CAP-45", 1)
                agent.sync()
                visit.complete(agent, job, notes="replaced the capacitor")
                agent.sync()
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        def edit_tickets() -> None:
            try:
                for n in range(20):
                    reply = requests.patch(f"{hub.url}/api/v1/tickets/tkt-late", headers=office, timeout=30,
                                           json={"description": f"caller rang again ({n})"})
                    assert reply.status_code == 200, reply.text
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(agent, job)) for agent, job in zip(agents, jobs, strict=True)]
        threads.append(threading.Thread(target=edit_tickets))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads)

        time.sleep(1.5)  # five engine ticks in each worker, all finding the round taken
        assert escalations(store, "tkt-late") == []

        lock.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        deadline = time.monotonic() + 30
        while not escalations(store, "tkt-late") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # more rounds in every worker: none may escalate the same breach again
        found = escalations(store, "tkt-late")
        levels = sorted((e["clock"], e["level"]) for e in found)
        assert ("response", "breached") in levels and len(set(levels)) == len(levels), levels

        for agent, job in zip(agents, jobs, strict=True):
            agent.sync()
            assert_exactly_once(store.replica, agent.replica)
            with store.reading():
                assert store.replica.entity("job", job)["status"] == "completed"
            assert agent.replica.entity("job", job) == store.replica.entity("job", job)
            assert agent.status()["pending_ops"] == 0
        assert store.replica.entity("ticket", "tkt-late")["description"] == "caller rang again (19)"
    finally:
        for agent in agents:
            agent.close()
        hub.stop()
        lock.close()
        store.close()
    assert hub.process is not None and hub.process.returncode == 0
