"""Ops on the wire: what parses, what is refused and with which field named. The common op takes
a fast path; it must accept and build exactly what the checked path would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import InvalidOp
from sync.ops import ACTIONS, APPEND, INT64_MAX, SET, Op, OpId, _checked_from_wire, from_wire, to_wire

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.integers(INT64_MAX - 1, INT64_MAX + 1),
                    st.floats(allow_nan=False), st.text(max_size=3), st.text(min_size=60, max_size=140))
PARTS = st.one_of(SCALARS, st.sampled_from(sorted(ACTIONS)), st.lists(SCALARS, max_size=2),
                  st.lists(st.lists(SCALARS, min_size=2, max_size=2), max_size=2))


def _outcome(parse, raw):
    try:
        return parse(raw)
    except InvalidOp as exc:
        return ("refused", exc.field, exc.reason)


@given(st.one_of(st.lists(PARTS, min_size=9, max_size=9), st.lists(PARTS, max_size=10), SCALARS))
def test_the_fast_path_accepts_and_refuses_exactly_what_the_checked_path_does(raw):
    assert _outcome(from_wire, raw) == _outcome(_checked_from_wire, raw)


REFS = st.lists(st.builds(OpId, st.text(min_size=1, max_size=64), st.integers(1, INT64_MAX)), max_size=2)


@given(st.builds(Op, st.text(min_size=1, max_size=64), st.integers(1, INT64_MAX), st.integers(0, INT64_MAX),
                 st.sampled_from(["job", "time_log"]), st.text(min_size=1, max_size=128),
                 st.sampled_from(sorted(ACTIONS)), st.text(max_size=64), st.one_of(st.none(), st.integers(), st.text()),
                 REFS.map(tuple)))
def test_an_op_comes_back_from_the_wire_as_it_went(op):
    parsed = from_wire(to_wire(op))
    assert parsed == op and type(parsed) is Op and all(type(ref) is OpId for ref in parsed.refs)


@pytest.mark.parametrize(("raw", "field"), [
    (["n", True, 1, "job", "j", SET, "", None, []], "counter"),
    (["n", 1, -1, "job", "j", SET, "", None, []], "hlc"),
    (["", 1, 1, "job", "j", SET, "", None, []], "node"),
    (["n", 1, 1, "job", "j" * 129, SET, "", None, []], "eid"),
    (["n", 1, 1, "job", "j", "rename", "", None, []], "action"),
    (["n", 1, 1, "job", "j", APPEND, "", None, {}], "refs"),
    (["n", 1, INT64_MAX + 1, "job", "j", SET, "", None, []], "hlc"),
    (["n", 1, 1, "job", "j", SET, ""], "op"),
])
def test_a_malformed_op_is_refused_naming_its_field(raw, field):
    with pytest.raises(InvalidOp) as refused:
        from_wire(raw)
    assert refused.value.field == field
