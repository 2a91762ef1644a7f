"""The hub's time as a device best knows it, from a wall clock anyone can set and an elapsed
clock nobody can.

The agent stamps its ops with the hub's time: its wall clock corrected by the offset the hub
measured at the last sync. That is only as good as the wall clock, and a technician (or a dead
battery, or a bad time zone fix) can move it by hours while the tablet is offline; ops stamped an
hour ahead are quarantined by the hub, and the agent's hybrid clock would carry the hour into
everything it records after. Time elapsed since boot cannot be set, so within one boot the hub's
time is also *the time measured at the last sync plus what has elapsed since*. When the two
estimates part by more than :func:`tolerance_ms`, the wall clock moved: the elapsed count wins.

Across a reboot the elapsed clock starts again and the wall clock is all there is. Still, the
hub's time cannot be earlier than the last sync plus the time elapsed in this boot, and a tablet
is seldom switched off for longer than :data:`MAX_UNSEEN_MS`: a wall clock outside those bounds (a
dead battery's 1970, a mistyped 2099) is not believed, and the earliest possible time is used —
an op stamped early can lose a last-writer-wins race it should have won, one stamped late is
quarantined by the hub. The first estimate of a boot anchors the elapsed count for the rest of it.
What is left is a forward jump within that bound, made before a reboot and followed by no sync:
nothing on the device can tell it from time that passed.

Pure functions over readings: the agent stores the anchors and reads the clocks.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# Far more than NTP steps, leap smearing or a sync's round trip, far less than the hub's
# five-minute bound on how far ahead an op may be.
TOLERANCE_MS = 60_000
# An elapsed clock is a crystal left to itself while offline: allow it 100 ppm of drift.
DRIFT_PER_MS = 1 / 10_000
# Switched off over a long weekend.
MAX_UNSEEN_MS = 4 * 24 * 3600 * 1000

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

# One reading of the elapsed clock: (boot id, milliseconds since that boot), or None where the
# device has none that can be trusted across processes.
ElapsedReading = tuple[str, int] | None
Elapsed = Callable[[], ElapsedReading]


def wall_clock_ms() -> int:
    """What the device's wall clock says: milliseconds since the epoch, as set by whoever set it."""
    return int(time.time() * 1000)


@functools.cache
def _boot_id() -> str | None:
    # Fixed for the life of a process: a process does not outlive its boot.
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def system_elapsed() -> ElapsedReading:
    """This boot's id and the milliseconds since it, suspend included (a tablet sleeps most of
    the day; a clock that stops while it sleeps would look like a wall clock set ahead). None
    off Linux: without a boot id no reading can be compared with one of another process."""
    boot = _boot_id()
    if boot is None or not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    # Monotonic time plus the time spent suspended is the boot-time clock; read this way the
    # monotonic part is the one freezegun moves, so tests that travel in time keep both clocks
    # in step.
    suspended = time.clock_gettime(time.CLOCK_BOOTTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
    return boot, int((time.monotonic() + suspended) * 1000)


def no_elapsed() -> ElapsedReading:
    """A device without an elapsed clock: the wall clock and the offset alone set its time."""
    return None


@dataclass(frozen=True)
class Anchor:
    """The hub's time when the elapsed clock read ``elapsed_ms`` in boot ``boot``: measured at a
    sync, or the device's own estimate at the first use in a boot that has seen no sync."""

    hub_ms: int
    boot: str
    elapsed_ms: int

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str | None) -> Anchor | None:
        return cls(**json.loads(text)) if text else None


@dataclass(frozen=True)
class Estimate:
    """The hub's time now as this device best knows it, and how far its wall clock (corrected by
    the last offset) is from that: 0 when the wall clock is believed."""

    now_ms: int
    jump_ms: int = 0
    # A new anchor for this boot, for the caller to keep (first use in a boot without a sync).
    anchor: Anchor | None = None

    @property
    def note(self) -> str | None:
        """For the technician: what happened to the device's clock, when anything did."""
        if not self.jump_ms:
            return None
        return f"device clock changed by {signed_duration(self.jump_ms)} since the last sync; times corrected"


def tolerance_ms(elapsed_ms: int) -> int:
    """How far the wall and elapsed estimates may part after ``elapsed_ms`` before the wall
    clock is taken to have moved."""
    return TOLERANCE_MS + int(elapsed_ms * DRIFT_PER_MS)


def at_sync(hub_now_ms: int, before: ElapsedReading, after: ElapsedReading) -> Anchor | None:
    """The anchor a sync measures: the hub read its clock about halfway through the round trip
    that began at ``before`` and ended at ``after`` (timed on the elapsed clock, which no one
    moves in between)."""
    if before is None or after is None or before[0] != after[0]:
        return None
    return Anchor(hub_now_ms + (after[1] - before[1]) // 2, after[0], after[1])


def estimate(wall_ms: int, offset_ms: int, reading: ElapsedReading, synced: Anchor | None,
             booted: Anchor | None) -> Estimate:
    """The hub's time now, from the wall clock (``wall_ms`` + ``offset_ms``), the elapsed clock
    ``reading``, the anchor of the last sync and the anchor of this boot if it took one."""
    by_wall = wall_ms + offset_ms
    if reading is None:
        return Estimate(by_wall)
    for anchor in (synced, booted):
        if anchor is not None and anchor.boot == reading[0]:
            elapsed = reading[1] - anchor.elapsed_ms
            if elapsed < 0:
                return Estimate(by_wall)  # only a broken (or simulated) elapsed clock runs backwards
            counted = anchor.hub_ms + elapsed
            if abs(by_wall - counted) > tolerance_ms(elapsed):
                return Estimate(counted, by_wall - counted)
            return Estimate(by_wall)
    # The first use in a boot that has seen no sync. This boot began after the last sync, so
    # the hub's time is at least that sync's plus what elapsed in this boot.
    now = by_wall
    if synced is not None:
        earliest = synced.hub_ms + reading[1]
        if not earliest <= by_wall <= earliest + MAX_UNSEEN_MS:
            now = earliest
    return Estimate(now, by_wall - now, Anchor(now, reading[0], reading[1]))


def signed_duration(ms: int) -> str:
    """``+1h 2m``, ``-3d 4h``, ``+73y 18d``, ``+45s``: a clock change as a person reads it."""
    # To the nearest second: a jump is measured between two clock readings a few ms apart, and
    # an hour measured as 59m 59.998s is an hour.
    sign, rest = ("-" if ms < 0 else "+"), round(abs(ms) / 1000)
    years, rest = divmod(rest, 365 * 86_400)
    days, rest = divmod(rest, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    units = ((years, "y"), (days, "d"), (hours, "h"), (minutes, "m"))
    parts = [f"{value}{unit}" for value, unit in units if value]
    return sign + (" ".join(parts[:2]) if parts else f"{seconds}s")
