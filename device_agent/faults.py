"""A hub transport that misbehaves on purpose, for fault tests and the deterministic simulation.

:class:`FaultyTransport` wraps any :class:`~device_agent.transport.HubTransport` (the in-process
one in the simulation, HTTP elsewhere) and, from one seeded generator, loses requests before the
hub sees them, loses replies after the hub processed them, delivers requests twice, holds requests
back and delivers them later — after requests sent after them, from any device — and cuts request
bodies short. A device can also be cut off altogether (a partition). Every failure reaches the
agent as :class:`~device_agent.transport.HubUnreachable`, which is what a real network shows it.

It is the device-to-hub counterpart of ``sync.transport.LossyTransport`` (which speaks the peer
protocol): the agent's retry, resume and acknowledgement logic is what it exercises, so it lives
beside the real transports rather than in one test. The devices of one simulated world share a
:class:`Network`: its generator, its fault rates, the requests in flight and the tallies of what
was injected, so a schedule replays exactly from its seed.
"""

from __future__ import annotations

import json as jsonlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .transport import HubRefused, HubTransport, HubUnreachable


@dataclass(frozen=True)
class FaultRates:
    """The probability of each fault on one request (all zero: a faithful network)."""

    drop_request: float = 0.0  # lost before the hub sees it
    drop_reply: float = 0.0  # the hub processed it; the reply is lost
    duplicate: float = 0.0  # delivered twice
    delay: float = 0.0  # held back, delivered later (after later requests); the sender times out
    truncate: float = 0.0  # the body is cut short on the way; the sender sees the connection drop

    @classmethod
    def random(cls, rng: random.Random, most: float = 0.15) -> FaultRates:
        """Rates drawn from ``rng``, each up to ``most``: every seed gets its own weather."""
        return cls(*(round(rng.uniform(0, most), 3) for _ in range(5)))


@dataclass
class Held:
    """A request in flight that the network held back."""

    inner: HubTransport
    method: str
    path: str
    kwargs: dict[str, Any]


@dataclass
class Network:
    """What the devices of one world share: the generator, the rates, the partitions and the
    requests held back. ``injected`` counts each fault by name."""

    random: random.Random
    rates: FaultRates = field(default_factory=FaultRates)
    offline: set[str] = field(default_factory=set)
    held: list[Held] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    # How likely, before each request, that requests held back go first (a reordering on the wire).
    release: float = 0.3
    # Exchanges the network must not disturb, to step around a known weakness while hunting for
    # others: ``spare(method, path, None)`` true keeps a request from being held back or
    # duplicated, ``spare(method, path, reply)`` true keeps that reply from being lost.
    spare: Callable[[str, str, dict[str, Any] | None], bool] | None = None
    # Told of every fault injected: ``log(device name, fault, method and path)``.
    log: Callable[[str, str, str], None] | None = None

    def link(self, inner: HubTransport, name: str) -> FaultyTransport:
        """A transport for the device ``name`` (partitions are by name) over ``inner``."""
        return FaultyTransport(self, inner, name)

    def heal(self) -> None:
        """No more faults and no more partitions; requests still held back stay in flight."""
        self.rates = FaultRates()
        self.offline.clear()

    def deliver_held(self, everything: bool = False) -> int:
        """Deliver requests held back: some of them (each with probability ``release``), or all
        with ``everything``, in an order the generator picks. Replies go nowhere; refusals and
        failures of late requests are the sender's business and ignored. Returns how many."""
        delivered = 0
        while self.held and (everything or self.random.random() < self.release):
            late = self.held.pop(self.random.randrange(len(self.held)))
            self.injected["delivered_late"] += 1
            if self.log:
                self.log("network", "delivered_late", f"{late.method} {late.path}")
            delivered += 1
            try:
                late.inner.call(late.method, late.path, **late.kwargs)
            except (HubRefused, HubUnreachable):
                pass
        return delivered


class FaultyTransport:
    """One device's link to the hub through a :class:`Network` (see the module docstring)."""

    def __init__(self, network: Network, inner: HubTransport, name: str) -> None:
        self.network = network
        self.inner = inner
        self.name = name

    def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             params: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """Send one request through the network's weather; see :class:`HubTransport`."""
        net = self.network
        kwargs: dict[str, Any] = {"json": json, "data": data, "params": params, "token": token}
        where = f"{method} {path}"
        if self.name in net.offline:
            return self._fail("offline", "no network", where)
        net.deliver_held()
        roll = net.random.random
        rates = net.rates
        if roll() < rates.drop_request:
            return self._fail("drop_request", "request lost", where)
        if roll() < rates.delay and not (net.spare and net.spare(method, path, None)):
            net.held.append(Held(self.inner, method, path, kwargs))
            return self._fail("delay", "request delayed past its timeout", where)
        if roll() < rates.truncate:
            self._deliver_quietly(method, path, _cut_short(net.random, kwargs))
            return self._fail("truncate", "connection cut mid-request", where)
        reply = self.inner.call(method, path, **kwargs)
        if roll() < rates.duplicate and not (net.spare and net.spare(method, path, None)):
            self._note("duplicate", where)
            self._deliver_quietly(method, path, kwargs)
        if roll() < rates.drop_reply and not (net.spare and net.spare(method, path, reply)):
            return self._fail("drop_reply", "reply lost after the hub processed the request", where)
        return reply

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()

    def _deliver_quietly(self, method: str, path: str, kwargs: dict[str, Any]) -> None:
        try:
            self.inner.call(method, path, **kwargs)
        except (HubRefused, HubUnreachable):
            pass

    def _note(self, fault: str, where: str) -> None:
        self.network.injected[fault] += 1
        if self.network.log:
            self.network.log(self.name, fault, where)

    def _fail(self, fault: str, what: str, where: str) -> dict[str, Any]:
        self._note(fault, where)
        raise HubUnreachable(f"{what} ({self.name})", hint="the agent keeps everything and retries")


def _cut_short(rng: random.Random, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request as it arrives after a cut: raw bytes cut anywhere (the hub sees a body it
    cannot parse), or — for a JSON object holding a list, such as a push's ops — the list cut
    to a prefix, which a hub might take for the whole batch."""
    cut = dict(kwargs)
    if kwargs["data"] is not None:
        body: bytes = kwargs["data"]
        cut["data"] = body[: rng.randrange(len(body))] if body else body
        return cut
    payload = kwargs["json"]
    lists = [name for name, value in payload.items() if isinstance(value, list)] if isinstance(payload, dict) else []
    if lists and rng.random() < 0.5:
        name = lists[0]
        cut["json"] = {**payload, name: payload[name][: rng.randrange(len(payload[name]) + 1)]}
        return cut
    raw = jsonlib.dumps(payload).encode()
    cut["json"], cut["data"] = None, raw[: rng.randrange(len(raw))]
    return cut
