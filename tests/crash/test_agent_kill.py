"""A real ``fieldsync-agent`` killed with SIGKILL while it records, then started again.

Two kinds of stream: the CLI itself, one process per command (log-time, use-part, check-in, and
sync now and then), each killed at a random moment around the time a command takes; and one
long-running writer (``writer.py``, the agent library as the CLI uses it) recording as fast as
it can until it is killed. After every kill the device's SQLite file passes ``PRAGMA
integrity_check``; at the end every action the agent reported as recorded (printed before the
kill) is on the device, each command's writes are whole (a part used always has its stock
movement and the van's count matches), and one sync leaves the hub holding each of the
device's ops exactly once, with every reported record. ``FIELDSYNC_CRASH_SEED`` replays a run;
``FIELDSYNC_CRASH_ITERATIONS`` sets the kills of the long variants.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from hub import auth
from hub.app import store_of

from .support import agent_command, assert_exactly_once, clean_env, integrity, kill, open_replica, run_agent

WRITER = str(Path(__file__).with_name("writer.py"))
CLI_COMMANDS = {
    "log-time": lambda i: ["log-time", "job-1", "--minutes", str(1 + i % 60), "--description", f"cli entry {i}"],
    "use-part": lambda i: ["use-part", "job-1", "CAP-45", "1"],
    "check-in": lambda i: ["check-in", "job-1", "--lat", "51.4545", "--lon", "-2.5879", "--accuracy", "8"],
    "sync": lambda i: ["sync"],
}
ITERATIONS = int(os.environ.get("FIELDSYNC_CRASH_ITERATIONS", 30))


@pytest.fixture
def home(hub, tmp_path):
    """A tablet enrolled and synced through the CLI: it holds job-1."""
    folder = tmp_path / "tablet"
    code = auth.create_enrolment_code(store_of(hub.app), "technician", "tech-1", "Ana's tablet")
    run_agent(folder, "enrol", "--code", code, "--hub", hub.url)
    run_agent(folder, "sync")
    return folder


@pytest.fixture
def rng():
    seed = int(os.environ.get("FIELDSYNC_CRASH_SEED", random.randrange(1 << 30)))
    print(f"FIELDSYNC_CRASH_SEED={seed}")
    return random.Random(seed)


def remember(reported: dict, printed: dict) -> None:
    """The records an action's printed reply says were recorded."""
    for record in printed.get("records", []):
        reported[(record["entity"], record["id"])] = record["value"]


def wait_for_a_write(wal: Path, process: subprocess.Popen, deadline_s: float) -> None:
    """Return once the command writes to the device's WAL (it is committing), or it ends, or the
    deadline passes."""
    def stamp() -> int:
        return wal.stat().st_mtime_ns if wal.exists() else 0

    before, deadline = stamp(), time.monotonic() + deadline_s
    while process.poll() is None and stamp() == before and time.monotonic() < deadline:
        time.sleep(0.0005)


@pytest.mark.parametrize("kills", [pytest.param(8, id="8-commands"),
                                   pytest.param(ITERATIONS, marks=pytest.mark.slow, id="many-commands")])
