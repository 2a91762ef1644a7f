"""One seed, start to finish: set the world up, run the schedule under faults, heal, check.

Everything random is drawn from ``random.Random(seed)`` in one fixed order, and time is the
simulated clock, so :func:`run_seed` with the same seed and settings does exactly the same thing
again (``Outcome.trace_digest`` proves it). The schedule, per step: time passes (0-15 minutes);
then a device works offline, a device syncs, the office acts, the engines run, or a fault happens
— a device is cut off or comes back, a device restarts (between batches, or dying inside a pull
transaction), the hub restarts (between batches, or dying inside its next few ingest
transactions). Every request between a device and the hub goes through a FaultyTransport whose
rates this seed chose: lost, duplicated, delayed past later requests, cut short, reply lost.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_agent.faults import FaultRates, Network
from device_agent.transport import HubRefused, HubUnreachable
from hub import auth
from sync.hlc import wall_ms

from . import checks
from .fieldwork import Fieldwork
from .office import Office
from .world import DAY_MS, START_MS, YEAR_2099_MS, DeviceCrash, SimClock, SimDevice, SimHub, seeded_entropy

HEAL_ROUNDS = 12

# Weaknesses the simulation found that are reported but not fixed yet, each with the fault it
# needs; with ``Settings.spare_known_bugs`` the network never injects that fault. None today.
KNOWN_BUGS: dict[str, str] = {}


@dataclass(frozen=True)
class Settings:
    devices: int = 4  # technician tablets, plus one van terminal when there are two devices or more
    steps: int = 40
    max_fault_rate: float = 0.15
    # Step around the weaknesses listed in KNOWN_BUGS (reported, not yet fixed) to find others.
    spare_known_bugs: bool = True


DEFAULTS = Settings()


@dataclass
class Outcome:
    seed: int
    failures: list[str]
    faults: Counter[str]
    stats: dict[str, Any]
    trace: list[str]
    seconds: float
    # Known bugs met and tolerated by the checks (KNOWN_BUGS): none today, the schedule steps around each.
    known: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def trace_digest(self) -> str:
        return hashlib.sha256("\n".join(self.trace).encode()).hexdigest()[:16]


@dataclass
class World:
    seed: int
    settings: Settings
    folder: Path
    rng: random.Random = field(init=False)
    trace: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # known bugs met (see Outcome.known)
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock = SimClock()
        self.hub = SimHub(self.folder / "hub", self.clock)
        self.network = Network(random.Random(self.rng.getrandbits(64)), log=self.log_fault)
        self.office = Office(self.hub, self.rng)
        self.devices: list[SimDevice] = []

    def log_fault(self, device: str, fault: str, where: str) -> None:
        self.log(f"{device}: network {fault}: {where}")

    def log(self, text: str) -> None:
        """One line of the trace: milliseconds of simulated time since the morning, and what happened."""
        self.trace.append(f"{self.clock.ms - START_MS:>9} {text}")

    # -- the morning ------------------------------------------------------------------------------------
    def set_up(self) -> None:
        tablets = max(1, self.settings.devices - 1) if self.settings.devices > 1 else 1
        terminals = self.settings.devices - tablets
        business = self.office.set_up(tablets, vans=1 if tablets <= 2 else 2)
        self.fieldwork = Fieldwork(self.rng, business.warehouse)
        skewed_2099 = self.rng.random() < 0.3
        for index in range(tablets + terminals):
            tablet = index < tablets
            if tablet and index == 0 and skewed_2099:
                skew = YEAR_2099_MS
            elif self.rng.random() < 0.5:
                skew = self.rng.randint(-DAY_MS, DAY_MS)
            else:
                skew = self.rng.randint(-120_000, 120_000)
            kind, subject = ("technician", business.technicians[index]) if tablet else ("van", business.vans[0])
            name = f"tablet-{index + 1}" if tablet else "van-terminal"
            device = SimDevice(name, kind, subject, self.folder / name, self.clock, skew, self.hub, self.network)
            device.enrol(auth.create_enrolment_code(self.hub.store, kind, subject, name))
            self.devices.append(device)
            self.log(f"{name}: enrolled as {device.node} ({kind} {subject}), clock skew {skew} ms")
        for device in self.devices:
            self.sync(device)
        self.network.rates = FaultRates.random(self.rng, self.settings.max_fault_rate)
        self.log(f"network: {self.network.rates}")

    # -- the day ------------------------------------------------------------------------------------------
    def step(self) -> None:
        self.clock.advance(self.rng.randint(0, 15) * 60_000)
        roll = self.rng.random()
        device = self.rng.choice(self.devices)
        if roll < 0.38:
            for _ in range(self.rng.randint(1, 4)):
                try:
                    self.log(f"{device.name}: {self.fieldwork.act(device)}")
                except DeviceCrash:
                    device.crashed()
                    self.log(f"{device.name}: died recording a command and restarted")
                    self.check_durable(device)
                    break
        elif roll < 0.58:
            self.sync(device)
        elif roll < 0.76:
            self.log(f"office: {self.office.act()}")
        elif roll < 0.83:
            self.office.run_engines()
            self.log("office: engines run")
        else:
            self.fault(device)

    def fault(self, device: SimDevice) -> None:
        kind = self.rng.choice(("partition", "partition", "device_restart", "device_crash", "hub_restart",
                                "hub_crash", "hub_crash", "clock_jump"))
        if kind == "partition":
            self.faults[kind] += 1
            if device.name in self.network.offline:
                self.network.offline.discard(device.name)
                self.log(f"{device.name}: back online")
            else:
                self.network.offline.add(device.name)
                self.log(f"{device.name}: offline")
        elif kind == "device_restart":
            # The agent's process, or — half the time — the whole device: a new boot, whose
            # elapsed clock knows nothing of the last sync.
            reboot = self.rng.random() < 0.5
            self.faults["device_reboot" if reboot else kind] += 1
            (device.reboot if reboot else device.restart)()
            self.log(f"{device.name}: {'rebooted' if reboot else 'restarted'}")
            self.check_durable(device)
        elif kind == "device_crash":
            # Armed now, counted when it happens: inside a pull of this sync, or of a later one, or
            # inside the transaction recording a later command.
            device.crash_after = self.rng.randint(1, 3)
            self.log(f"{device.name}: will die inside ingest transaction {device.crash_after}")
            self.sync(device)
        elif kind == "hub_restart":
            self.faults[kind] += 1
            self.hub.restart()
            self.log("hub: restarted")
        elif kind == "hub_crash":
            self.hub.crash_after = self.rng.randint(1, 4)
            self.log(f"hub: will die inside ingest transaction {self.hub.crash_after}")
        else:
            # Someone sets the device's clock, back or forward by up to a day.
            self.faults[kind] += 1
            jump = self.rng.randint(-DAY_MS, DAY_MS)
            device.skew_ms += jump
            self.log(f"{device.name}: clock set {jump:+} ms (skew now {device.skew_ms} ms)")

    def sync(self, device: SimDevice, healing: bool = False) -> Any:
        try:
            summary = device.sync()
        except HubUnreachable as exc:
            self.log(f"{device.name}: sync failed: {exc}")
            if healing:
                self.failures.append(f"{device.name}: sync failed on a healed network: {exc}")
            return None
        except HubRefused as exc:
            self.log(f"{device.name}: sync refused: {exc}")
            self.failures.append(f"{device.name}: the hub refused an honest agent's sync: {exc}")
            return None
        except DeviceCrash:
            device.crashed()
            self.log(f"{device.name}: died inside a pull transaction and restarted")
            self.check_durable(device)
            return None
        self.log(f"{device.name}: synced: pushed {summary.pushed} accepted {summary.accepted} pulled "
                 f"{summary.pulled} blobs {summary.blobs_uploaded} retries {summary.retries}"
                 + (f" REJECTED {summary.rejected}" if summary.rejected else "")
                 + (f" blob errors {len(summary.blob_errors)}" if summary.blob_errors else ""))
        return summary

    def check_durable(self, device: SimDevice) -> None:
        held = device.agent.replica.max_counters().get(device.node, 0)
        if held < max(device.ledger, default=0):
            self.failures.append(f"{device.name}: after a restart it holds {held} of its ops, "
                                 f"but recorded {max(device.ledger)}")

    # -- the evening ----------------------------------------------------------------------------------------
    def heal(self) -> None:
        """Faults off; requests still in flight arrive; everyone syncs and the engines run until
        nothing moves any more."""
        self.network.heal()
        self.hub.crash_after = None
        for device in self.devices:
            device.crash_after = None
        late = self.network.deliver_held(everything=True)
        self.log(f"network healed; {late} late requests delivered")
        self.catch_up_clock()
        for round_ in range(HEAL_ROUNDS):
            moved = 0
            for device in self.devices:
                summary = self.sync(device, healing=True)
                if summary is not None:
                    moved += summary.pushed + summary.pulled + summary.blobs_uploaded
            status, reply = self.office.call("POST", "/api/v1/engines/run", {})
            written = sum(reply["data"]["written"].values()) if status == 200 else -1
            self.log(f"healing round {round_}: {moved} ops/blobs moved, engines wrote {written}")
            if moved == 0 and written == 0:
                return
        self.failures.append(f"still not quiet after {HEAL_ROUNDS} rounds of syncs and engine runs")

    def catch_up_clock(self) -> None:
        """Time passes until the hub's clock reaches every timestamp a device issued, if one lies
        beyond the hub's bound. A tablet whose clock was set forward and that rebooted before a
        sync could tell it so stamps its work ahead of the hub's time (device_agent/clock.py), and
        the hub holds that work in quarantine until its own clock has caught up (hub/quarantine.py):
        in the field the evening brings that time, here the clock is moved on."""
        latest = max(wall_ms(device.agent.replica.clock()) for device in self.devices)
        if latest - self.clock.ms > self.hub.store.config.max_ahead_ms:
            self.log(f"time passes {latest - self.clock.ms} ms, until the hub's clock reaches the devices' stamps")
            self.clock.advance(latest - self.clock.ms)

    def check(self) -> None:
        # The final states join the trace, so equal digests mean an exact replay, not a similar one.
        states = [("hub", self.hub.store.replica), *((d.name, d.agent.replica) for d in self.devices)]
        self.log("final state: " + ", ".join(f"{name} {hashlib.sha256(replica.canonical()).hexdigest()[:12]}"
                                              for name, replica in states))
        self.failures.extend(self.fieldwork.errors)
        self.failures.extend(checks.run_all(self.hub, self.devices, self.office.business.created))

    def close(self) -> None:
        for device in self.devices:
            device.close()
        self.hub.close()

    def injected(self) -> Counter[str]:
        """Every fault that happened, by kind (requests held back count once, when held)."""
        faults = self.faults + self.network.injected
        del faults["delivered_late"]
        faults["hub_crash"] = self.hub.crashes
        faults["device_crash"] = sum(device.crashes for device in self.devices)
        return +faults

    def stats(self) -> dict[str, Any]:
        return {"ops": sum(len(d.ledger) for d in self.devices), "office_refused": self.office.refused,
                "office_lost_to_crash": self.office.lost_to_crash, "commands": self.fieldwork.recorded,
                "commands_refused": self.fieldwork.refused, "jobs": len(self.office.business.jobs),
                "delivered_late": self.network.injected["delivered_late"]}


def replay_commands(seed: int, settings: Settings) -> dict[str, str]:
    """The commands that run ``seed`` again, exactly: this script, and the pytest test that
    replays the seed the environment names."""
    options, env = "", f"FIELDSYNC_SIM_SEED={seed}"
    if settings.devices != Settings.devices:
        options += f" --devices {settings.devices}"
        env += f" FIELDSYNC_SIM_DEVICES={settings.devices}"
    if settings.steps != Settings.steps:
        options += f" --steps {settings.steps}"
        env += f" FIELDSYNC_SIM_STEPS={settings.steps}"
    if not settings.spare_known_bugs:
        options += " --no-spare"
        env += " FIELDSYNC_SIM_NO_SPARE=1"
    return {"script": f"python scripts/simulate.py --seed {seed}{options} --trace",
            "pytest": f"{env} python -m pytest tests/simulation -k replays_exactly"}


def scratch_folder() -> str | None:
    """Where worlds live: memory-backed /dev/shm when there is one. The simulation tests the
    protocol and the stores' transactions, not the disk (the crash tests do), and fsync on a
    virtual disk would be most of its time."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def run_seed(seed: int, settings: Settings = DEFAULTS, folder: Path | None = None) -> Outcome:
    """Run one seed in ``folder`` (by default a fresh temporary folder, removed afterwards)."""
    started = time.perf_counter()
    if folder is None:
        with tempfile.TemporaryDirectory(prefix=f"fieldsync-sim-{seed}-", dir=scratch_folder()) as temporary:
            return run_seed(seed, settings, Path(temporary))
    entropy = random.Random(f"entropy-{seed}")
    world = None
    with seeded_entropy(entropy):
        try:
            world = World(seed, settings, folder)
            world.set_up()
            for _ in range(settings.steps):
                world.step()
            world.heal()
            world.check()
        except Exception:
            failure = "the simulation itself failed:\n" + traceback.format_exc()
            if world is None:
                return Outcome(seed, [failure], Counter(), {}, [], time.perf_counter() - started)
            world.failures.append(failure)
        finally:
            if world is not None:
                world.close()
    return Outcome(seed, world.failures, world.injected(), world.stats(), world.trace, time.perf_counter() - started,
                   world.known)
