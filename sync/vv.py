"""Version vectors: node id -> highest counter held with no gap below it.

One number per node says everything a replica holds of that node's ops up to it, so "what does
the other side lack" is a comparison of two small dicts, whatever the size of the databases.
"""

from __future__ import annotations

from collections.abc import Mapping

VersionVector = Mapping[str, int]


def plan_push(local_max: VersionVector, remote: VersionVector) -> dict[str, int]:
    """For each node we hold ops of that the remote may lack, the counter to send from (exclusive).

    ``local_max`` is the highest counter held per node (gaps allowed); ``remote`` the other side's
    contiguous vector. Ops above the remote's frontier that it already holds out of order are
    sent again: harmless, because ingest is idempotent.
    """
    return {node: remote.get(node, 0) for node, top in local_max.items() if top > remote.get(node, 0)}


def dominates(a: VersionVector, b: VersionVector) -> bool:
    """True when ``a`` has seen everything ``b`` has."""
    return all(a.get(node, 0) >= counter for node, counter in b.items())


def merge(a: VersionVector, b: VersionVector) -> dict[str, int]:
    return {node: max(a.get(node, 0), b.get(node, 0)) for node in {*a, *b}}


def lag(ahead: VersionVector, behind: VersionVector) -> int:
    """How many ops ``behind`` lacks of those ``ahead`` holds contiguously."""
    return sum(max(0, counter - behind.get(node, 0)) for node, counter in ahead.items())
