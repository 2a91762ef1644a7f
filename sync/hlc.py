"""Hybrid logical clock (Kulkarni et al.), packed into one sortable integer.

An HLC is ``wall_ms << 16 | logical``: integer order is time order, so op rows keyed by it are
appended at the end of a B-tree, and two HLCs compare without unpacking. Ties are broken by node
id and counter (see :func:`order_key`), which makes the order total.

Nothing here reads a clock: the caller passes the wall time in, so every function is pure and
tests choose the time they need.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import ClockExhausted, ClockSkewError

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1

# How far ahead of a receiver's clock an incoming timestamp may be before it is refused. Five
# minutes covers honest drift between tablets and the hub; a tablet that believes it is 2099 is
# far outside it.
DEFAULT_MAX_AHEAD_MS = 5 * 60 * 1000


def pack(wall_ms: int, logical: int = 0) -> int:
    if not 0 <= logical <= LOGICAL_MASK:
        raise ValueError(f"logical part {logical} is outside 0..{LOGICAL_MASK}")
    return (wall_ms << LOGICAL_BITS) | logical


def wall_ms(hlc: int) -> int:
    return hlc >> LOGICAL_BITS


def logical(hlc: int) -> int:
    return hlc & LOGICAL_MASK


def tick(last: int, now_ms: int) -> int:
    """The HLC of a new local event, given the last HLC this node issued or observed."""
    last_wall = last >> LOGICAL_BITS
    if now_ms > last_wall:
        return now_ms << LOGICAL_BITS
    if (last & LOGICAL_MASK) == LOGICAL_MASK:
        raise ClockExhausted()
    return last + 1


def check_ahead(remote: int, now_ms: int, max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> None:
    """Raise :class:`ClockSkewError` when ``remote`` lies beyond the bound ahead of ``now_ms``."""
    ahead = (remote >> LOGICAL_BITS) - now_ms
    if ahead > max_ahead_ms:
        raise ClockSkewError(ahead, max_ahead_ms)


def latest_allowed(now_ms: int, max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> int:
    """The greatest HLC a receiver whose clock reads ``now_ms`` accepts (see :func:`check_ahead`)."""
    return ((now_ms + max_ahead_ms) << LOGICAL_BITS) | LOGICAL_MASK


def observe(last: int, remote: int, now_ms: int, max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> int:
    """Fold a received timestamp into the local clock; the next :func:`tick` comes after both.

    Returns the new "last" value. Refuses (``ClockSkewError``) a remote timestamp beyond the
    bound, so one skewed device cannot drag every clock it touches into the future.
    """
    check_ahead(remote, now_ms, max_ahead_ms)
    return max(last, remote)


def order_key(hlc: int, node: str, counter: int) -> tuple[int, str, int]:
    """The total order of ops: HLC, then node id to break ties between nodes, then the node's
    counter (an honest node never repeats an HLC, but a forged or restored one might)."""
    return (hlc, node, counter)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(hlc: int) -> datetime:
    # Integer milliseconds, not float seconds: exact for any date, however far ahead.
    return _EPOCH + timedelta(milliseconds=hlc >> LOGICAL_BITS)


def format_hlc(hlc: int) -> str:
    """Readable form for people: ISO time in UTC plus the logical counter."""
    stamp = to_datetime(hlc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{stamp}#{hlc & LOGICAL_MASK}"
