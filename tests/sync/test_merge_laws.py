"""The merge laws, on the pure in-memory replica: the state is a function of the set of ops."""

from hypothesis import given
from hypothesis import strategies as st

from sync.memory import MemoryReplica, merge

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import deliveries, op_sets


def fresh() -> MemoryReplica:
    return MemoryReplica("observer", REGISTRY)


def state_of(batches) -> bytes:
    replica = fresh()
    for batch in batches:
        replica.ingest(batch, FAR_FUTURE_MS)
    return replica.canonical()


@given(st.data())
def test_any_order_duplicates_and_batch_cuts_give_the_same_state(data):
    ops = data.draw(op_sets())
    first = data.draw(deliveries(ops))
    second = data.draw(deliveries(ops))
    third = data.draw(deliveries(ops))
    assert state_of(first) == state_of(second) == state_of(third) == state_of([ops])


@given(op_sets())
def test_merge_is_idempotent(ops):
    once = merge(fresh(), ops, FAR_FUTURE_MS)
    twice = merge(once, ops, FAR_FUTURE_MS)
    assert twice.canonical() == once.canonical()
    assert twice.vector() == once.vector()


@given(op_sets(), st.data())
def test_merge_is_commutative(ops, data):
    cut = data.draw(st.integers(0, len(ops)))
    left, right = ops[:cut], ops[cut:]
    a_then_b = merge(merge(fresh(), left, FAR_FUTURE_MS), right, FAR_FUTURE_MS)
    b_then_a = merge(merge(fresh(), right, FAR_FUTURE_MS), left, FAR_FUTURE_MS)
    assert a_then_b.canonical() == b_then_a.canonical()


@given(op_sets(), st.data())
def test_merge_is_associative(ops, data):
    i = data.draw(st.integers(0, len(ops)))
    j = data.draw(st.integers(i, len(ops)))
    a, b, c = ops[:i], ops[i:j], ops[j:]
    grouped_left = merge(merge(merge(fresh(), a, FAR_FUTURE_MS), b, FAR_FUTURE_MS), c, FAR_FUTURE_MS)
    grouped_right = merge(merge(fresh(), a, FAR_FUTURE_MS), b + c, FAR_FUTURE_MS)
    assert grouped_left.canonical() == grouped_right.canonical()


@given(op_sets())
def test_merge_leaves_its_input_state_unchanged(ops):
    base = fresh()
    before = base.canonical()
    merge(base, ops, FAR_FUTURE_MS)
    assert base.canonical() == before
