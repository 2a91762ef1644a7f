"""Work a tablet stamped too far ahead of the hub's clock waits in quarantine and is merged once the
hub's clock has caught up — at a device's hello or an engine round — then reaches the other devices
through the feed; the device is told, and the administrator sees what waits and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub import admin, auth, quarantine
from hub.engines import run_all
from sync import hlc
from sync.hlc import DEFAULT_MAX_AHEAD_MS
from sync.ops import MOVE, SET, Op

from .conftest import NOW_MS
from .test_admin import cli, push
from .test_sync_api import bearer, pull_all

HOUR_MS = 3600 * 1000
# An hour ahead of the hub: the hub's clock reaches the bound of it this much later.
DUE_MS = NOW_MS + HOUR_MS - DEFAULT_MAX_AHEAD_MS


def accepted_an_hour_ahead(node: str, counter: int = 1) -> Op:
    return Op(node, counter, hlc.pack(NOW_MS + HOUR_MS), "job", "job-1", MOVE, "status", "accepted")


def hello(client, token):
    return client.post("/api/v1/sync/hello", json={"device_now_ms": NOW_MS}, headers=bearer(token)).json


def test_work_stamped_ahead_waits_then_is_merged_and_reaches_the_other_tablet(client, seeded, device, clock):
    dev, token = device
    # A second tablet of the same technician follows job-1 through the feed.
    _, other = auth.enrol(seeded, auth.create_enrolment_code(seeded, "technician", "tech-1", "spare"), "spare", "t")
    _, cursor, _ = pull_all(client, other)
    reply = push(client, token, [accepted_an_hour_ahead(dev.node)])
    assert reply["accepted"] == 0 and [r["clock_ahead"] for r in reply["rejected"]] == [True]
    assert reply["hub_has"] == 1  # held: the tablet does not send it again
    assert [r["id"] for r in hello(client, token)["quarantined"]] == [[dev.node, 1]]

    clock.ms = DUE_MS - 1
    assert hello(client, token)["quarantined_through"] is None
    assert seeded.replica.entity("job", "job-1").get("status") is None
    assert pull_all(client, other, cursor)[0] == []

    clock.ms = DUE_MS  # now within the bound: the next hello releases it
    said = hello(client, token)
    assert said["quarantined"] == [] and said["hub_has"] == 1
    assert seeded.replica.entity("job", "job-1")["status"] == "accepted"
    assert seeded.replica.quarantined() == []
    ops, _, _ = pull_all(client, other, cursor)
    assert [(op[0], op[1]) for op in ops] == [(dev.node, 1)]
    # Sent again (a push retried), it is held like any op merged.
    assert push(client, token, [accepted_an_hour_ahead(dev.node)])["duplicates"] == 1


def test_an_engine_round_releases_what_waits_and_leaves_what_was_refused(client, seeded, device, clock, office):
    dev, token = device
    refused = Op(dev.node, 1, hlc.pack(NOW_MS), "customer", "cust-1", SET, "name", "mine now")
    push(client, token, [refused, accepted_an_hour_ahead(dev.node, 2)])
    listed = sorted(admin.list_quarantine(seeded), key=lambda q: q["counter"])
    assert [(q["id"], q["waits_for_clock"]) for q in listed] == [(f"{dev.node}:1", False), (f"{dev.node}:2", True)]
    assert listed[0]["due_at"] is None
    assert listed[1]["due_at"] == datetime.fromtimestamp(DUE_MS / 1000, tz=UTC).isoformat(timespec="milliseconds")
    text = cli(seeded, "quarantine").stdout
    assert "refused" in text and "waits for clock until" in text and "1 refused, 1 waiting" in text
    kept = client.get("/api/v1/quarantine", headers=office).json["data"]
    assert sorted((q["id"], q["clock_ahead"]) for q in kept) == [(q["id"], q["waits_for_clock"]) for q in listed]

    clock.ms = DUE_MS + HOUR_MS
    client.post("/api/v1/engines/run", headers=office)
    assert seeded.replica.entity("job", "job-1")["status"] == "accepted"
    assert [q["id"] for q in admin.list_quarantine(seeded)] == [f"{dev.node}:1"]
    assert "waits for clock" not in cli(seeded, "quarantine").stdout
    # Nothing left that waits: another round releases nothing and writes nothing new.
    log_end = seeded.replica.log_end()
    run_all(seeded)
    assert seeded.replica.log_end() == log_end


def test_a_hello_lists_so_many_held_ops_and_says_up_to_which(client, seeded, device, monkeypatch):
    dev, token = device
    monkeypatch.setattr(quarantine, "LISTED_PER_HELLO", 2)
    push(client, token, [accepted_an_hour_ahead(dev.node, counter) for counter in (1, 2, 3)])
    said = hello(client, token)
    assert [r["id"][1] for r in said["quarantined"]] == [1, 2] and said["quarantined_through"] == 2


def test_a_release_larger_than_a_slice_is_merged_whole(client, seeded, device, clock, monkeypatch):
    dev, token = device
    monkeypatch.setattr(quarantine, "WRITE_SLICE", 2)
    ops = [Op(dev.node, counter, hlc.pack(NOW_MS + HOUR_MS) + counter, "job", "job-1", SET, "completion_notes",
              f"draft {counter}") for counter in range(1, 6)]
    push(client, token, ops)
    clock.ms = DUE_MS
    assert quarantine.release_due(seeded) == 5
    assert seeded.replica.entity("job", "job-1")["completion_notes"] == "draft 5"
    assert seeded.replica.quarantined() == [] and seeded.replica.vector()[dev.node] == 5
    assert json.loads(cli(seeded, "quarantine", "--json").stdout) == []
