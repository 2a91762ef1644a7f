"""A pull reply is acknowledged to the hub before the device commits it (the next page's request
goes out first, so the hub works beside the device's commit). What the hub was told the device
holds is therefore on disk first: an agent that dies in between holds it when it opens again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import device_agent.agent as agent_module
from device_agent import Agent
from device_agent.transport import HttpTransport
from hub.app import store_of
from sync.ops import APPEND

RECORDS = 12


class Died(BaseException):
    """The agent's process ends here (power cut, kill -9): nothing after it runs."""


class DiesAfterPull(HttpTransport):
    """HTTP to the live hub; the process dies once the hub has answered pull number ``fatal``
    (counted from 1), before the device hears the answer."""

    def __init__(self, url: str, fatal: int | None) -> None:
        super().__init__(url)
        self.fatal = fatal
        self.pulls = 0

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = super().call(method, path, **kwargs)
        if path == "/api/v1/sync/pull":
            self.pulls += 1
            if self.pulls == self.fatal:
                raise Died()
        return reply


def _time_logs(store, count: int) -> None:
    store.write([("time_log", f"tl-{n:03d}", APPEND, "", {
        "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
        "ended_at": "2026-11-27T09:30:00+00:00", "description": f"visit {n}", "billable": True,
        "category": "labour"}) for n in range(count)])


@pytest.fixture
def small_pages(monkeypatch):
    # Pages of a few ops, so a first sync of a small scope takes many of them.
    monkeypatch.setattr(agent_module, "PULL_BATCH", 4)


@pytest.mark.parametrize("overlapping", [True, False], ids=["http", "one-thread"])
@pytest.mark.parametrize("fatal", [2, 3, 4])
def test_a_reply_acknowledged_then_lost_with_the_process_is_held_when_the_agent_opens(
        hub, code, tmp_path, small_pages, fatal, overlapping):
    store = store_of(hub.app)
    _time_logs(store, RECORDS)
    link = DiesAfterPull(hub.url, fatal)
    link.overlaps = overlapping  # type: ignore[misc]
    home = tmp_path / "tablet"
    agent = Agent.enrol(home, hub.url, code(), transport=link, sleep=lambda _s: None)
    with pytest.raises(Died):
        agent.sync()
    agent.close()
    if not overlapping:
        # In one thread the next request goes before the commit: the reply it acknowledged
        # died uncommitted, and only the spool holds it.
        assert list((home / "pull-spool").iterdir())
    # Pull `fatal` acknowledged the reply before it; whether or not that reply was committed when
    # the process died, it is held as soon as the agent opens again, before any sync.
    acknowledged = store.conn.execute("SELECT acked_scope FROM devices WHERE node = ?",
                                      (agent.config.node,)).fetchone()[0]
    reopened = Agent.open(home, transport=HttpTransport(hub.url), sleep=lambda _s: None)
    try:
        held = set(reopened.replica.entity_ids("time_log"))
        assert {f"tl-{n:03d}" for n in range(RECORDS)} >= held
        assert all(f'"{eid}"' in acknowledged for eid in held)
        assert all(eid in held for eid in _acknowledged_time_logs(acknowledged))
        assert list((home / "pull-spool").iterdir()) == []
        reopened.sync()
        assert sorted(reopened.replica.entity_ids("time_log")) == [f"tl-{n:03d}" for n in range(RECORDS)]
        logs = [("time_log", f"tl-{n:03d}") for n in range(RECORDS)]
        assert reopened.replica.canonical(logs) == store.replica.canonical(logs)
    finally:
        reopened.close()


def _acknowledged_time_logs(scope_text: str | None) -> list[str]:
    if not scope_text:
        return []
    entities = orjson.loads(scope_text)["entities"]
    return entities.get("time_log", []) if isinstance(entities, dict) else [e for t, e in entities if t == "time_log"]


def test_a_bootstrap_over_many_pages_leaves_no_reply_on_disk(hub, code, tmp_path, small_pages):
    store = store_of(hub.app)
    _time_logs(store, RECORDS)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), sleep=lambda _s: None)
    try:
        summary = agent.sync()
        assert summary.pulled >= RECORDS
        assert sorted(agent.replica.entity_ids("time_log")) == [f"tl-{n:03d}" for n in range(RECORDS)]
        assert list((tmp_path / "tablet" / "pull-spool").iterdir()) == []
    finally:
        agent.close()
