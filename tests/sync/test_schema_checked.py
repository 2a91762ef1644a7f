"""Ops pulled from a hub were validated there: a device takes their values as the hub did, and
still refuses what would break its store or its merge rules."""

import pytest

from sync.hlc import pack
from sync.ops import APPEND, INCR, MOVE, SET, Op
from sync.store import SqliteReplica

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import T0

HLC = pack(T0, 0)


def _op(counter: int, entity: str, action: str, field: str = "", value=None, hlc: int = HLC) -> Op:
    return Op("hub", counter, hlc + counter, entity, f"{entity}-{counter}", action, field, value)


@pytest.fixture
def tablet(tmp_path):
    replica = SqliteReplica.open(tmp_path / "tablet.db", "tablet", REGISTRY)
    yield replica
    replica.close()


def test_values_the_schema_would_refuse_are_taken_as_the_hub_took_them(tablet):
    """A hub on a newer schema accepted them; quarantining them here would leave the tablet
    holding something other than its hub, for good."""
    def refused_by_the_schema(first: int) -> list[Op]:
        return [_op(first, "time_log", APPEND, value={"minutes": -5}), _op(first + 1, "job", SET, "title", "x" * 500)]

    assert [r.field for _, r in tablet.ingest(refused_by_the_schema(1), FAR_FUTURE_MS).rejected] == ["value", "title"]
    result = tablet.ingest(refused_by_the_schema(11), FAR_FUTURE_MS, schema_checked=True)
    assert len(result.accepted) == 2 and not result.rejected
    assert tablet.entity("time_log", "time_log-11")["value"] == {"minutes": -5}
    assert tablet.entity("job", "job-12")["title"] == "x" * 500


@pytest.mark.parametrize("op, field", [
    (_op(1, "time_log", APPEND, value=["not", "a", "record"]), "value"),
    (_op(1, "invoice", APPEND, value={}), "entity"),
    (_op(1, "job", SET, "no_such_field", "x"), "field"),
    (_op(1, "job", INCR, "title", 1), "action"),
    (_op(1, "job", MOVE, "status", "teleported"), "status"),
    (_op(1, "job", SET, "title", "x", hlc=pack(FAR_FUTURE_MS + 86_400_000, 0)), "hlc"),
])
def test_what_would_break_the_store_or_the_merge_is_still_quarantined(tablet, op, field):
    result = tablet.ingest([op], FAR_FUTURE_MS, schema_checked=True)
    assert not result.accepted
    assert [rejection.field for _, rejection in result.rejected] == [field]


def test_a_rebuild_from_the_hub_takes_its_values_as_the_hub_took_them(tablet):
    ops = [_op(1, "time_log", APPEND, value={"minutes": 0})]
    result = tablet.rebuild([("time_log", "time_log-1")], ops, FAR_FUTURE_MS, schema_checked=True)
    assert len(result.accepted) == 1
    assert tablet.entity("time_log", "time_log-1")["value"] == {"minutes": 0}
