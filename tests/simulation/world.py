"""The simulated world: one clock, one source of entropy, a hub that can die, devices that can die.

Nothing here reads the wall clock or the operating system's randomness: the hub's clock, every
device's wall clock, the ids the hub and the agents make, node ids and tokens all come from the
seed, so a schedule replays exactly. Crashes are :class:`Crash` exceptions (``BaseException``:
nothing in the hub or the agent may catch them, like a process dying) raised from an observer on
a replica *inside* its ingest transaction, which therefore rolls back; the process is then
"restarted" — the hub app or the agent is reopened on the same files.
"""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import device_agent.van
import hub.auth
import hub.office_records
from device_agent import Agent
from device_agent.faults import Network
from device_agent.transport import HubTransport, HubUnreachable, InProcessTransport
from hub.app import create_app, store_of
from hub.store import HubStore
from sync.ops import Op

# Thursday 2026-11-26 07:00 UTC: a working day, so business-hours SLA calendars tick from the start.
START_MS = 1_795_676_400_000
DAY_MS = 24 * 3600 * 1000
# A tablet whose clock says 2099 (73 years ahead, as in tests/device_agent/test_clock.py).
YEAR_2099_MS = 73 * 365 * DAY_MS


class Crash(BaseException):
    """A process dies here (injected). BaseException: no ``except Exception`` may swallow it."""


class HubCrash(Crash):
    """The hub process died in the middle of a transaction."""


class DeviceCrash(Crash):
    """A device's agent process died in the middle of a transaction."""


class SimClock:
    """Simulated time in milliseconds; only the schedule moves it."""

    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


# -- entropy from the seed ---------------------------------------------------------------------
class SeededSecrets:
    """What the hub takes from the ``secrets`` module, drawn from a seeded generator instead."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def randbits(self, k: int) -> int:
        return self.rng.getrandbits(k)

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def token_hex(self, nbytes: int = 32) -> str:
        return self.rng.randbytes(nbytes).hex()

    def token_urlsafe(self, nbytes: int = 32) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(nbytes)).rstrip(b"=").decode()


class SeededIdClock(device_agent.van.IdClock):
    """The agents' record ids (UUIDv7 layout) with their random bits from the seed."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def next(self, now_ms: int, entropy: bytes | None = None) -> str:
        return super().next(now_ms, entropy or self.rng.randbytes(8))


@contextmanager
def seeded_entropy(rng: random.Random) -> Iterator[None]:
    """Within the block, the hub's ids, codes, node ids and tokens and the agents' record ids come
    from ``rng``. (String hashing is seeded by PYTHONHASHSEED, which ``scripts/simulate.py`` pins.)"""
    shim = SeededSecrets(rng)
    saved = (hub.auth.secrets, hub.office_records.secrets, device_agent.van._ids)
    hub.auth.secrets = shim  # type: ignore[assignment]
    hub.office_records.secrets = shim  # type: ignore[assignment]
    device_agent.van._ids = SeededIdClock(rng)
    try:
        yield
    finally:
        hub.auth.secrets, hub.office_records.secrets, device_agent.van._ids = saved  # type: ignore[assignment]


