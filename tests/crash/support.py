"""Real processes for crash tests: the ``fieldsync-hub`` and ``fieldsync-agent`` console scripts
started from this virtualenv, killed with SIGKILL by their own PID, and what is left on disk.

Every process binds or talks to 127.0.0.1 only and is stopped by the test that started it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hub import auth
from hub.app import create_app, store_of
from schema import REGISTRY
from sync.ops import Op, to_wire
from sync.store import SqliteReplica

from ..hub.conftest import seed_job

BIN = Path(sys.executable).parent
AGENT = str(BIN / "fieldsync-agent")
HUB = str(BIN / "fieldsync-hub")
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def clean_env() -> dict[str, str]:
    """The environment for a child: no FIELDSYNC_* setting of the caller's leaks in (a database
    URL meant for another suite, an agent home), and Python unbuffered so lines arrive at once."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FIELDSYNC_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def kill(process: subprocess.Popen) -> None:
    """SIGKILL one process by its PID (no cleanup runs in it), and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, through a connection of our own."""
    conn = sqlite3.connect(str(path), timeout=10)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def seed_hub(database: Path, technicians: int = 1) -> list[str]:
    """A hub database holding the seeded job of tests/hub (tech-1, van-7, job-1) and one
    enrolment code per technician tablet; the codes are returned."""
    app = create_app({"database": database})
    store = store_of(app)
    try:
        seed_job(store)
        return [auth.create_enrolment_code(store, "technician", "tech-1", f"tablet {n}") for n in range(technicians)]
    finally:
        store.close()


def node_ops(replica: SqliteReplica, node: str) -> list[int]:
    """The counters of ``node``'s ops in the replica's log, in log order, duplicates kept — so a
    test can tell an op held twice from one held once."""
    counters = []
    cursor, end = 0, replica.log_end()
    while cursor < end:
        window, cursor = replica.ops_since(cursor, 5000)
        counters.extend(op.counter for op in window if op.node == node)
    return counters


def open_replica(path: Path) -> SqliteReplica:
    """The replica in an existing file (hub or device), opened for reading."""
    return SqliteReplica.open(path, None, REGISTRY)


class HubProcess:
    """``fieldsync-hub --db FILE-OR-URL serve --port 0`` as a child process; the URL is read from what it prints."""

    def __init__(self, database: Path | str, log: Path, *options: str) -> None:
        self.database = database
        self.log = log
        self.options = options  # more `serve` options; a repeated one overrides the default here
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout_s: float = 30.0) -> HubProcess:
        command = [HUB, "--db", str(self.database), "serve", "--host", "127.0.0.1", "--port", "0",
                   "--no-zeroconf", "--engines-interval", "0", "--threads", "4", *self.options]
        with open(self.log, "a") as errors:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                                            env=clean_env())
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_drain, args=(self.process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = LISTENING.search(line)
            if found:
                self.url = found.group(1)
                return self
        self.kill()
        raise AssertionError(f"the hub did not start: see {self.log}:\n{self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None:
            kill(self.process)

    def stop(self) -> None:
        """SIGTERM (the hub closes its database and exits), SIGKILL if it does not within 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill(self.process)


def _drain(stream: Any, lines: queue.Queue[str]) -> None:
    with stream:  # closed at EOF, when the hub exits or is killed
        for line in stream:
            lines.put(line)


def agent_command(home: Path, *args: str) -> list[str]:
    return [AGENT, "--home", str(home), "--json", *args]


def run_agent(home: Path, *args: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Run one ``fieldsync-agent --json`` command to its end; its JSON reply."""
    done = subprocess.run(agent_command(home, *args), capture_output=True, text=True, timeout=timeout_s,
                          env=clean_env())
    assert done.returncode == 0, f"fieldsync-agent {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def set_hub_url(home: Path, url: str) -> None:
    """Point an enrolled agent at a hub that came back on another port."""
    config = json.loads((home / "agent.json").read_text())
    config["hub_url"] = url
    (home / "agent.json").write_text(json.dumps(config))


def assert_exactly_once(hub: SqliteReplica, device: SqliteReplica) -> int:
    """The hub holds each op the device authored exactly once: counters 1..N, no gap, no repeat.
    Returns N."""
    node = device.node
    authored = device.max_counters().get(node, 0)
    held = node_ops(hub, node)
    assert len(held) == len(set(held)), f"the hub holds {len(held) - len(set(held))} op(s) of {node} twice"
    assert sorted(held) == list(range(1, authored + 1)), (
        f"the hub holds {len(held)} op(s) of {node}, the device authored {authored}: "
        f"missing {sorted(set(range(1, authored + 1)) - set(held))[:10]}")
    return authored


def wire_batch(ops: list[Op]) -> dict[str, Any]:
    """A push request's body holding ``ops``, as the agent sends it."""
    return {"ops": [to_wire(op) for op in ops]}
