"""Business times as the devices recorded them, corrected by each device's measured clock offset.

A check-in carries ``device_time``: what the tablet's clock said when the technician tapped it.
The tablet's clock may be wrong; the hub measures by how much (``hub time - device time``) at
every sync and logs it per push in ``sync_log``. The offset that corrects a record is the one
measured at the push that delivered it — the first push of that device at or after the moment the
record was authored (its op's HLC, which the device stamps in hub time) — or, without one, the
nearest measurement before, then the device's last known offset. The hub's own records need no
correction.

So a check-in tapped offline at 10:05 and synced at 16:00 counts at 10:05, and a tablet whose
clock runs three hours fast still checks in at the right time.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.hlc import to_datetime

from .store import HubStore


def iso(instant: datetime) -> str:
    """An instant as the hub writes them: UTC, milliseconds."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_instant(value: Any) -> datetime | None:
    """An aware instant from an ISO string (naive strings are read as UTC); None if not one."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


class DeviceOffsets:
    """The offsets the hub measured per device node, read once per engine run."""

    def __init__(self, store: HubStore) -> None:
        self.conn = store.conn
        self.hub_node = store.replica.node
        self._measured: dict[str, tuple[list[str], list[int], list[str], list[int]]] = {}
        self._last: dict[str, int | None] | None = None

    def _measurements(self, node: str) -> tuple[list[str], list[int], list[str], list[int]]:
        found = self._measured.get(node)
        if found is None:
            rows = self.conn.execute(
                "SELECT at, kind, clock_offset_ms FROM sync_log WHERE node = ? AND clock_offset_ms IS NOT NULL "
                "ORDER BY at, id", (node,)).fetchall()
            pushes = [(at, offset) for at, kind, offset in rows if kind == "push"]
            found = ([at for at, _ in pushes], [offset for _, offset in pushes],
                     [at for at, _, _ in rows], [offset for _, _, offset in rows])
            self._measured[node] = found
        return found

    def _device_offset(self, node: str) -> int | None:
        if self._last is None:
            self._last = dict(self.conn.execute("SELECT node, clock_offset_ms FROM devices").fetchall())
        return self._last.get(node)

    def offset_ms(self, node: str, authored: datetime) -> int:
        """hub time - device time for a record ``node`` authored at ``authored`` (hub time)."""
        if node == self.hub_node:
            return 0
        push_ats, push_offsets, all_ats, all_offsets = self._measurements(node)
        key = iso(authored)
        for ats, offsets in ((push_ats, push_offsets), (all_ats, all_offsets)):
            if ats:
                index = bisect.bisect_left(ats, key)
                return offsets[index] if index < len(ats) else offsets[-1]
        return self._device_offset(node) or 0

    def business_time(self, node: str, recorded: Any, hlc: int) -> datetime:
        """The hub-time instant of a business time ``recorded`` by ``node`` in an op stamped ``hlc``;
        the op's own time when the record holds none that can be read."""
        authored = to_datetime(hlc)
        instant = parse_instant(recorded)
        if instant is None:
            return authored
        return instant + timedelta(milliseconds=self.offset_ms(node, authored))
