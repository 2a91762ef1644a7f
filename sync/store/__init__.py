"""Adapters that persist a replica. The core (``sync`` outside this package) never imports them."""

from .sqlite import SqliteReplica

__all__ = ["SqliteReplica"]
