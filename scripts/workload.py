"""A seeded, realistic field-service op stream for benchmarks (shared by the ``scripts/bench.py`` subcommands).

The story: a hub (the dispatcher) creates jobs and assigns each to one of ~20 technicians; a technician
works through the jobs assigned to them one at a time — writes notes, logs time, uses parts, tags the job
and moves it through the job state machine (scheduled -> en_route -> on_site -> completed). The dispatcher
now and then corrects a title, amends notes, restocks parts.

Every op is built as its real author would build it:

- counters count each node's ops from 1 without gaps;
- HLCs come from a per-node hybrid clock over a wall clock that starts on 2026-11-01 and advances through
  the working day (07:00-18:00 UTC, one op every few seconds across the fleet), each device a little off
  the hub's time; a node that overwrites a write it has seen folds that write's HLC into its clock first,
  so a rewrite always comes after what it overwrites;
- a rewrite of an ``lww`` field names, in ``refs``, the write it overwrites (``refs=(previous_write_id,)``);
- entity ids are UUIDv7 strings (48-bit millisecond time prefix, then random bits): time-ordered.

The stream is in delivery order — the order the hub takes the ops in when devices sync often — so
whatever an op names in ``refs`` comes before it. With every author having seen the write it overwrites,
a replica that ingests the stream should record no conflicts.

Mix (by design, of the ops produced): ~50% ``lww`` SET (job title / notes), ~38% ``append`` APPEND
(time_log records), ~7% ``status`` MOVE, ~4% ``counter`` INCR (stock deltas), ~1% ``set`` ADD (tags).
It targets the small registry in ``tests/sync/model.py`` (entity types ``job`` and ``time_log``).
"""

from __future__ import annotations

import random
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sync.hlc import LOGICAL_MASK, pack  # noqa: E402
from sync.ops import ADD, APPEND, INCR, MOVE, SET, Op, OpId  # noqa: E402

HUB = "hub"
DEVICES = 20
START = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # the first working morning of the window
DAY_MS = 86_400_000
WORKDAY_START_MS = 7 * 3_600_000
WORKDAY_END_MS = 18 * 3_600_000
MEAN_GAP_MS = 5_000  # one op every ~5 s across the fleet: ~400 ops per device per working day
MAX_DEVICE_SKEW_MS = 1_500  # honest tablet clock drift, well inside the hub's 5-minute bound
MAX_WRITES_PER_REGISTER = 3

# Weights of what the next op is (see the module docstring).
MIX = {"lww": 0.50, "append": 0.38, "status": 0.07, "counter": 0.04, "set": 0.01}
# Of the lww writes: the dispatcher creates a job (its title); a technician raises a follow-up job;
# a technician writes or rewrites the notes of their job (or of one of their next jobs, ahead of the
# visit); the dispatcher corrects a title; the dispatcher amends a technician's notes.
LWW_MIX = {"create": 0.30, "follow_up": 0.10, "notes": 0.40, "retitle": 0.15, "amend": 0.05}
JOB_STATES = ("scheduled", "en_route", "on_site", "completed")  # in order, the happy path

_VERBS = ("Service", "Repair", "Inspect", "Replace", "Install", "Commission", "Descale", "Test")
_ASSETS = ("boiler", "heat pump", "chiller", "air handling unit", "fire alarm panel", "water heater",
           "backup generator", "lift motor", "CCTV camera", "access control reader", "sprinkler valve")
_STREETS = ("Mill Lane", "High Street", "Station Road", "Church Street", "Park Avenue", "Victoria Road",
            "Kings Road", "Green Lane", "Manor Way", "Bridge Street")
_NOTES = ("Customer reports intermittent fault since last week.", "Access via rear gate, code at reception.",
          "Replaced worn gasket, system pressure restored to 1.5 bar.", "Unit isolated; awaiting part.",
          "Tested under load for 20 minutes, no fault found.", "Filter heavily clogged, cleaned and refitted.",
          "Recommend full replacement within 6 months.", "Left site tidy, customer walked through the fix.",
          "Asbestos label on ceiling void: did not open it.", "Firmware updated to the latest release.")
_LOG_TEXT = ("Travel to site", "Diagnosis", "Repair work", "Testing and commissioning", "Paperwork",
             "Waiting for customer access", "Safety checks", "Parts collection")
_TAGS = ("urgent", "warranty", "repeat-visit", "needs-parts", "vip", "after-hours", "safety", "quote-needed")


@dataclass
class Job:
    eid: str
    device: str
    state: int = 0  # index into JOB_STATES
    title: OpId | None = None
    title_hlc: int = 0
    title_writes: int = 0
    notes: OpId | None = None
    notes_hlc: int = 0
    notes_writes: int = 0


