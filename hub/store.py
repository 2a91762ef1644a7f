"""The hub's store: its replica (node ``hub``) plus the hub's own tables, in one SQLite file.

One writer per file: every access goes through one connection under one lock, and every change
happens inside :meth:`HubStore.unit_of_work`, which commits everything or nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from schema import REGISTRY
from schema.migrations import migrate
from sync.ops import Op
from sync.store import SqliteReplica

from .config import HubConfig
from .links import Links, update_links


class HubStore:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        config.database.parent.mkdir(parents=True, exist_ok=True)
        config.blobs.mkdir(parents=True, exist_ok=True)
        self.replica = SqliteReplica.open(config.database, config.node, REGISTRY, max_ahead_ms=config.max_ahead_ms)
        self.conn = self.replica.conn
        self.lock = threading.RLock()
        with self.lock, self.replica.transaction():
            migrate(self.conn)
        self.replica.observers.append(update_links)
        self.links = Links(self.conn)
        self.scheduler: Any = None  # the engines' background runner, when the hub runs one

    def now_ms(self) -> int:
        return self.config.clock()

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC).isoformat(timespec="milliseconds")

    @contextmanager
    def unit_of_work(self) -> Iterator[HubStore]:
        """Exclusive access and one transaction: commits on success, rolls back on any error."""
        with self.lock, self.replica.transaction():
            yield self

    @contextmanager
    def reading(self) -> Iterator[HubStore]:
        with self.lock:
            yield self

    def write(self, changes: Iterable[tuple[Any, ...]]) -> list[Op]:
        """Hub-authored ops (office edits, engine output), recorded together."""
        with self.lock:
            return self.replica.write_many(self.now_ms(), changes)

    def poke_engines(self) -> None:
        """New work arrived: let the background engines run soon (no-op without a scheduler)."""
        if self.scheduler is not None:
            self.scheduler.poke()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        with self.lock:
            self.replica.close()
