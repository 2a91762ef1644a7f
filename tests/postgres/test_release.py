"""Releasing ops that waited for the clock on PostgreSQL: the same state as in memory, and a
schema of the previous layout upgraded in place with what it held waiting found again."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.memory import MemoryReplica
from sync.store.postgres import LAYOUT_VERSION, PostgresReplica

from ..sync.model import FAR_FUTURE_MS, REGISTRY
from ..sync.strategies import T0, op_sets
from ..sync.test_release import BOUND_MS, CLOCKS, check_upgrade_from_layout_1, quarantine_of
from .test_store import FEWER, replicas


@pytest.mark.slow
@FEWER
@given(op_sets(), CLOCKS, st.integers(1, 8))
def test_ops_released_on_postgresql_leave_the_state_they_would_have_made_arriving_late(ops, clock, slice_size):
    reference = MemoryReplica("reference", REGISTRY, max_ahead_ms=BOUND_MS)
    reference.ingest(ops, FAR_FUTURE_MS)
    with replicas("hub") as (pg,):
        pg.max_ahead_ms = BOUND_MS
        pg.ingest(ops, T0 + clock)
        while pg.release(FAR_FUTURE_MS, slice_size).accepted:
            pass
        assert pg.canonical() == reference.canonical()
        assert pg.vector() == reference.vector()
        assert quarantine_of(pg) == quarantine_of(reference)
        ids = [op.id for op in ops]
        assert pg.held(ids) == reference.held(ids)
        counted = dict(pg.conn.execute("SELECT node, quarantined FROM nodes WHERE quarantined > 0").fetchall())
        assert counted == dict(pg.conn.execute("SELECT node, count(*) FROM quarantine GROUP BY node").fetchall())


def test_a_schema_of_the_previous_layout_is_upgraded_and_its_clock_quarantine_released(pg_url):
    check_upgrade_from_layout_1(lambda node: PostgresReplica.open(pg_url, node, REGISTRY, max_ahead_ms=BOUND_MS),
                                lambda: psycopg.connect(pg_url, autocommit=True),
                                "UPDATE meta SET value = '1' WHERE key = 'layout'")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()[0] == str(LAYOUT_VERSION)
