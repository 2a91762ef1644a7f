"""Transports that run inside one process: a faithful one, and a lossy one for fault tests.

The HTTP transport lives with the device agent; these let a test put a hub and several devices
in one process and watch them converge, or misbehave on purpose with a seeded schedule.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .errors import TransportError
from .protocol import SyncReplica, handle

Clock = Callable[[], int]


class InMemoryTransport:
    """Delivers every request to ``replica`` at once and returns its reply."""

    def __init__(self, replica: SyncReplica, now_ms: Clock) -> None:
        self.replica = replica
        self.now_ms = now_ms

    def request(self, message: bytes) -> bytes:
        return handle(message, self.replica, self.now_ms())


class LossyTransport:
    """Drops requests or replies, delivers requests twice, delays them past later ones and cuts
    them short — each with its own probability, from a seeded generator, so a failing schedule
    replays exactly."""

    def __init__(self, replica: SyncReplica, now_ms: Clock, seed: int, *, drop_request: float = 0.1,
                 drop_reply: float = 0.1, duplicate: float = 0.1, delay: float = 0.1, truncate: float = 0.05) -> None:
        self.inner = InMemoryTransport(replica, now_ms)
        self.random = random.Random(seed)
        self.drop_request = drop_request
        self.drop_reply = drop_reply
        self.duplicate = duplicate
        self.delay = delay
        self.truncate = truncate
        self.delayed: list[bytes] = []
        self.faults = 0

    def request(self, message: bytes) -> bytes:
        roll = self.random.random
        # Requests held back earlier arrive now, ahead of this one: a reordering on the wire.
        while self.delayed and roll() < 0.5:
            self.inner.request(self.delayed.pop(self.random.randrange(len(self.delayed))))
        if roll() < self.drop_request:
            return self._fail("request lost")
        if roll() < self.delay:
            self.delayed.append(message)
            return self._fail("request delayed past its timeout")
        if roll() < self.truncate:
            self.inner.request(message[: self.random.randrange(len(message))])
            return self._fail("connection cut mid-request")
        reply = self.inner.request(message)
        if roll() < self.duplicate:
            reply = self.inner.request(message)
        if roll() < self.drop_reply:
            return self._fail("reply lost after the request was processed")
        return reply

    def flush(self) -> None:
        """Deliver whatever is still held back (the network heals)."""
        while self.delayed:
            self.inner.request(self.delayed.pop(0))

    def _fail(self, what: str) -> bytes:
        self.faults += 1
        raise TransportError(what, hint="retry the sync; nothing acknowledged is lost")
