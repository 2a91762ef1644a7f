"""Writing several changes at once (``write_many``: an engine's round, a technician's form) folds
them in as one batch; the ops it authors and the state they leave are exactly those of writing
the changes one after another, whatever they touch twice."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import InvalidOp
from sync.memory import MemoryReplica
from sync.ops import ADD, APPEND, DELETE, INCR, MOVE, REMOVE, SET, VOID, OpId
from sync.store import SqliteReplica

from .model import REGISTRY
from .strategies import T0

JOBS = st.sampled_from(["job-1", "job-2"])
CHANGES = st.one_of(
    st.tuples(st.just("job"), JOBS, st.just(SET), st.sampled_from(["title", "notes"]),
              st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("job"), JOBS, st.just(INCR), st.just("stock"), st.integers(-3, 3)),
    st.tuples(st.just("job"), JOBS, st.just(MOVE), st.just("status"),
              st.sampled_from(["en_route", "on_site", "completed", "on_hold"])),
    st.tuples(st.just("job"), JOBS, st.sampled_from([ADD, REMOVE]), st.just("tags"), st.sampled_from(["x", "y"])),
    st.tuples(st.just("job"), JOBS, st.just(DELETE)),
    st.tuples(st.just("time_log"), st.sampled_from(["log-1", "log-2"]), st.just(APPEND), st.just(""),
              st.fixed_dictionaries({"minutes": st.integers(1, 90)})),
    # A void names the op it cancels: here any of the hub's first ops, a record or not.
    st.tuples(st.just("time_log"), st.sampled_from(["log-1", "log-2"]), st.just(VOID), st.just(""),
              st.none() | st.just("entered twice"), st.tuples(st.builds(OpId, st.just("hub"), st.integers(1, 40)))),
)
# When the changes are written, after T0: the batch may come at a wall clock behind the HLC the
# writes before it left (a clock set back), or well after it.
WALL = st.integers(0, 20_000)


def _write_one_by_one(replica, now_ms, changes):
    """What each change authors on its own; a change refused (a remove of a tag not held) is
    left out, so the batch below is the sequence that writes cleanly."""
    written, kept = [], []
    for change in changes:
        try:
            written.append(replica.write(now_ms, *change))
        except InvalidOp:
            continue
        kept.append(change)
    return written, kept


@given(st.lists(CHANGES, max_size=25), WALL, st.lists(CHANGES, max_size=10), WALL)
def test_a_batch_authors_the_ops_and_state_of_writing_its_changes_one_by_one(tmp_path_factory, before, before_at,
                                                                             changes, batch_at):
    one_by_one = MemoryReplica("hub", REGISTRY)
    _write_one_by_one(one_by_one, T0 + before_at, before)
    written, changes = _write_one_by_one(one_by_one, T0 + batch_at, changes)

    folder = tmp_path_factory.mktemp("batch")
    batched = SqliteReplica.open(folder / "hub.db", "hub", REGISTRY)
    try:
        _write_one_by_one(batched, T0 + before_at, before)
        assert batched.write_many(T0 + batch_at, changes) == written
        assert batched.canonical() == one_by_one.canonical()
    finally:
        batched.close()


def test_a_refused_change_keeps_none_of_its_batch(tmp_path):
    replica = SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY)
    try:
        replica.write(T0, "job", "job-1", SET, "title", "kept")
        with pytest.raises(InvalidOp) as refused:
            replica.write_many(T0 + 1, [("job", "job-1", SET, "title", "lost"),
                                        ("job", "job-1", SET, "title", "x" * 500)])
        assert refused.value.field == "title"
        assert replica.entity("job", "job-1")["title"] == "kept"
        assert replica.op_count() == 1
        assert replica.write_many(T0 + 2, [("job", "job-1", SET, "title", "next")])[0].counter == 2
    finally:
        replica.close()
