"""``logged_ops`` on PostgreSQL: a history page reads only the chunks holding its entities' ops,
and a schema of layout 2 gets the table filled from its log when opened."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.store.postgres import LAYOUT_VERSION, PostgresReplica

from ..sync.model import REGISTRY
from ..sync.strategies import deliveries, op_sets
from ..sync.test_history_index import (
    OpenReplica,
    check_a_history_page_reads_only_the_chunks_of_its_entities,
    check_upgrade_from_layout_2,
    tangled_writes,
)
from .schemas import Schemas
from .test_store import FEWER


def opener(schemas: Schemas) -> tuple[OpenReplica, dict[str, str]]:
    """Opens (creating) the replica ``name`` in a schema of its own; returns the URLs by name too."""
    urls: dict[str, str] = {}

    def open_replica(name: str, node: str | None) -> PostgresReplica:
        if name not in urls:
            urls[name] = schemas.new()
        return PostgresReplica.open(urls[name], node, REGISTRY)

    return open_replica, urls


def test_a_history_page_of_counters_and_resolved_conflicts_reads_only_the_chunks_holding_their_ops(
        schemas, monkeypatch):
    check_a_history_page_reads_only_the_chunks_of_its_entities(opener(schemas)[0], monkeypatch)


@pytest.mark.slow
@FEWER
@given(st.one_of(tangled_writes(), op_sets()), st.data())
def test_a_schema_of_layout_2_gets_the_table_filled_from_its_log(ops, data):
    batches = data.draw(deliveries(ops))
    schemas = Schemas()
    try:
        open_replica, urls = opener(schemas)

        def downgrade() -> None:
            with psycopg.connect(urls["hub"], autocommit=True) as conn:
                conn.execute("DROP TABLE logged_ops")
                conn.execute("UPDATE meta SET value = '2' WHERE key = 'layout'")

        check_upgrade_from_layout_2(open_replica, ops, batches, downgrade)
        with psycopg.connect(urls["hub"], autocommit=True) as conn:
            assert conn.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()[0] == str(LAYOUT_VERSION)
    finally:
        schemas.drop()
