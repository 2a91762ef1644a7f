"""The hub's business engines: SLA, inventory, billing, feedback.

Each engine reads the merged state and writes hub-authored ops (escalations, stock exceptions,
invoices, surveys...), so what it decides replicates like everything else. An engine is a pure
function of the state and the time: run it twice and the second run writes nothing — that is
what makes late, out-of-order or repeated syncs harmless. Engines run after every push (only the
work that push touched is new) and on a timer for what time alone changes (a clock nearing its
breach, a survey falling due). An engine plans on a read-only snapshot and writes its plan in one
short transaction (:mod:`.planning`), so pushes and pulls do not wait while it reads.

Adding an engine is adding a module that defines ``ENGINE`` and listing it in ``_MODULES``.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from typing import Protocol

from ..quarantine import release_due
from ..store import HubStore

log = logging.getLogger(__name__)

# Order matters where one engine reads what another writes: stock before billing (parts costs),
# SLA before feedback (breaches count in a customer's health).
_MODULES = ("sla", "inventory", "billing", "feedback")


class Engine(Protocol):
    name: str

    def run(self, store: HubStore, now_ms: int) -> int:
        """Bring this engine's output in line with the state at ``now_ms``; return ops written."""


def _modules() -> list:
    return [importlib.import_module(f"{__name__}.{module_name}") for module_name in _MODULES]


def engines() -> dict[str, Engine]:
    return {module.ENGINE.name: module.ENGINE for module in _modules()}


def blueprints() -> list:
    """The office API routes each engine exposes (a module-level ``bp``), registered by the app."""
    return [module.bp for module in _modules() if getattr(module, "bp", None) is not None]


def run_all(store: HubStore, now_ms: int | None = None, names: Iterable[str] | None = None) -> dict[str, int]:
    """Run the engines (all, or those named) once, in order; returns ops written per engine.
    First, ops that waited in quarantine for the hub's clock to reach them are merged
    (``hub/quarantine.py``), so the engines decide on them too."""
    now = store.now_ms() if now_ms is None else now_ms
    release_due(store, now)
    wanted = set(names) if names is not None else None
    written: dict[str, int] = {}
    for name, engine in engines().items():
        if wanted is None or name in wanted:
            written[name] = engine.run(store, now)
    return written


class Scheduler:
    """Runs every engine every ``interval_s`` seconds in a background thread until stopped."""

    def __init__(self, store: HubStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fieldsync-engines", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def poke(self) -> None:
        """New work arrived (a push): run soon rather than at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.round()
            except Exception:  # a failing engine must not stop the others' next round
                log.exception("engine round failed; retrying at the next tick")

    def round(self) -> dict[str, int] | None:
        """One round of every engine, unless another worker of this hub is running one (several
        gunicorn workers on PostgreSQL): then this one skips it and returns None."""
        with self.store.exclusive("engines") as mine:
            return run_all(self.store) if mine else None
