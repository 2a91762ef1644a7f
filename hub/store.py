"""The hub's store: its replica (node ``hub``) plus the hub's own tables, in one database — a
SQLite file (the default) or a PostgreSQL schema shared by several worker processes (``hub/db.py``).

Within a process every access goes through one connection under one lock. Every change happens
inside :meth:`HubStore.unit_of_work`, which commits everything or nothing and, on PostgreSQL,
holds the writer lock so writers from every worker take turns; reads that must agree with each
other go inside :meth:`HubStore.reading`. Long reads that decide what to write (an engine
planning its round, the scope a push is checked against) go inside :meth:`HubStore.planning`,
on a connection of their own, so pushes and pulls are not held up meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from schema import REGISTRY
from schema.migrations import migrate
from sync.ops import Op

from . import db
from .config import HubConfig
from .links import Links, update_links

# Ops written per transaction by whoever writes many (a push, an engine's plan, a release from
# quarantine): each slice its own transaction, so no write holds the database for longer than a
# slice takes (target 50 ms; a 1,000-op push in one took ~70 ms, 250-op slices ~28 ms at the
# median, 100-op slices ~14 ms for 5% less throughput) and pulls, office edits and engine rounds
# interleave.
WRITE_SLICE = 100
# How a planning view gives way to writes (see HubStore.give_way): a pause per step, and at most
# this much per call, so a planner is slowed by a stream of writes but never stopped.
GIVE_WAY_STEP_S = 0.001
GIVE_WAY_MOST_S = 0.05

_Kept = TypeVar("_Kept")


class HubStore:
    def __init__(self, config: HubConfig, *, home: HubStore | None = None) -> None:
        """The hub's store; with ``home``, a read-only view of that store's database on a
        connection of its own (see :meth:`planning`)."""
        self.config = config
        self.home = home or self  # what the hub keeps in memory (see kept) is the home store's
        if home is None:
            config.blobs.mkdir(parents=True, exist_ok=True)
            self.replica = db.open_replica(config.database, config.node, REGISTRY,
                                           max_ahead_ms=config.max_ahead_ms)
        else:
            self.replica = db.open_reader(config.database, REGISTRY, max_ahead_ms=config.max_ahead_ms)
            self.replica.share_chunks_with(home.replica)  # every pull reads the same recent log
        # The hub's SQL runs through the adapter, on the replica's connection and transaction.
        self.conn = self.db = db.adapter(self.replica)
        self.lock = threading.RLock()
        if home is None:
            with self.lock, self.replica.transaction():
                migrate(self.db)
            self.replica.observers.append(lambda _replica, accepted, registers: update_links(self.db, registers))
        self.links = Links(self.db)
        self.scheduler: Any = None  # the engines' background runner, when the hub runs one
        self._checkpointer: db.WalCheckpointer | None = None  # while the hub serves, on SQLite
        self._idle_views: list[HubStore] = []
        self._views_lock = threading.Lock()
        self._closed = False
        self._this_thread = threading.local()  # .writing: inside this thread's unit_of_work
        self._open_writes = 0  # units of work open now, in any thread (see give_way)
        self._queued_writes = 0  # threads waiting to open one (see let_queued_writes_in)
        self._queue_lock = threading.Lock()
        self._kept: dict[type, Any] = {}
        self._kept_lock = threading.Lock()

    def kept(self, kind: type[_Kept]) -> _Kept:
        """This hub's one ``kind()``, made on first use: what a hub keeps in memory beside its
        database (computed scopes, history replays, feedback settings) belongs to that hub — a
        process may run several (tests, the simulation) — and its planning views share it."""
        home = self.home
        with home._kept_lock:
            found = home._kept.get(kind)
            if found is None:
                found = home._kept[kind] = kind()
            return found

    def now_ms(self) -> int:
        return self.config.clock()

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC).isoformat(timespec="milliseconds")

    @contextmanager
    def unit_of_work(self) -> Iterator[HubStore]:
        """Exclusive access and one transaction: commits on success, rolls back on any error."""
        with self._queue_lock:
            self._queued_writes += 1
        try:
            self.lock.acquire()
        finally:
            with self._queue_lock:
                self._queued_writes -= 1
        try:
            with self.replica.transaction(), self._writing():
                yield self
        finally:
            self.lock.release()

    def let_queued_writes_in(self) -> None:
        """Between two slices of a long write (a push, an engine's plan): if another thread waits
        to write, let it go first. The store's lock is not fair: released and taken again at
        once, it could keep a waiting push out for a whole plan."""
        _pause_while(lambda: self._queued_writes > 0)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        depth = getattr(self._this_thread, "writing", 0)
        self._this_thread.writing = depth + 1
        self._open_writes += 1  # under self.lock
        try:
            yield
        finally:
            self._open_writes -= 1
            self._this_thread.writing = depth

    def give_way(self) -> None:
        """For a long read on a planning view, between its steps: while a write is open on the
        home store, pause. The two share Python's interpreter lock, and a 100-op push slice
        that takes 14 ms alone took three to five times as long beside an engine planning."""
        home = self.home
        if home is not self:
            _pause_while(lambda: home._open_writes > 0)

    @contextmanager
    def reading(self) -> Iterator[HubStore]:
        """Reads that see one state of the database (no writes inside)."""
        with self.lock, self.db.reading():
            yield self

    @contextmanager
    def planning(self) -> Iterator[HubStore]:
        """A read-only store seeing one committed state, on a connection of its own: for reads
        that decide what to write, so they hold up no push or pull meanwhile (SQLite in WAL
        mode; PostgreSQL REPEATABLE READ READ ONLY). Writes go to this store afterwards, and
        whoever plans must allow for what changed in between. Inside a transaction of this
        store it is this store, so the plan sees what the transaction wrote."""
        home = self.home
        if getattr(home._this_thread, "writing", 0):
            yield home
            return
        with home._views_lock:
            view = home._idle_views.pop() if home._idle_views else None
        if view is None:
            view = HubStore(home.config, home=home)
        try:
            with view.lock, view.replica.snapshot():
                yield view
        finally:
            with home._views_lock:
                keep = not home._closed
                if keep:
                    home._idle_views.append(view)
            if not keep:
                view.close()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this process may run ``name`` (an engine round) now, no other worker running
        it meanwhile. Hold it for the whole round; work inside takes its own transactions."""
        with self.lock:
            guard = self.db.exclusive(name)
            mine = guard.__enter__()
        try:
            yield mine
        finally:
            with self.lock:
                guard.__exit__(None, None, None)

    def write(self, changes: Iterable[tuple[Any, ...]]) -> list[Op]:
        """Hub-authored ops (office edits, engine output), recorded together."""
        with self.lock:
            return self.replica.write_many(self.now_ms(), changes)

    def checkpoint_in_background(self) -> None:
        """While the hub serves (``hub.server``): copy the WAL into the file on a thread of its
        own, not in whichever push slice's commit crosses the WAL's threshold (db.WalCheckpointer)."""
        with self.lock:
            if self._checkpointer is None and self.home is self:
                self._checkpointer = self.db.take_over_checkpoints()

    def poke_engines(self) -> None:
        """New work arrived: let the background engines run soon (no-op without a scheduler)."""
        if self.scheduler is not None:
            self.scheduler.poke()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        with self._views_lock:
            self._closed = True
            views, self._idle_views = self._idle_views, []
        for view in views:
            view.close()
        with self.lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            self.replica.close()


def _pause_while(busy: Callable[[], bool]) -> None:
    """Pause a step at a time while ``busy()``, at most GIVE_WAY_MOST_S in all."""
    waited = 0.0
    while busy() and waited < GIVE_WAY_MOST_S:
        time.sleep(GIVE_WAY_STEP_S)
        waited += GIVE_WAY_STEP_S