def test_the_cli_killed_at_random_moments_keeps_every_action_it_reported(hub, home, rng, kills):
    reported: dict = {}
    took = []  # how long whole commands take here, now (the machine may be busy): the window to aim in
    for i in (-2, -1):
        started = time.monotonic()
        remember(reported, run_agent(home, *CLI_COMMANDS["log-time"](i)))
        took.append(time.monotonic() - started)
    outcome = {"killed": 0, "finished": 0}
    for i in range(1, kills + 1):
        command = rng.choice(sorted(CLI_COMMANDS))
        started = time.monotonic()
        process = subprocess.Popen(agent_command(home, *CLI_COMMANDS[command](i)), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=clean_env())
        # Half the kills land at a random moment of the command (most of it is Python starting);
        # the other half just after it begins to write, between its commit and its reply.
        typical = sorted(took)[len(took) // 2]
        if rng.random() < 0.5:
            delay = typical * rng.uniform(0.3, 1.4)
        else:
            wait_for_a_write(home / "device.db-wal", process, typical * 3)
            delay = rng.uniform(0, 0.02)
        try:
            out, _ = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            kill(process)
            out, _ = process.communicate()
        if process.returncode == -9:
            outcome["killed"] += 1
        else:
            outcome["finished"] += 1
            took.append(time.monotonic() - started)
        if process.returncode == 0 and command != "sync":
            remember(reported, json.loads(out))
        assert integrity(home / "device.db") == "ok", f"after {command} #{i} ({process.returncode})"
    run_agent(home, "sync")
    unreported = check_device_and_hub(hub, home, reported)
    print(f"cli: {kills} commands, {outcome}, {len(reported)} record(s) reported, "
          f"{unreported} recorded by a command killed before it could say so")
    assert outcome["killed"] >= 1


def read_lines(stream, lines: list[str]) -> None:
    with stream:
        for line in stream:
            lines.append(line)


@pytest.mark.parametrize("kills", [pytest.param(2, id="2-kills"),
                                   pytest.param(ITERATIONS, marks=pytest.mark.slow, id="many-kills")])
def test_a_writer_killed_mid_stream_keeps_every_action_it_reported(hub, home, rng, kills):
    reported: dict = {}
    for i in range(kills):
        process = subprocess.Popen([sys.executable, WRITER, str(home), "job-1", "20000", "60"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        lines: list[str] = []
        reader = threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        # Let it start and record for a while (a few hundred actions), then cut it anywhere.
        deadline = time.monotonic() + 30
        while len(lines) < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        kill(process)
        reader.join(timeout=30)
        process.stderr.close()
        assert lines, f"the writer recorded nothing: {process.returncode}"
        complete = [line for line in lines if line.endswith("\n")]
        for line in complete:
            remember(reported, json.loads(line))
        assert integrity(home / "device.db") == "ok", f"after kill {i} ({len(complete)} actions printed)"
        if rng.random() < 0.3:
            run_agent(home, "sync")  # some of it reaches the hub between kills, as on a real day
    run_agent(home, "sync")
    unreported = check_device_and_hub(hub, home, reported)
    print(f"writer: {kills} kills, {len(reported)} record(s) reported, {unreported} recorded unreported")


def check_device_and_hub(hub, home: Path, reported: dict) -> int:
    """Every reported record is on the device and at the hub, each command's writes are whole,
    and the hub holds each of the device's ops exactly once. Returns how many records the
    device holds that no reply reported (killed between the commit and the print)."""
    store = store_of(hub.app)
    with open_replica(home / "device.db") as device, store.reading():
        for (entity, eid), value in reported.items():
            held = device.entity(entity, eid)
            assert held.get("value") == value, f"{entity} {eid} reported recorded, on the device: {held}"
            assert store.replica.entity(entity, eid).get("value") == value, f"{entity} {eid} not at the hub"
        # A part used from the van and its stock movement are one command: both or neither.
        usages = device.entity_ids("part_usage")
        assert set(usages) == set(device.entity_ids("stock_move")), "a part use without its movement"
        used = sum(Decimal(device.entity("part_usage", eid)["value"]["qty"]) for eid in usages)
        assert Decimal(str(device.entity("stock", "van-7:CAP-45")["on_hand"])) == 2 - used
        assert_exactly_once(store.replica, device)
        mine = [(entity, eid) for entity in ("time_log", "part_usage", "stock_move", "check_event")
                for eid in device.entity_ids(entity)]
        assert store.replica.canonical(mine) == device.canonical(mine)
        records = {key for key in mine if key[0] in ("time_log", "part_usage", "check_event")}
    assert run_agent(home, "status")["pending_ops"] == 0
    return len(records - set(reported))
