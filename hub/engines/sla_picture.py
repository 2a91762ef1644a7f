"""One SLA clock computed from its facts: pure arithmetic over a calendar, no store, no wall clock.

Elapsed time is working time in the policy's calendar (business minutes), less the working time the
ticket spent on hold. Thresholds, each reached by elapsed working time:

- near breach at ``near_breach_share`` of the target (state ``near_breach``);
- due at the target: stopped by then is ``met``, still running after it is ``breached``, stopped
  after it is ``missed``;
- overdue at ``overdue_multiple`` of the target (state ``overdue``).

The picture written to the ticket is computed *as of* the last event that changed it — the start,
a pause or a resume, a threshold crossed, the stop — never as of the moment the engine happened to
run. It changes only when something happens, so running the engine every minute writes nothing in
between, and the same ops give the same picture whenever they arrive. The office API shows the live
figures (elapsed as of now) beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..device_time import iso
from .sla_calendar import Calendar

RUNNING_STATES = ("running", "near_breach", "breached", "overdue")
STOPPED_STATES = ("met", "missed", "cancelled")
STATES = RUNNING_STATES + STOPPED_STATES
Interval = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class ClockResult:
    clock: str
    target_min: int
    state: str
    start: datetime
    as_of: datetime
    elapsed_ms: int  # at as_of
    paused_ms: int  # at as_of
    live_elapsed_ms: int  # at now (at the stop for a stopped clock)
    live_paused_ms: int
    due_at: datetime | None
    near_at: datetime | None
    overdue_at: datetime | None
    near_ms: int = 0  # working ms elapsed at the near-breach point
    over_ms: int = 0  # ... and at the overdue point
    stopped_at: datetime | None = None
    stopped_by: str | None = None
    paused: bool = False

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    def level_at(self, level: str) -> tuple[datetime | None, int]:
        """When an escalation level was (or will be) reached, and the working ms elapsed then."""
        return {"near_breach": (self.near_at, self.near_ms), "breached": (self.due_at, self.target_min * 60_000),
                "overdue": (self.overdue_at, self.over_ms)}[level]

    @property
    def overdue_reached(self) -> bool:
        """Went past the overdue point, running or not (a cancelled clock never counts)."""
        return self.state == "overdue" or (self.state == "missed" and self.overdue_at is not None
                                           and self.stopped_at is not None and self.stopped_at >= self.overdue_at)

    def picture(self) -> dict[str, Any]:
        """What the ticket holds: stable between events."""
        return _describe(self, self.elapsed_ms, self.paused_ms, self.as_of)

    def live(self, now: datetime) -> dict[str, Any]:
        """The picture with elapsed and paused time as of ``now`` (as of the stop once stopped)."""
        return _describe(self, self.live_elapsed_ms, self.live_paused_ms, self.as_of if not self.running else now)


def _minutes(ms: int) -> float:
    return round(ms / 60_000, 2)


def _describe(result: ClockResult, elapsed_ms: int, paused_ms: int, as_of: datetime) -> dict[str, Any]:
    return {
        "target_min": result.target_min, "state": result.state,
        "due_at": iso(result.due_at) if result.due_at else None,
        "elapsed_min": _minutes(elapsed_ms), "paused_min": _minutes(paused_ms),
        "stopped_at": iso(result.stopped_at) if result.stopped_at else None, "stopped_by": result.stopped_by,
        "paused": result.paused, "as_of": iso(as_of),
    }


def _clip(pauses: Sequence[Interval], start: datetime, horizon: datetime, stopped: bool) -> list[Interval]:
    """Pauses inside [start, horizon), merged; a pause still open at a stop ends there."""
    clipped: list[Interval] = []
    for begin, end in sorted(pauses, key=lambda p: p[0]):
        begin = max(begin, start)
        if begin >= horizon or (end is not None and end <= begin):
            continue
        if stopped and (end is None or end > horizon):
            end = horizon
        if clipped and (clipped[-1][1] is None or clipped[-1][1] >= begin):
            last_end = clipped[-1][1]
            merged_end = None if last_end is None or end is None else max(last_end, end)
            clipped[-1] = (clipped[-1][0], merged_end)
        else:
            clipped.append((begin, end))
    return clipped


class _Timeline:
    """The active (not on hold) stretches of one clock from its start on."""

    def __init__(self, calendar: Calendar, start: datetime, pauses: list[Interval]) -> None:
        self.calendar = calendar
        self.pauses = pauses
        self.segments: list[Interval] = []
        cursor: datetime | None = start
        for begin, end in pauses:
            assert cursor is not None
            self.segments.append((cursor, begin))
            cursor = end
        if cursor is not None:
            self.segments.append((cursor, None))  # open-ended: running on from the last resume

    def _within(self, intervals: list[Interval], until: datetime) -> int:
        total = 0
        for begin, end in intervals:
            if begin >= until:
                break
            total += self.calendar.working_ms(begin, until if end is None else min(end, until))
        return total

    def active_ms(self, until: datetime) -> int:
        return self._within(self.segments, until)

    def paused_ms(self, until: datetime) -> int:
        return self._within(self.pauses, until)

    def reach(self, ms: int) -> datetime | None:
        """When ``ms`` of active working time will have passed; None while on hold before then."""
        remaining = ms
        for begin, end in self.segments:
            if end is None:
                return self.calendar.add_working(begin, remaining)
            span = self.calendar.working_ms(begin, end)
            if remaining <= span:
                return self.calendar.add_working(begin, remaining)
            remaining -= span
        return None


def compute(clock: str, calendar: Calendar, target_min: int, share: float, multiple: float, start: datetime,
            stop: tuple[datetime, str] | None, pauses: Sequence[Interval], cancelled_at: datetime | None,
            now: datetime) -> ClockResult:
    """The state of one clock at ``now`` (see the module docstring for the rules)."""
    cancelled = stop is None and cancelled_at is not None
    if cancelled:
        stop = (cancelled_at, "ticket cancelled")  # type: ignore[assignment]
    stopped_at = max(stop[0], start) if stop is not None else None
    horizon = stopped_at if stopped_at is not None else max(now, start)
    line = _Timeline(calendar, start, _clip(pauses, start, horizon, stopped_at is not None))
    target_ms = target_min * 60_000
    near_ms, over_ms = round(share * target_ms), round(multiple * target_ms)
    due_at, near_at, overdue_at = line.reach(target_ms), line.reach(near_ms), line.reach(over_ms)
    common = {"clock": clock, "target_min": target_min, "start": start, "due_at": due_at, "near_at": near_at,
              "overdue_at": overdue_at, "near_ms": near_ms, "over_ms": over_ms}
    if stopped_at is not None:
        elapsed, paused = line.active_ms(stopped_at), line.paused_ms(stopped_at)
        state = "cancelled" if cancelled else "met" if elapsed <= target_ms else "missed"
        return ClockResult(state=state, as_of=stopped_at, elapsed_ms=elapsed, paused_ms=paused,
                           live_elapsed_ms=elapsed, live_paused_ms=paused, stopped_at=stopped_at,
                           stopped_by=stop[1] if stop else None, **common)
    elapsed_now = line.active_ms(horizon)
    reached = [("overdue", over_ms, overdue_at), ("breached", target_ms + 1, due_at), ("near_breach", near_ms, near_at)]
    state, crossed = next(((name, at) for name, ms, at in reached if elapsed_now >= ms), ("running", None))
    # The picture's instant: the latest event so far, so it moves only when something happens.
    events = [start, *(at for pause in line.pauses for at in pause if at is not None and at <= horizon)]
    if crossed is not None:
        events.append(crossed)
    as_of = max(events)
    return ClockResult(state=state, as_of=as_of, elapsed_ms=line.active_ms(as_of), paused_ms=line.paused_ms(as_of),
                       live_elapsed_ms=elapsed_now, live_paused_ms=line.paused_ms(horizon),
                       paused=bool(line.pauses) and line.pauses[-1][1] is None, **common)
