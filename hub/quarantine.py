"""Ops the hub holds in quarantine because they were stamped too far ahead of its clock.

Such an op broke no rule: its timestamp lay beyond the bound (``max_ahead_ms``), typically because
a tablet's clock was set forward and the tablet rebooted before a sync could tell it so
(device_agent/clock.py). So it waits rather than being refused: once the hub's clock has caught up
and the op lies within the bound, :func:`release_due` merges it as if it had just arrived and
appends it to the log, and the feed carries it to every device whose scope holds it. Ops refused
by a rule (the schema, the device's scope, a forged node) stay where they are.

Releases run at every device's hello, before its push (so its older ops go in before its newer
ones), and first in every engine round (``hub.engines.run_all``; a background round runs once
across the workers of a PostgreSQL hub). Each slice of a release is one transaction: a crash
leaves an op either still in quarantine or merged, and running again finds only what is left.

A device learns what the hub still holds of its ops from :func:`held_for` in its hello reply, and
stops listing those released as refused.
"""

from __future__ import annotations

from typing import Any

from sync.hlc import wall_ms

from .store import WRITE_SLICE, HubStore

# Quarantined ops listed in one hello reply: an honest device has none or a few.
LISTED_PER_HELLO = 1000


def release_due(store: HubStore, now_ms: int | None = None) -> int:
    """Merge every op that waited in quarantine only for the hub's clock and now lies within the
    bound; returns how many were merged."""
    now = store.now_ms() if now_ms is None else now_ms
    released = 0
    while True:
        with store.unit_of_work():
            result = store.replica.release(now, WRITE_SLICE)
        released += len(result.accepted)
        # A slice not full was the last. (An op quarantined again — its field gone from a schema
        # changed meanwhile — took its place in the slice but no longer waits for the clock.)
        if len(result.accepted) + len(result.rejected) < WRITE_SLICE:
            return released


def due_ms(hlc: int, max_ahead_ms: int) -> int:
    """The hub's clock reading from which an op stamped ``hlc`` lies within the bound
    (``sync.hlc.check_ahead``) and is released."""
    return wall_ms(hlc) - max_ahead_ms


def held_for(store: HubStore, node: str) -> dict[str, Any]:
    """What the hub holds in quarantine of ``node``'s ops, for its hello reply: ``quarantined``
    lists them by counter as a push reply lists rejections, complete up to the counter
    ``quarantined_through`` (None: complete). A device drops from its refused ops those up to
    there that are not listed: the hub released them. Agents that predate this ignore it."""
    found = store.replica.quarantined_of(node, LISTED_PER_HELLO + 1)
    through = found[LISTED_PER_HELLO - 1][0].counter if len(found) > LISTED_PER_HELLO else None
    return {"quarantined": [rejection.to_json(op_id) for op_id, rejection in found[:LISTED_PER_HELLO]],
            "quarantined_through": through}
