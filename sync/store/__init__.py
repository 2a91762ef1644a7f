"""Adapters that persist a replica. The core (``sync`` outside this package) never imports them.

``SqliteReplica`` (one file, the default everywhere) and ``PostgresReplica`` (the hub scaled out
over several processes; needs ``psycopg``, imported only when used) share ``sql.SqlReplica``.
"""

from .sql import SqlReplica
from .sqlite import SqliteReplica

__all__ = ["SqlReplica", "SqliteReplica"]
