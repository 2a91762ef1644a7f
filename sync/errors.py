"""The exceptions of the replication engine.

Every error says what failed, the context, and what to do next; ``retryable`` tells a sync
client whether trying the same thing again can help (a dropped connection can; a forged node id
cannot).
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every replication error."""

    retryable = False

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} — {hint}" if hint else message)


class InvalidOp(SyncError):
    """An op breaks a rule of the schema or the op format; it is quarantined, never applied."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}", hint="fix the author and send a new op; this one stays quarantined")


class ClockSkewError(SyncError):
    """A timestamp is further ahead of the receiver's clock than the configured bound allows."""

    def __init__(self, ahead_ms: int, bound_ms: int) -> None:
        self.ahead_ms = ahead_ms
        self.bound_ms = bound_ms
        super().__init__(
            f"timestamp is {ahead_ms / 1000:.1f} s ahead of this replica's clock (bound {bound_ms / 1000:.1f} s)",
            hint="set the device clock right or let it learn its offset from the hub at the next sync",
        )


class ClockExhausted(SyncError):
    """The logical part of the hybrid clock ran out inside one millisecond."""

    def __init__(self) -> None:
        super().__init__(
            "more than 65,535 events in one millisecond of the hybrid clock",
            hint="this only happens with a wall clock stuck far behind; retry after the clock moves",
        )

    retryable = True


class SchemaVersionMismatch(SyncError):
    """The two sides of a sync speak different protocol or schema versions."""

    def __init__(self, ours: int, theirs: int) -> None:
        super().__init__(
            f"protocol version {theirs} received, this replica speaks {ours}",
            hint="upgrade the older side (hub or agent) before syncing again",
        )


class TransportError(SyncError):
    """The message did not make the round trip (connection cut, timeout, lost reply)."""

    retryable = True


class ProtocolError(SyncError):
    """A sync message is malformed or of an unknown type."""