@dataclass
class Workload:
    ops: list[Op]
    seed: int
    jobs: int
    kinds: Counter[str] = field(default_factory=Counter)  # merge kind -> ops
    rewrites: int = 0  # lww writes that overwrite an earlier write (refs non-empty)
    max_wall_ms: int = 0  # the latest wall time in any HLC

    def mix(self) -> dict[str, float]:
        total = len(self.ops) or 1
        return {kind: round(count / total, 4) for kind, count in sorted(self.kinds.items())}


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.devices = [f"dev-{i:02d}" for i in range(1, DEVICES + 1)]
        self.nodes = [HUB, *self.devices]
        # Devices are not equally busy, and each tablet's clock is a little off the hub's.
        self.activity = [self.rng.uniform(0.5, 1.5) for _ in self.devices]
        self.skew = {HUB: 0, **{d: self.rng.randint(-MAX_DEVICE_SKEW_MS, MAX_DEVICE_SKEW_MS) for d in self.devices}}
        self.counter = dict.fromkeys(self.nodes, 0)
        self.clock = dict.fromkeys(self.nodes, 0)  # last HLC each node issued or observed
        self.now = int(START.timestamp() * 1000)
        self.day_start = self.now - WORKDAY_START_MS
        self.jobs: list[Job] = []
        self.assigned: dict[str, list[Job]] = {d: [] for d in self.devices}  # in the order they will be worked
        self.next_ix = dict.fromkeys(self.devices, 0)  # the next assigned job to start
        self.notes_ix = dict.fromkeys(self.devices, 0)  # the first assigned job whose notes may take a write
        self.current: dict[str, Job | None] = dict.fromkeys(self.devices)
        self.recent: dict[str, deque[Job]] = {d: deque(maxlen=8) for d in self.devices}  # jobs worked on lately
        self.noted: deque[Job] = deque(maxlen=500)  # jobs whose notes were written lately, fleet-wide
        self.ops: list[Op] = []
        self.kinds: Counter[str] = Counter()
        self.rewrites = 0
        self.max_wall = 0

    # -- clocks and ids -------------------------------------------------------------------------
    def advance(self) -> None:
        self.now += max(1, int(self.rng.expovariate(1 / MEAN_GAP_MS)))
        if self.now - self.day_start >= WORKDAY_END_MS:  # end of the working day: on to the next morning
            self.day_start += DAY_MS
            self.now = self.day_start + WORKDAY_START_MS + self.rng.randint(0, 600_000)

    def stamp(self, node: str, seen: int = 0) -> int:
        """The node's next HLC (a hybrid clock over its own, slightly skewed, wall time), after
        observing ``seen`` — the HLC of the write it builds on."""
        wall = self.now + self.skew[node]
        last = max(self.clock[node], seen)
        last_wall, last_logical = last >> 16, last & LOGICAL_MASK
        hlc = pack(wall, 0) if wall > last_wall else pack(last_wall, last_logical + 1)
        self.clock[node] = hlc
        self.max_wall = max(self.max_wall, hlc >> 16)
        return hlc

    def uuid7(self) -> str:
        """A UUIDv7: 48 bits of Unix milliseconds, version 7, 12 random bits, variant 10, 62 random bits."""
        bits = (self.now << 80) | (0x7 << 76) | (self.rng.getrandbits(12) << 64) | (0b10 << 62)
        bits |= self.rng.getrandbits(62)
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def emit(self, node: str, kind: str, entity: str, eid: str, action: str, fld: str = "", value: object = None,
             refs: tuple[OpId, ...] = (), seen: int = 0) -> Op:
        self.counter[node] += 1
        op = Op(node, self.counter[node], self.stamp(node, seen), entity, eid, action, fld, value, refs)
        self.ops.append(op)
        self.kinds[kind] += 1
        return op

    # -- choices --------------------------------------------------------------------------------
    def pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(tuple(weights), tuple(weights.values()))[0]

    def device(self) -> str:
        return self.rng.choices(self.devices, self.activity)[0]

    def title(self) -> str:
        rng = self.rng
        return f"{rng.choice(_VERBS)} {rng.choice(_ASSETS)} at {rng.randint(1, 250)} {rng.choice(_STREETS)}"

    def notes(self) -> str:
        return " ".join(self.rng.sample(_NOTES, self.rng.randint(1, 3)))

    def job_of(self, device: str) -> Job:
        """The job the technician is on: the current one, else the next assigned (created if none is)."""
        job = self.current[device]
        if job is None:
            if self.next_ix[device] == len(self.assigned[device]):
                self.create_job(HUB, device)
            job = self.assigned[device][self.next_ix[device]]
            self.next_ix[device] += 1
            self.current[device] = job
            self.recent[device].append(job)
        return job

    def recent_job(self, device: str) -> Job:
        """A job the technician worked on lately: mostly the current one."""
        if self.recent[device] and self.rng.random() < 0.3:
            return self.rng.choice(self.recent[device])
        return self.job_of(device)

    def notes_job(self, device: str) -> Job:
        """Where the technician writes notes: their job, else the next of theirs whose notes are not final."""
        job = self.job_of(device)
        if job.notes_writes < MAX_WRITES_PER_REGISTER:
            return job
        jobs = self.assigned[device]
        ix = max(self.notes_ix[device], self.next_ix[device])
        while ix < len(jobs) and jobs[ix].notes_writes >= MAX_WRITES_PER_REGISTER:
            ix += 1
        if ix == len(jobs):
            self.create_job(HUB, device)
        self.notes_ix[device] = ix
        return jobs[ix]

    def dispatched_job(self) -> Job | None:
        """A recently created job whose title may still be corrected."""
        for _ in range(4):
            if not self.jobs:
                return None
            job = self.jobs[-1 - min(len(self.jobs) - 1, int(self.rng.expovariate(1 / 200)))]
            if job.title_writes < MAX_WRITES_PER_REGISTER:
                return job
        return None

    def amendable(self) -> Job | None:
        """A job whose notes a technician wrote lately and that may take one more write."""
        job = self.rng.choice(self.noted) if self.noted else None
        return job if job and job.notes_writes < MAX_WRITES_PER_REGISTER else None

    # -- the ops --------------------------------------------------------------------------------
    def create_job(self, node: str, device: str | None = None) -> Job:
        job = Job(self.uuid7(), device or self.device())
        op = self.emit(node, "lww", "job", job.eid, SET, "title", self.title())
        job.title, job.title_hlc, job.title_writes = op.id, op.hlc, 1
        self.jobs.append(job)
        self.assigned[job.device].append(job)
        return job

    def write_notes(self, node: str, job: Job) -> None:
        refs, seen = ((job.notes,), job.notes_hlc) if job.notes else ((), 0)
        op = self.emit(node, "lww", "job", job.eid, SET, "notes", self.notes(), refs, seen)
        self.rewrites += bool(refs)
        job.notes, job.notes_hlc, job.notes_writes = op.id, op.hlc, job.notes_writes + 1
        self.noted.append(job)

    def lww(self) -> None:
        what = self.pick(LWW_MIX)
        if what == "retitle" and (job := self.dispatched_job()):
            op = self.emit(HUB, "lww", "job", job.eid, SET, "title", self.title(), (job.title,), job.title_hlc)
            self.rewrites += 1
            job.title, job.title_hlc, job.title_writes = op.id, op.hlc, job.title_writes + 1
        elif what == "amend" and (job := self.amendable()):
            self.write_notes(HUB, job)
        elif what == "notes":
            device = self.device()
            self.write_notes(device, self.notes_job(device))
        elif what == "follow_up":
            device = self.device()
            self.create_job(device, self.rng.choice((device, device, device, self.device())))
        else:
            self.create_job(HUB)

    def append(self) -> None:
        device = self.device()
        job = self.recent_job(device)
        record = {
            "job": job.eid,
            "minutes": self.rng.choice((10, 15, 20, 30, 30, 45, 60, 60, 90, 120, 180)),
            "billable": self.rng.random() < 0.8,
            "description": self.rng.choice(_LOG_TEXT),
        }
        self.emit(device, "append", "time_log", self.uuid7(), APPEND, "", record)

    def status(self) -> None:
        device = self.device()
        job = self.job_of(device)
        job.state += 1
        self.emit(device, "status", "job", job.eid, MOVE, "status", JOB_STATES[job.state])
        if job.state == len(JOB_STATES) - 1:
            self.current[device] = None  # completed: on to the next job

    def counter_(self) -> None:
        if self.rng.random() < 0.15:  # the dispatcher issues parts to a job
            job = self.dispatched_job() or self.create_job(HUB)
            self.emit(HUB, "counter", "job", job.eid, INCR, "stock", self.rng.randint(2, 20))
        else:  # the technician uses parts (and now and then returns one)
            device = self.device()
            delta = self.rng.choice((-1, -1, -1, -2, -2, -3, -4, 1))
            self.emit(device, "counter", "job", self.recent_job(device).eid, INCR, "stock", delta)

    def set_(self) -> None:
        if self.rng.random() < 0.3:
            node, job = HUB, self.dispatched_job() or self.create_job(HUB)
        else:
            node = self.device()
            job = self.recent_job(node)
        self.emit(node, "set", "job", job.eid, ADD, "tags", self.rng.choice(_TAGS))

    def run(self, n_ops: int) -> Workload:
        steps = {"lww": self.lww, "append": self.append, "status": self.status, "counter": self.counter_,
                 "set": self.set_}
        kinds, weights = tuple(MIX), tuple(MIX.values())
        while len(self.ops) < n_ops:
            self.advance()
            steps[self.rng.choices(kinds, weights)[0]]()
        # A step may emit two ops (a job created on demand, then the op on it); dropping the tail keeps
        # every node's counters gapless, and nothing kept refers to anything dropped (refs point back).
        for op in self.ops[n_ops:]:
            self.kinds[_KIND_OF_ACTION[op.action]] -= 1
        del self.ops[n_ops:]
        return Workload(self.ops, 0, len(self.jobs), +self.kinds, self.rewrites, self.max_wall)


_KIND_OF_ACTION = {SET: "lww", APPEND: "append", MOVE: "status", INCR: "counter", ADD: "set"}


def generate(n_ops: int, seed: int) -> Workload:
    """``n_ops`` ops in delivery order, the same for the same ``(n_ops, seed)``."""
    if n_ops < 1:
        raise ValueError("n_ops must be at least 1")
    workload = _Generator(seed).run(n_ops)
    workload.seed = seed
    return workload
