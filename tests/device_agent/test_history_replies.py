"""Jobs that come onto a tablet arrive whole and as the hub has them, whatever happens to the
reply that carries them: lost on the way, or the job changed at the hub while it was away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from device_agent import Agent
from device_agent.transport import HttpTransport, HubUnreachable
from device_agent.views import my_jobs
from hub.app import store_of
from sync.ops import ADD, MOVE, REMOVE, SET


class Link:
    """HTTP to the live hub, with a twist each subclass puts in ``call``."""

    def __init__(self, url: str) -> None:
        self.inner = HttpTransport(url)

    def close(self) -> None:
        self.inner.close()


class LosesHistoryReplies(Link):
    """A link that loses the first ``count`` pull replies carrying history, after the hub has
    processed the pull (a connection cut on the way back)."""

    def __init__(self, url: str, count: int) -> None:
        super().__init__(url)
        self.count = count

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = self.inner.call(method, path, **kwargs)
        if path == "/api/v1/sync/pull" and reply.get("history") and self.count > 0:
            self.count -= 1
            raise HubUnreachable("the reply was lost on the way back (test)")
        return reply


def test_a_job_assigned_while_the_reply_carrying_it_is_lost_still_arrives_whole(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([("ticket", "tkt-2", SET, "customer_id", "cust-1"), ("ticket", "tkt-2", SET, "title", "Leak"),
                 ("work_order", "wo-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "work_order_id", "wo-2"),
                 ("job", "job-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "technician_id", "tech-9")])
    link = LosesHistoryReplies(hub.url, count=0)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), transport=link, sleep=lambda _s: None)
    try:
        agent.sync()
        store.write([("job", "job-2", SET, "technician_id", "tech-1")])
        link.count = 2  # the first two replies bringing job-2 never reach the tablet
        summary = agent.sync()
        assert summary.retries == 2
        assert [job["id"] for job in my_jobs(agent)] == ["job-1", "job-2"]
        assert agent.replica.entity("ticket", "tkt-2")["title"] == "Leak"
        assert agent.replica.entity("work_order", "wo-2")["ticket_id"] == "tkt-2"
    finally:
        agent.close()


class WorkWhileHistoryIsInFlight(Link):
    """A link over which, while the hub's reply carrying history is on its way, the technician
    records something on the tablet (another command, another process): it is not pushed yet."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.meanwhile: Callable[[], None] | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = self.inner.call(method, path, **kwargs)
        if path == "/api/v1/sync/pull" and reply.get("history") and self.meanwhile:
            self.meanwhile()
            self.meanwhile = None
        return reply


def test_a_job_back_on_the_tablet_shows_the_hubs_state_and_keeps_what_was_recorded_meanwhile(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([("technician", "tech-2", SET, "name", "Ben"), ("job", "job-1", ADD, "crew_ids", "tech-3")])
    link = WorkWhileHistoryIsInFlight(hub.url)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), transport=link, sleep=lambda _s: None)
    try:
        agent.sync()
        agent.write([("job", "job-1", SET, "completion_notes", "parts ordered")])
        agent.sync()
        # Dispatch moves the job to Ben; while it is away the office rewrites the notes twice and
        # takes tech-3 off the crew, and the tablet syncs past all of it.
        store.write([("job", "job-1", SET, "technician_id", "tech-2")])
        agent.sync()
        store.write([("job", "job-1", SET, "completion_notes", "Ben: parts fitted")])
        store.write([("job", "job-1", SET, "completion_notes", "Ben: tested"), ("job", "job-1", REMOVE, "crew_ids",
                                                                                "tech-3")])
        agent.sync()
        store.write([("job", "job-1", SET, "technician_id", "tech-1")])
        # The technician accepts it in another window before this sync has committed its return.
        link.meanwhile = lambda: agent.write([("job", "job-1", MOVE, "status", "accepted")])
        agent.sync()
        job = agent.replica.entity("job", "job-1")
        assert job["completion_notes"] == "Ben: tested" and job.get("crew_ids", []) == []
        assert job["status"] == "accepted"  # recorded while the reply was in flight, not lost
        assert agent.replica.conflicts("job", "job-1") == []
        assert agent.status()["pending_ops"] == 1
        agent.sync()
        assert store.replica.entity("job", "job-1")["status"] == "accepted"
        assert agent.replica.canonical([("job", "job-1")]) == store.replica.canonical([("job", "job-1")])
    finally:
        agent.close()


class DuplicatesAPull(Link):
    """A link that, once ``between`` is set, delivers the next pull twice (the hub answers both;
    the tablet hears the first answer), then runs ``between`` before the pull after it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.between: Callable[[], None] | None = None
        self.duplicated = False

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if path == "/api/v1/sync/pull" and self.between is not None:
            if not self.duplicated:
                self.duplicated = True
                reply = self.inner.call(method, path, **kwargs)
                self.inner.call(method, path, **kwargs)
                return reply
            self.between()
            self.between = None
        return self.inner.call(method, path, **kwargs)


def test_a_job_whose_history_comes_twice_while_its_ticket_changes_shows_the_hubs_ticket(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([("ticket", "tkt-2", SET, "customer_id", "cust-1"), ("work_order", "wo-2", SET, "ticket_id", "tkt-2"),
                 ("job", "job-2", SET, "work_order_id", "wo-2"), ("job", "job-2", SET, "ticket_id", "tkt-2"),
                 ("job", "job-2", SET, "technician_id", "tech-9")])
    link = DuplicatesAPull(hub.url)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), transport=link, sleep=lambda _s: None)
    try:
        agent.sync()
        # After the tablet's last sync the office describes the ticket twice and gives job-2 to
        # tech-1. The pull bringing job-2 is delivered twice, so the hub, not knowing which
        # answer the tablet kept, sends job-2 again — after a third description.
        store.write([("ticket", "tkt-2", SET, "description", "v1")])
        store.write([("ticket", "tkt-2", SET, "description", "v2")])
        store.write([("job", "job-2", SET, "technician_id", "tech-1")])
        link.between = lambda: store.write([("ticket", "tkt-2", SET, "description", "v3")])
        agent.sync()
        assert agent.replica.entity("ticket", "tkt-2")["description"] == "v3"
        assert agent.replica.conflicts("ticket", "tkt-2") == []
        assert agent.replica.canonical([("ticket", "tkt-2")]) == store.replica.canonical([("ticket", "tkt-2")])
    finally:
        agent.close()