# -- server errors ---------------------------------------------------------------------------------
class _ServerErrors(logging.Handler):
    """Collects what the hub logs for an unhandled exception (it answers 500 for it)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.sink: list[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.sink is not None:
            self.sink.append(self.format(record))


_SERVER_ERRORS = _ServerErrors()
_SERVER_ERRORS.setFormatter(logging.Formatter("%(message)s"))
_hub_logger = logging.getLogger("hub.app")
_hub_logger.addHandler(_SERVER_ERRORS)
_hub_logger.propagate = False  # the traceback is reported with the seed, not printed mid-run


# -- the hub -----------------------------------------------------------------------------------------
class SimHub:
    """The hub app on a SQLite file in ``folder``, with its clock, a crash point and an eye on 5xx."""

    def __init__(self, folder: Path, clock: SimClock) -> None:
        self.folder = folder
        self.clock = clock
        self.database = folder / "hub.db"
        self.server_errors: list[str] = []
        self.crash_after: int | None = None  # crash at this many more ingest transactions
        self.restarts = 0
        self.crashes = 0
        self.acked: dict[str, int] = {}  # per device node, the highest hub_has a push reply said
        self._open()

    def _open(self) -> None:
        self.app = create_app({"database": self.database, "clock": self.clock, "engines_interval_s": 0,
                               "zeroconf": False})
        self.app.after_request(self._watch)
        self.store.replica.observers.append(self._crash_point)
        self.client = self.app.test_client()
        self.transport = InProcessTransport(self.app)
        _SERVER_ERRORS.sink = self.server_errors

    @property
    def store(self) -> HubStore:
        return store_of(self.app)

    def _watch(self, response: Any) -> Any:
        if response.status_code >= 500:
            from flask import request
            self.server_errors.append(f"{response.status_code} {request.method} {request.path}: "
                                      f"{response.get_data(as_text=True)[:300]}")
        return response

    def _crash_point(self, *_: Any) -> None:
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after <= 0:
                self.crash_after = None
                raise HubCrash("the hub dies inside an ingest transaction (injected)")

    def restart(self) -> None:
        """Stop the hub and start it again on the same database and blobs."""
        self.store.close()
        self._open()
        self.restarts += 1

    def crashed(self) -> None:
        """The hub died (its transaction rolled back): start it again."""
        self.crashes += 1
        self.restart()

    def close(self) -> None:
        self.store.close()
        _SERVER_ERRORS.sink = None


class HubLink:
    """A device's in-process wire to whichever hub process is running now. A hub that dies
    mid-request is restarted, and the device sees what a network shows: no answer."""

    def __init__(self, hub: SimHub, device: SimDevice) -> None:
        self.hub = hub
        self.device = device

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            reply = self.hub.transport.call(method, path, **kwargs)
        except HubCrash:
            self.hub.crashed()
            raise HubUnreachable("the hub went down mid-request (injected crash)") from None
        if path == "/api/v1/sync/push" and self.device.node:
            # What the hub acknowledged (committed), whether or not the reply reaches the device.
            node = self.device.node
            self.hub.acked[node] = max(self.hub.acked.get(node, 0), int(reply["hub_has"]))
        return reply

    def close(self) -> None:
        pass


# -- a device ----------------------------------------------------------------------------------------
def no_sleep(_seconds: float) -> None:
    """Backoff between retries takes no simulated time: the schedule decides when time passes."""


class SimDevice:
    """A technician's tablet or a van's terminal: an Agent in its home folder, on a skewed clock,
    behind a faulty link. Keeps the ledger of every op the agent reported as recorded."""

    def __init__(self, name: str, kind: str, subject: str, home: Path, clock: SimClock, skew_ms: int,
                 hub: SimHub, network: Network) -> None:
        self.name = name
        self.kind = kind
        self.subject = subject  # technician id, or van id
        self.home = home
        self.clock = clock
        self.skew_ms = skew_ms
        self.hub = hub
        self.network = network
        self.node = ""
        self.agent: Agent | None = None
        self.ledger: dict[int, Op] = {}  # counter -> op, every op recorded on this device
        self.crash_after: int | None = None  # crash at this many more ingest transactions
        self.restarts = 0
        self.crashes = 0
        self.boots = 1
        self.booted_at = clock.ms
        self.scratch = home.parent / f"{name}-files"
        self.scratch.mkdir(parents=True, exist_ok=True)

    def wall(self) -> int:
        return self.clock.ms + self.skew_ms

    def elapsed(self) -> tuple[str, int]:
        """This boot, and the time since it on the simulated clock, which nobody sets."""
        return f"{self.name}-boot-{self.boots}", self.clock.ms - self.booted_at

    def _link(self) -> HubTransport:
        return self.network.link(HubLink(self.hub, self), self.name)

    def enrol(self, code: str) -> None:
        agent = Agent.enrol(self.home, "inprocess://hub", code, device_name=self.name, transport=self._link(),
                            wall=self.wall, elapsed=self.elapsed, sleep=no_sleep)
        self.node = agent.config.node
        self._adopt(agent)

    def open(self) -> None:
        self._adopt(Agent.open(self.home, transport=self._link(), wall=self.wall, elapsed=self.elapsed,
                               sleep=no_sleep))

    def _adopt(self, agent: Agent) -> None:
        self.agent = agent
        write = agent.write

        def recording(changes: Any) -> list[Op]:
            ops = write(changes)
            for op in ops:
                self.ledger[op.counter] = op
            return ops

        agent.write = recording  # type: ignore[method-assign]
        agent.replica.observers.append(self._crash_point)

    def _crash_point(self, *_: Any) -> None:
        # Armed, the device dies in its next transaction that folds ops in: a pull's, or the one
        # recording a command (which then was never reported recorded).
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after <= 0:
                self.crash_after = None
                raise DeviceCrash(f"{self.name} dies inside a transaction (injected)")

    def sync(self) -> Any:
        """One sync; returns its summary. Network failures and crashes propagate to the caller."""
        assert self.agent is not None
        return self.agent.sync()

    def restart(self) -> None:
        """Close the agent and open it again from its home folder."""
        assert self.agent is not None
        self.agent.close()
        self.restarts += 1
        self.open()

    def reboot(self) -> None:
        """Restart the whole device: a new boot, its elapsed clock counting from zero again."""
        self.boots += 1
        self.booted_at = self.clock.ms
        self.restart()

    def crashed(self) -> None:
        self.crashes += 1
        self.restart()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None

    @property
    def technician_id(self) -> str | None:
        return self.subject if self.kind == "technician" else None

