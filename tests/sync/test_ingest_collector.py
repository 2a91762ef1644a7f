"""A SQLite replica pauses Python's cyclic garbage collector while it ingests a batch (see
``sync.store.sql._collector_paused``): whatever happens, it leaves the collector as it found it."""

import gc

import pytest

from sync.ops import APPEND, Op
from sync.store import SqliteReplica

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import T0


def _log(counter: int) -> Op:
    return Op("tablet", counter, T0 + counter, "time_log", f"log-{counter}", APPEND, "", {"minutes": 5})


@pytest.fixture
def hub(tmp_path):
    replica = SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY)
    yield replica
    replica.close()


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    # As it was before the test, whatever the test did: left off, it would stay off for every
    # test after this one in the process, and their replicas caught in cycles would never close.
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_during_a_batch_and_on_again_after_it(hub, collector_on):
    seen = []
    hub.observers.append(lambda *_: seen.append(gc.isenabled()))

    hub.ingest([_log(1), _log(2)], FAR_FUTURE_MS)

    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_application_stays_off(hub, collector_on):
    gc.disable()

    hub.ingest([_log(1)], FAR_FUTURE_MS)

    assert not gc.isenabled()


def test_a_batch_that_fails_switches_the_collector_back_on(hub, collector_on):
    def fail(*_):
        raise RuntimeError("observer failed")

    hub.observers.append(fail)

    with pytest.raises(RuntimeError):
        hub.ingest([_log(1)], FAR_FUTURE_MS)

    assert gc.isenabled()
    assert hub.op_count() == 0
