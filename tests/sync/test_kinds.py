"""Example-based tests of every merge kind, through ``MemoryReplica`` and the kind objects."""

from decimal import Decimal

import pytest

from sync.errors import InvalidOp
from sync.hlc import DEFAULT_MAX_AHEAD_MS, pack
from sync.kinds import KINDS, Conflict, MergeContext
from sync.kinds.counter import to_json_number
from sync.memory import MemoryReplica
from sync.ops import ADD, APPEND, DELETE, INCR, MOVE, REMOVE, SET, VOID, Op, OpId
from sync.registry import RegisterKey
from sync.replica import Rejection
from tests.sync.model import FAR_FUTURE_MS, REGISTRY

T0 = 1_700_000_000_000
NOW = FAR_FUTURE_MS  # "now" for ingests that do not test the clock bound

JOB_SPEC = REGISTRY.get("job").fields
TITLE = RegisterKey("lww", "job", "j1", "title")
STOCK = RegisterKey("counter", "job", "j1", "stock")
STATUS = RegisterKey("status", "job", "j1", "status")
TAGS = RegisterKey("set", "job", "j1", "tags")
RECORD = RegisterKey("append", "time_log", "t1", "")

LWW_CONCURRENT = "concurrent write overwritten; both values kept"
LWW_RESOLVED = "resolved by a later write that saw both values"
DUPLICATE_RECORD = "record id already taken by an earlier record; this one is kept apart"
DELTA_TYPE = 'a delta must be an integer or a decimal string such as "-1.5"'


def replica(node: str = "a") -> MemoryReplica:
    return MemoryReplica(node, REGISTRY)


def op(node, counter, wall, entity, eid, action, field="", value=None, refs=()) -> Op:
    """An op as another replica would have authored it, at HLC ``pack(wall)``."""
    return Op(node, counter, pack(wall), entity, eid, action, field, value, tuple(refs))


def send(src: MemoryReplica, dst: MemoryReplica):
    """Ship everything ``dst`` lacks from ``src`` (what a sync round does)."""
    return dst.ingest(src.ops_after(dst.vector(), 10_000), NOW)


def sync_all(*replicas: MemoryReplica) -> None:
    for src in replicas:
        for dst in replicas:
            if src is not dst:
                send(src, dst)


def ingest_one_by_one(ops, node="x") -> MemoryReplica:
    r = replica(node)
    for one in ops:
        r.ingest([one], NOW)
    return r


def never_arrived(_op_id: OpId) -> bool:
    return False


# -- lww ---------------------------------------------------------------------------------------


def test_sequential_write_overwrites_without_a_conflict():
    a = replica("a")
    first = a.write(T0, "job", "j1", SET, "title", "Boiler service")
    second = a.write(T0 + 1, "job", "j1", SET, "title", "Boiler repair")

    assert second.refs == (first.id,)
    assert a.entity("job", "j1") == {"title": "Boiler repair"}
    assert a.conflicts() == []
    assert [w.value for w in a.registers[TITLE].heads] == ["Boiler repair"]


def test_later_hlc_wins_whatever_the_arrival_order():
    early = op("zulu", 1, T0, "job", "j1", SET, "title", "early")
    late = op("alpha", 1, T0 + 1, "job", "j1", SET, "title", "late")

    forward = ingest_one_by_one([early, late])
    backward = ingest_one_by_one([late, early])

    assert forward.entity("job", "j1") == {"title": "late"}
    assert backward.entity("job", "j1") == {"title": "late"}
    assert forward.canonical() == backward.canonical()


def test_equal_hlcs_are_tie_broken_by_node_id():
    a, b = replica("a"), replica("b")
    from_a = a.write(T0, "job", "j1", SET, "title", "from a")
    from_b = b.write(T0, "job", "j1", SET, "title", "from b")
    assert from_a.hlc == from_b.hlc == pack(T0)

    sync_all(a, b)

    assert a.entity("job", "j1") == b.entity("job", "j1") == {"title": "from b"}
    assert a.conflicts() == [Conflict("lww", "job", "j1", "title", from_a.id, from_b.id, None, LWW_CONCURRENT)]


def test_lww_kind_orders_heads_by_hlc_then_node_in_a_single_merge():
    ops = [
        op("b", 1, T0, "job", "j1", SET, "title", "b@T0"),
        op("a", 1, T0 + 1, "job", "j1", SET, "title", "a@T0+1"),
        op("c", 1, T0, "job", "j1", SET, "title", "c@T0"),
    ]

    register = KINDS["lww"].merge(None, ops, MergeContext(JOB_SPEC["title"], never_arrived))

    assert [w.value for w in register.heads] == ["a@T0+1", "c@T0", "b@T0"]
    assert KINDS["lww"].read(register) == "a@T0+1"


def test_concurrent_writes_keep_both_values_as_a_conflict():
    a, b = replica("a"), replica("b")
    loser = a.write(T0 + 1, "job", "j1", SET, "title", "Replace valve")
    winner = b.write(T0 + 2, "job", "j1", SET, "title", "Replace pump")

    sync_all(a, b)

    expected = [Conflict("lww", "job", "j1", "title", loser.id, winner.id, None, LWW_CONCURRENT)]
    for r in (a, b):
        assert r.entity("job", "j1") == {"title": "Replace pump"}
        assert r.conflicts() == expected
        assert [(w.id, w.value) for w in r.registers[TITLE].heads] == [
            (winner.id, "Replace pump"),
            (loser.id, "Replace valve"),
        ]
    assert a.canonical() == b.canonical()


def test_a_later_write_that_saw_both_heads_resolves_the_conflict():
    a, b = replica("a"), replica("b")
    loser = a.write(T0 + 1, "job", "j1", SET, "title", "Replace valve")
    winner = b.write(T0 + 2, "job", "j1", SET, "title", "Replace pump")
    sync_all(a, b)

    fix = a.write(T0 + 3, "job", "j1", SET, "title", "Replace valve and pump")
    sync_all(a, b)

    assert fix.refs == (winner.id, loser.id)  # winner first
    for r in (a, b):
        assert r.entity("job", "j1") == {"title": "Replace valve and pump"}
        assert [w.id for w in r.registers[TITLE].heads] == [fix.id]
        assert r.conflicts() == [Conflict("lww", "job", "j1", "title", loser.id, winner.id, fix.id, LWW_RESOLVED)]
    assert a.canonical() == b.canonical()


def test_a_write_that_saw_only_one_head_leaves_the_conflict_open():
    stale = op("a", 1, T0 + 1, "job", "j1", SET, "title", "v1")
    concurrent = op("b", 1, T0 + 2, "job", "j1", SET, "title", "v2")
    over_stale = op("a", 2, T0 + 3, "job", "j1", SET, "title", "v3", refs=[stale.id])

    r = ingest_one_by_one([stale, concurrent, over_stale])

    assert r.entity("job", "j1") == {"title": "v3"}
    assert r.conflicts() == [Conflict("lww", "job", "j1", "title", concurrent.id, over_stale.id, None, LWW_CONCURRENT)]


def test_an_overwritten_write_arriving_late_never_becomes_a_head():
    a = replica("a")
    first = a.write(T0, "job", "j1", SET, "title", "draft")
    second = a.write(T0 + 1, "job", "j1", SET, "title", "final")

    late = replica("c")
    late.ingest([second], NOW)
    assert late.registers[TITLE].pending == {first.id}
    assert late.entity("job", "j1") == {"title": "final"}

    late.ingest([first], NOW)

    assert late.entity("job", "j1") == {"title": "final"}
    assert [w.id for w in late.registers[TITLE].heads] == [second.id]
    assert late.registers[TITLE].pending == frozenset()
    assert late.conflicts() == []
    assert late.canonical() == a.canonical()


def test_lww_kind_drops_a_pending_write_when_it_arrives_in_a_later_merge():
    lww = KINDS["lww"]
    first = op("a", 1, T0, "job", "j1", SET, "title", "draft")
    second = op("a", 2, T0 + 1, "job", "j1", SET, "title", "final", refs=[first.id])
    ctx = MergeContext(JOB_SPEC["title"], never_arrived)

    register = lww.merge(lww.merge(None, [second], ctx), [first], ctx)

    assert register == lww.merge(None, [first, second], ctx)
    assert lww.read(register) == "final"


@pytest.mark.parametrize("order", ["as_written", "reversed"])
def test_a_technician_rewriting_notes_three_times_in_one_batch_merges_as_one_write_at_a_time(order):
    lww = KINDS["lww"]
    ctx = MergeContext(JOB_SPEC["notes"], never_arrived)
    held = op("hub", 1, T0, "job", "j1", SET, "notes", "from the office")
    first = op("a", 1, T0 + 1, "job", "j1", SET, "notes", "isolated", refs=[held.id])
    second = op("a", 2, T0 + 2, "job", "j1", SET, "notes", "isolated, capacitor out", refs=[first.id])
    third = op("a", 3, T0 + 3, "job", "j1", SET, "notes", "unit cooling", refs=[second.id])
    chain = [held, first, second, third]
    batch = chain if order == "as_written" else chain[::-1]
    one_at_a_time = None
    for one in chain:
        one_at_a_time = lww.merge(one_at_a_time, [one], ctx)

    assert lww.merge(None, batch, ctx) == one_at_a_time
    assert lww.merge(lww.merge(None, [held], ctx), batch[:3] if order == "reversed" else batch[1:], ctx) \
        == one_at_a_time
    assert [w.value for w in one_at_a_time.heads] == ["unit cooling"]
    assert one_at_a_time.pending == frozenset() and one_at_a_time.resolved == ()


def test_a_batch_whose_second_write_saw_nothing_keeps_both_heads():
    lww = KINDS["lww"]
    ctx = MergeContext(JOB_SPEC["notes"], never_arrived)
    first = op("a", 1, T0, "job", "j1", SET, "notes", "isolated")
    blind = op("b", 1, T0 + 1, "job", "j1", SET, "notes", "on my way")

    register = lww.merge(None, [first, blind], ctx)

    assert [w.value for w in register.heads] == ["on my way", "isolated"]


def test_a_ref_to_an_op_already_held_does_not_become_pending():
    lww = KINDS["lww"]
    first = op("a", 1, T0, "job", "j1", SET, "title", "draft")
    second = op("a", 2, T0 + 1, "job", "j1", SET, "title", "final", refs=[first.id])

    register = lww.merge(None, [second], MergeContext(JOB_SPEC["title"], lambda op_id: op_id == first.id))

    assert register.pending == frozenset()
    assert [w.value for w in register.heads] == ["final"]


def test_lww_validator_error_raises_invalid_op_naming_the_field():
    a = replica("a")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "job", "j1", SET, "title", "x" * 201)

    assert excinfo.value.field == "title"
    assert excinfo.value.reason == "must be text of at most 200 characters"
    assert a.entity("job", "j1") == {}
    assert a.vector() == {}


def test_lww_field_without_validator_takes_any_json_value():
    a = replica("a")
    a.write(T0, "job", "j1", SET, "notes", {"gate code": "4711", "dog": True})

    assert a.entity("job", "j1") == {"notes": {"gate code": "4711", "dog": True}}


def test_lww_kind_rejects_other_actions():
    with pytest.raises(InvalidOp) as excinfo:
        KINDS["lww"].validate(op("a", 1, T0, "job", "j1", INCR, "title", 1), JOB_SPEC["title"])

    assert excinfo.value.field == "action"
    assert excinfo.value.reason == "'incr' does not apply to a lww field; use ['set']"


# -- counter -----------------------------------------------------------------------------------


def test_counter_sums_integer_deltas():
    a = replica("a")
    for delta in (5, -2, 10):
        a.write(T0, "job", "j1", INCR, "stock", delta)

    assert a.entity("job", "j1") == {"stock": 13}
    assert a.registers[STOCK] == Decimal(13)


def test_counter_mixes_integer_and_decimal_string_deltas():
    a = replica("a")
    a.write(T0, "job", "j1", INCR, "stock", 2)
    a.write(T0, "job", "j1", INCR, "stock", "0.5")
    a.write(T0, "job", "j1", INCR, "stock", "-1.25")

    assert a.entity("job", "j1") == {"stock": "1.25"}


def test_counter_adds_a_tenth_ten_times_to_exactly_one():
    a = replica("a")
    for _ in range(10):
        a.write(T0, "job", "j1", INCR, "stock", "0.1")

    assert a.registers[STOCK] == Decimal("1.0")
    assert a.entity("job", "j1") == {"stock": "1.0"}


def test_counter_total_may_go_negative():
    a = replica("a")
    a.write(T0, "job", "j1", INCR, "stock", 3)
    a.write(T0, "job", "j1", INCR, "stock", "-4.5")

    assert a.entity("job", "j1") == {"stock": "-1.5"}


def test_counter_whole_total_reads_as_an_integer():
    a = replica("a")
    a.write(T0, "job", "j1", INCR, "stock", "100")
    a.write(T0, "job", "j1", INCR, "stock", -1)

    assert a.entity("job", "j1") == {"stock": 99}


def test_concurrent_counter_deltas_from_two_replicas_add_up():
    a, b = replica("a"), replica("b")
    a.write(T0, "job", "j1", INCR, "stock", 10)
    b.write(T0, "job", "j1", INCR, "stock", -3)
    b.write(T0 + 1, "job", "j1", INCR, "stock", "0.5")

    sync_all(a, b)

    assert a.entity("job", "j1") == b.entity("job", "j1") == {"stock": "7.5"}
    assert a.conflicts() == []
    assert a.canonical() == b.canonical()


def test_counter_accepts_the_largest_and_finest_deltas_allowed():
    a = replica("a")
    a.write(T0, "job", "j1", INCR, "stock", "999999999999.999999")
    a.write(T0, "job", "j1", INCR, "stock", "0.000001")

    assert a.registers[STOCK] == Decimal("1000000000000.000000")


PLAIN_DECIMAL = '{} is not a plain decimal number such as "-1.5"'


@pytest.mark.parametrize(
    ("delta", "reason"),
    [
        (1.5, DELTA_TYPE),
        (True, DELTA_TYPE),
        (None, DELTA_TYPE),
        ([1], DELTA_TYPE),
        ("abc", PLAIN_DECIMAL.format("'abc'")),
        ("", PLAIN_DECIMAL.format("''")),
        ("NaN", PLAIN_DECIMAL.format("'NaN'")),
        ("-Infinity", PLAIN_DECIMAL.format("'-Infinity'")),
        ("1E+2", PLAIN_DECIMAL.format("'1E+2'")),
        (" 1 ", PLAIN_DECIMAL.format("' 1 '")),
        ("1_000", PLAIN_DECIMAL.format("'1_000'")),
        ("1" * 13, "a delta may have at most 12 digits before the decimal point"),
        (10**12, "a delta may have at most 12 digits before the decimal point"),
        ("1.0000000", "a delta may have at most 6 decimal places"),  # trailing zeros count
    ],
)
def test_counter_rejects_bad_deltas(delta, reason):
    a = replica("a")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "job", "j1", INCR, "stock", delta)

    assert (excinfo.value.field, excinfo.value.reason) == ("stock", reason)
    assert a.entity("job", "j1") == {}


def test_counter_op_with_refs_is_quarantined():
    bad = op("b", 1, T0, "job", "j1", INCR, "stock", 1, refs=[OpId("a", 1)])

    result = replica("a").ingest([bad], NOW)

    assert result.rejected == [(bad.id, Rejection("refs", "a 'incr' op builds on no earlier op; send refs empty"))]


def test_counter_total_does_not_depend_on_arrival_order_even_at_the_limits():
    big = op("a", 1, T0, "job", "j1", INCR, "stock", "999999999999.999999")
    tiny = op("b", 1, T0, "job", "j1", INCR, "stock", "0.000001")
    minus_big = op("c", 1, T0, "job", "j1", INCR, "stock", "-999999999999.999999")

    one_order = ingest_one_by_one([big, tiny, minus_big])
    other_order = ingest_one_by_one([big, minus_big, tiny])

    assert one_order.entity("job", "j1") == other_order.entity("job", "j1") == {"stock": "0.000001"}
    assert one_order.canonical() == other_order.canonical()


def test_counter_totals_beyond_64_bits_travel_as_exact_strings():
    assert to_json_number(Decimal(2**63 - 1)) == 2**63 - 1
    assert to_json_number(Decimal(2**63)) == str(2**63)
    assert to_json_number(Decimal(-(2**63))) == str(-(2**63))


# -- status ------------------------------------------------------------------------------------


def moves(*steps, node="a", start=T0):
    """Transitions authored by ``node`` one millisecond apart."""
    return [op(node, i, start + i, "job", "j1", MOVE, "status", target) for i, target in enumerate(steps, 1)]


def test_status_starts_in_the_initial_state_and_follows_allowed_transitions():
    a = replica("a")
    a.write(T0, "job", "j1", SET, "title", "Boiler")
    assert a.entity("job", "j1") == {"title": "Boiler"}  # no status register until a move

    for target in ("en_route", "on_site", "completed"):
        a.write(T0 + 1, "job", "j1", MOVE, "status", target)

    assert a.entity("job", "j1")["status"] == "completed"
    assert a.conflicts() == []


def test_status_replays_in_hlc_order_regardless_of_arrival_order():
    ops = moves("en_route", "on_site", "completed")

    in_order = ingest_one_by_one(ops)
    reversed_order = ingest_one_by_one(list(reversed(ops)))

    assert in_order.entity("job", "j1") == reversed_order.entity("job", "j1") == {"status": "completed"}
    assert reversed_order.conflicts() == []
    assert [t.target for t in reversed_order.registers[STATUS].transitions] == ["en_route", "on_site", "completed"]
    assert in_order.canonical() == reversed_order.canonical()


def test_invalid_transition_is_skipped_and_kept_as_a_conflict():
    a = replica("a")
    skipped = a.write(T0, "job", "j1", MOVE, "status", "on_site")  # scheduled -> on_site is no edge

    assert a.entity("job", "j1") == {"status": "scheduled"}
    assert a.conflicts() == [
        Conflict("status", "job", "j1", "status", skipped.id, None, None, "cannot move from scheduled to on_site")
    ]


def test_skipped_transition_does_not_block_later_valid_ones():
    ops = moves("on_site", "en_route", "on_site")

    r = ingest_one_by_one(ops)

    assert r.entity("job", "j1") == {"status": "on_site"}
    assert [c.op for c in r.conflicts()] == [ops[0].id]


def test_moving_to_the_current_state_is_skipped():
    r = ingest_one_by_one(moves("en_route", "en_route"))

    assert r.entity("job", "j1") == {"status": "en_route"}
    assert [c.detail for c in r.conflicts()] == ["cannot move from en_route to en_route"]


@pytest.mark.parametrize(
    ("path", "after"),
    [
        (("en_route", "on_site", "completed"), "en_route"),
        (("en_route", "on_site", "completed"), "on_hold"),
        (("en_route", "on_site", "completed"), "cancelled"),
        (("en_route", "cancelled"), "en_route"),
        (("en_route", "cancelled"), "on_hold"),
        (("on_hold", "cancelled"), "scheduled"),
    ],
)
def test_no_transition_leaves_a_terminal_state(path, after):
    terminal = path[-1]
    ops = moves(*path, after)

    r = ingest_one_by_one(ops)

    assert r.entity("job", "j1") == {"status": terminal}
    assert r.conflicts() == [
        Conflict("status", "job", "j1", "status", ops[-1].id, None, None, f"cannot move from {terminal} to {after}")
    ]


def test_on_hold_then_back_to_the_state_held_before():
    en_route, on_hold, resume = moves("en_route", "on_hold", "en_route")
    r = ingest_one_by_one([en_route, on_hold])
    assert r.entity("job", "j1") == {"status": "on_hold"}
    assert r.registers[STATUS].held == "en_route"

    r.ingest([resume], NOW)

    assert r.entity("job", "j1") == {"status": "en_route"}
    assert r.registers[STATUS].held is None
    assert r.conflicts() == []


def test_on_hold_from_the_initial_state_resumes_to_it():
    r = ingest_one_by_one(moves("on_hold", "scheduled", "en_route"))

    assert r.entity("job", "j1") == {"status": "en_route"}
    assert r.conflicts() == []


def test_on_hold_then_to_a_different_state_is_not_allowed():
    ops = moves("en_route", "on_hold", "on_site")

    r = ingest_one_by_one(ops)

    assert r.entity("job", "j1") == {"status": "on_hold"}
    assert r.registers[STATUS].held == "en_route"
    assert r.conflicts() == [
        Conflict("status", "job", "j1", "status", ops[2].id, None, None, "cannot move from on_hold to on_site")
    ]


def test_on_hold_job_can_still_be_cancelled():
    r = ingest_one_by_one(moves("en_route", "on_hold", "cancelled"))

    assert r.entity("job", "j1") == {"status": "cancelled"}
    assert r.conflicts() == []


def test_unknown_state_is_rejected():
    a = replica("a")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "job", "j1", MOVE, "status", "teleported")

    assert excinfo.value.field == "status"
    assert excinfo.value.reason == (
        "unknown state 'teleported'; expected one of "
        "['cancelled', 'completed', 'en_route', 'on_hold', 'on_site', 'problem', 'scheduled']"
    )
    assert a.entity("job", "j1") == {}


def test_late_arriving_earlier_transition_replays_history_forward():
    en_route, on_site = moves("en_route", "on_site")
    r = replica("c")

    r.ingest([on_site], NOW)
    assert r.entity("job", "j1") == {"status": "scheduled"}
    assert [c.detail for c in r.conflicts()] == ["cannot move from scheduled to on_site"]

    r.ingest([en_route], NOW)
    assert r.entity("job", "j1") == {"status": "on_site"}
    assert r.conflicts() == []


def test_late_arriving_earlier_cancel_overturns_later_progress():
    en_route, on_site = moves("en_route", "on_site")  # at T0+1, T0+2
    cancel = op("b", 1, T0 + 1, "job", "j1", MOVE, "status", "cancelled")  # same HLC as en_route, node b > a
    r = ingest_one_by_one([en_route, on_site])
    assert r.entity("job", "j1") == {"status": "on_site"}

    r.ingest([cancel], NOW)

    assert r.entity("job", "j1") == {"status": "cancelled"}
    assert r.conflicts() == [
        Conflict("status", "job", "j1", "status", on_site.id, None, None, "cannot move from cancelled to on_site")
    ]


def test_concurrent_moves_by_two_technicians_converge():
    a, b = replica("a"), replica("b")
    a.write(T0, "job", "j1", MOVE, "status", "en_route")
    sync_all(a, b)
    a.write(T0 + 10, "job", "j1", MOVE, "status", "on_site")
    late_hold = b.write(T0 + 20, "job", "j1", MOVE, "status", "on_hold")  # b still thinks en_route

    sync_all(a, b)

    for r in (a, b):
        assert r.entity("job", "j1") == {"status": "on_hold"}
        assert r.registers[STATUS].held == "on_site"
        assert r.conflicts() == []
    assert late_hold.hlc > pack(T0 + 10)
    assert a.canonical() == b.canonical()


def test_status_kind_merge_is_the_same_for_any_batch_split():
    status = KINDS["status"]
    ops = moves("en_route", "on_hold", "en_route", "on_site", "problem")
    ctx = MergeContext(JOB_SPEC["status"], never_arrived)

    whole = status.merge(None, ops, ctx)
    split = status.merge(status.merge(None, ops[3:], ctx), ops[:3], ctx)

    assert whole == split
    assert status.read(whole) == "problem"


def test_status_value_that_is_not_a_string_is_quarantined():
    bad = op("b", 1, T0, "job", "j1", MOVE, "status", ["en_route"])
    good = op("b", 2, T0 + 1, "job", "j1", SET, "title", "Boiler")
    a = replica("a")

    result = a.ingest([bad, good], NOW)  # raises TypeError: unhashable type: 'list'

    assert result.accepted == [good.id]
    assert [(op_id, rejection.field) for op_id, rejection in result.rejected] == [(bad.id, "status")]


# -- set (add-wins OR-set) ---------------------------------------------------------------------


def test_set_add_and_remove():
    a = replica("a")
    add_gas = a.write(T0, "job", "j1", ADD, "tags", "gas")
    a.write(T0, "job", "j1", ADD, "tags", "urgent")
    assert a.entity("job", "j1") == {"tags": ["gas", "urgent"]}

    remove = a.write(T0, "job", "j1", REMOVE, "tags", "gas")

    assert remove.refs == (add_gas.id,)
    assert a.entity("job", "j1") == {"tags": ["urgent"]}
    assert a.conflicts() == []


def test_set_remove_cancels_every_add_of_the_element_seen():
    a = replica("a")
    first = a.write(T0, "job", "j1", ADD, "tags", "gas")
    second = a.write(T0, "job", "j1", ADD, "tags", "gas")
    assert a.entity("job", "j1") == {"tags": ["gas"]}
    assert a.registers[TAGS].tags == {"gas": {first.id, second.id}}

    remove = a.write(T0, "job", "j1", REMOVE, "tags", "gas")

    assert remove.refs == (first.id, second.id)
    assert a.entity("job", "j1") == {"tags": []}


def test_concurrent_add_and_remove_of_the_same_element_add_wins():
    a, b = replica("a"), replica("b")
    a.write(T0, "job", "j1", ADD, "tags", "gas")
    sync_all(a, b)

    b.write(T0 + 10, "job", "j1", REMOVE, "tags", "gas")
    readd = a.write(T0 + 5, "job", "j1", ADD, "tags", "gas")  # a has not seen the remove
    sync_all(a, b)

    for r in (a, b):
        assert r.entity("job", "j1") == {"tags": ["gas"]}
        assert r.registers[TAGS].tags == {"gas": {readd.id}}
    assert a.canonical() == b.canonical()


def test_remove_arriving_before_its_add_leaves_the_element_absent():
    a = replica("a")
    add = a.write(T0, "job", "j1", ADD, "tags", "gas")
    remove = a.write(T0 + 1, "job", "j1", REMOVE, "tags", "gas")

    late = replica("c")
    late.ingest([remove], NOW)
    assert late.entity("job", "j1") == {"tags": []}
    assert late.registers[TAGS].pending == {("gas", add.id)}

    late.ingest([add], NOW)

    assert late.entity("job", "j1") == {"tags": []}
    assert late.registers[TAGS].pending == frozenset()
    assert late.canonical() == a.canonical()


def test_remove_and_its_add_in_one_batch_leave_the_element_absent():
    add = op("a", 1, T0, "job", "j1", ADD, "tags", "gas")
    remove = op("a", 2, T0 + 1, "job", "j1", REMOVE, "tags", "gas", refs=[add.id])

    register = KINDS["set"].merge(None, [remove, add], MergeContext(JOB_SPEC["tags"], never_arrived))

    assert KINDS["set"].read(register) == []
    assert register.pending == frozenset()


def test_removing_an_element_not_in_the_set_raises_invalid_op_at_author_time():
    a = replica("a")
    a.write(T0, "job", "j1", ADD, "tags", "gas")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "job", "j1", REMOVE, "tags", "water")

    assert (excinfo.value.field, excinfo.value.reason) == ("tags", "'water' is not in the set")
    assert a.vector() == {"a": 1}
    assert a.entity("job", "j1") == {"tags": ["gas"]}


@pytest.mark.parametrize("element", ["", 7, None, "x" * 201])
def test_set_element_must_be_a_short_non_empty_string(element):
    with pytest.raises(InvalidOp) as excinfo:
        replica("a").write(T0, "job", "j1", ADD, "tags", element)

    assert excinfo.value.field == "tags"
    assert excinfo.value.reason == "a set element must be a non-empty string of at most 200 characters"


def test_set_remove_without_refs_is_quarantined():
    bad = op("b", 1, T0, "job", "j1", REMOVE, "tags", "gas")

    result = replica("a").ingest([bad], NOW)

    assert result.rejected == [(bad.id, Rejection("refs", "a remove must name the add ops it cancels"))]


# -- append ------------------------------------------------------------------------------------


def log_record(a: MemoryReplica, minutes: int = 30, now: int = T0, eid: str = "t1") -> Op:
    return a.write(now, "time_log", eid, APPEND, "", {"minutes": minutes})


def test_append_creates_a_record():
    a = replica("a")
    record = log_record(a)

    assert a.entity("time_log", "t1") == {"value": {"minutes": 30}, "voided": False, "by": "a:1", "hlc": record.hlc}
    assert a.conflicts() == []


def test_void_marks_the_record_voided():
    a = replica("a")
    record = log_record(a)

    void = a.write(T0 + 1, "time_log", "t1", VOID, "", "typed 30 instead of 3", refs=[record.id])

    assert a.entity("time_log", "t1")["voided"] is True
    assert a.entity("time_log", "t1")["value"] == {"minutes": 30}  # still readable
    assert a.registers[RECORD].voids[0].id == void.id
    assert a.registers[RECORD].voids[0].reason == "typed 30 instead of 3"


def test_void_of_a_void_restores_the_record():
    a = replica("a")
    record = log_record(a)
    void = a.write(T0 + 1, "time_log", "t1", VOID, "", None, refs=[record.id])

    a.write(T0 + 2, "time_log", "t1", VOID, "", "voided the wrong entry", refs=[void.id])

    assert a.entity("time_log", "t1")["voided"] is False


def test_void_of_void_of_void_voids_the_record_again():
    a = replica("a")
    record = log_record(a)
    v1 = a.write(T0 + 1, "time_log", "t1", VOID, "", None, refs=[record.id])
    v2 = a.write(T0 + 2, "time_log", "t1", VOID, "", None, refs=[v1.id])

    a.write(T0 + 3, "time_log", "t1", VOID, "", None, refs=[v2.id])

    assert a.entity("time_log", "t1")["voided"] is True


def test_void_chain_gives_the_same_result_in_any_arrival_order():
    a = replica("a")
    record = log_record(a)
    v1 = a.write(T0 + 1, "time_log", "t1", VOID, "", None, refs=[record.id])
    v2 = a.write(T0 + 2, "time_log", "t1", VOID, "", None, refs=[v1.id])

    backwards = ingest_one_by_one([v2, v1, record])

    assert backwards.entity("time_log", "t1")["voided"] is False
    assert backwards.canonical() == a.canonical()


def test_void_arriving_before_its_record_takes_effect_when_the_record_arrives():
    record = op("a", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 30})
    void = op("b", 1, T0 + 1, "time_log", "t1", VOID, "", "duplicate entry", refs=[record.id])
    r = replica("c")

    r.ingest([void], NOW)
    assert r.entity("time_log", "t1") == {}
    assert r.conflicts() == []

    r.ingest([record], NOW)
    assert r.entity("time_log", "t1") == {"value": {"minutes": 30}, "voided": True, "by": "a:1", "hlc": pack(T0)}


def test_void_targeting_a_younger_op_has_no_effect():
    record = op("a", 1, T0 + 10, "time_log", "t1", APPEND, "", {"minutes": 30})
    early_void = op("b", 1, T0, "time_log", "t1", VOID, "", None, refs=[record.id])

    r = ingest_one_by_one([record, early_void])

    assert r.entity("time_log", "t1")["voided"] is False
    assert r.registers[RECORD].voids[0].id == early_void.id  # kept, just not effective


def test_void_with_the_same_hlc_as_its_target_counts_only_if_it_sorts_after_it():
    record = op("b", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 30})
    before = op("a", 1, T0, "time_log", "t1", VOID, "", None, refs=[record.id])  # node a < b: sorts first
    after = op("c", 1, T0, "time_log", "t1", VOID, "", None, refs=[record.id])  # node c > b: sorts after

    assert ingest_one_by_one([record, before]).entity("time_log", "t1")["voided"] is False
    assert ingest_one_by_one([record, after]).entity("time_log", "t1")["voided"] is True


def test_void_targeting_a_younger_void_cannot_cancel_it():
    record = op("a", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 30})
    void = op("a", 2, T0 + 10, "time_log", "t1", VOID, "", None, refs=[record.id])
    early_unvoid = op("b", 1, T0 + 5, "time_log", "t1", VOID, "", None, refs=[void.id])

    r = ingest_one_by_one([record, void, early_unvoid])

    assert r.entity("time_log", "t1")["voided"] is True


def test_two_appends_claiming_the_same_record_id_keep_the_earlier_and_a_conflict():
    a, b = replica("a"), replica("b")
    later = log_record(b, minutes=45, now=T0 + 5)
    earlier = log_record(a, minutes=30, now=T0)

    sync_all(a, b)

    expected = [Conflict("append", "time_log", "t1", "", later.id, earlier.id, None, DUPLICATE_RECORD)]
    for r in (a, b):
        assert r.entity("time_log", "t1") == {"value": {"minutes": 30}, "voided": False, "by": "a:1", "hlc": pack(T0)}
        assert r.conflicts() == expected
        assert [e.value for e in r.registers[RECORD].entries] == [{"minutes": 30}, {"minutes": 45}]
    assert a.canonical() == b.canonical()


def test_two_appends_with_equal_hlcs_are_tie_broken_by_node_id():
    from_b = op("b", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 45})
    from_a = op("a", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 30})

    register = KINDS["append"].merge(None, [from_b, from_a], MergeContext(None, never_arrived))

    assert KINDS["append"].read(register)["by"] == "a:1"
    assert KINDS["append"].conflicts(RECORD, register) == [
        Conflict("append", "time_log", "t1", "", from_b.id, from_a.id, None, DUPLICATE_RECORD)
    ]


@pytest.mark.parametrize("record", [{"minutes": 0}, {"minutes": -5}, {"minutes": "30"}, {"minutes": True}, {}])
def test_record_validator_rejects_bad_records(record):
    a = replica("a")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "time_log", "t1", APPEND, "", record)

    assert (excinfo.value.field, excinfo.value.reason) == ("value", "minutes must be a positive whole number")
    assert a.entity("time_log", "t1") == {}


@pytest.mark.parametrize("record", [[30], "30 minutes", None])
def test_a_record_must_be_an_object(record):
    with pytest.raises(InvalidOp) as excinfo:
        replica("a").write(T0, "time_log", "t1", APPEND, "", record)

    assert (excinfo.value.field, excinfo.value.reason) == ("value", "a record must be an object of named fields")


def test_set_on_an_append_only_entity_is_rejected():
    a = replica("a")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0, "time_log", "t1", SET, "", {"minutes": 30})

    assert excinfo.value.field == "action"
    assert excinfo.value.reason == "'set' does not apply to a append field; use ['append', 'void']"


def test_editing_one_field_of_an_append_only_record_is_rejected():
    a = replica("a")
    log_record(a)

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0 + 1, "time_log", "t1", SET, "minutes", 45)

    assert (excinfo.value.field, excinfo.value.reason) == (
        "field",
        "time_log records have no fields to edit; send the whole record",
    )
    assert a.entity("time_log", "t1")["value"] == {"minutes": 30}


def test_set_received_for_an_existing_append_only_record_is_quarantined():
    a = replica("a")
    record = log_record(a)
    edit = op("b", 1, T0 + 1, "time_log", "t1", SET, "", {"minutes": 45}, refs=[record.id])

    result = a.ingest([edit], NOW)

    assert result.rejected == [(edit.id, Rejection("action", "'set' does not apply to a append field; use "
                                                   "['append', 'void']"))]
    assert a.entity("time_log", "t1")["value"] == {"minutes": 30}


def test_authoring_a_set_on_an_existing_append_only_record_raises_invalid_op():
    a = replica("a")
    log_record(a)

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0 + 1, "time_log", "t1", SET, "", {"minutes": 45})  # AttributeError instead

    assert excinfo.value.field == "action"


def test_authoring_a_remove_on_an_existing_lww_field_raises_invalid_op():
    a = replica("a")
    a.write(T0, "job", "j1", SET, "title", "Boiler")

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0 + 1, "job", "j1", REMOVE, "title", "Boiler")  # AttributeError instead

    assert excinfo.value.field == "action"


def test_void_must_name_exactly_one_op():
    record = op("a", 1, T0, "time_log", "t1", APPEND, "", {"minutes": 30})
    other = op("a", 2, T0, "time_log", "t2", APPEND, "", {"minutes": 30})
    bad = op("a", 3, T0 + 1, "time_log", "t1", VOID, "", None, refs=[record.id, other.id])

    result = replica("c").ingest([record, other, bad], NOW)

    assert result.accepted == [record.id, other.id]
    reason = "a void names exactly one op: the record or void it cancels"
    assert result.rejected == [(bad.id, Rejection("refs", reason))]


# -- tombstone ---------------------------------------------------------------------------------


def test_delete_marks_the_entity_deleted_and_keeps_its_fields():
    a = replica("a")
    a.write(T0, "job", "j1", SET, "title", "Boiler")
    delete = a.write(T0 + 1, "job", "j1", DELETE, "", "duplicate of j2")

    assert a.entity("job", "j1") == {
        "_deleted": {"deleted_by": "a:2", "hlc": delete.hlc, "reason": "duplicate of j2"},
        "title": "Boiler",
    }


def test_edits_after_a_delete_are_merged_but_the_entity_stays_deleted():
    a, b = replica("a"), replica("b")
    a.write(T0, "job", "j1", SET, "title", "Boiler")
    sync_all(a, b)
    delete = a.write(T0 + 1, "job", "j1", DELETE)
    b.write(T0 + 2, "job", "j1", SET, "title", "Boiler (gas)")
    b.write(T0 + 2, "job", "j1", INCR, "stock", 2)

    sync_all(a, b)

    for r in (a, b):
        assert r.entity("job", "j1") == {
            "_deleted": {"deleted_by": "a:2", "hlc": delete.hlc, "reason": None},
            "stock": 2,
            "title": "Boiler (gas)",
        }
    assert a.canonical() == b.canonical()


def test_the_earliest_delete_is_reported_whatever_the_arrival_order():
    early = op("b", 1, T0, "job", "j1", DELETE, "", "customer cancelled")
    late = op("a", 1, T0 + 1, "job", "j1", DELETE, "", "entered twice")

    forward = ingest_one_by_one([early, late])
    backward = ingest_one_by_one([late, early])

    for r in (forward, backward):
        assert r.entity("job", "j1") == {
            "_deleted": {"deleted_by": "b:1", "hlc": pack(T0), "reason": "customer cancelled"}
        }
        assert r.conflicts() == []
    assert forward.canonical() == backward.canonical()


def test_equal_hlc_deletes_report_the_lower_node_id():
    deletes = [op("b", 1, T0, "job", "j1", DELETE), op("a", 1, T0, "job", "j1", DELETE)]

    register = KINDS["tombstone"].merge(None, deletes, MergeContext(None, never_arrived))

    assert KINDS["tombstone"].read(register)["deleted_by"] == "a:1"


def test_a_delete_naming_a_field_is_rejected():
    with pytest.raises(InvalidOp) as excinfo:
        replica("a").write(T0, "job", "j1", DELETE, "title")

    assert excinfo.value.field == "field"
    assert excinfo.value.reason == "a delete applies to the whole entity; leave field empty"


def test_append_only_records_cannot_be_deleted():
    a = replica("a")
    log_record(a)

    with pytest.raises(InvalidOp) as excinfo:
        a.write(T0 + 1, "time_log", "t1", DELETE)

    assert excinfo.value.field == "action"


# -- ingest: rejections, idempotence, vectors --------------------------------------------------


def test_ingesting_an_invalid_op_quarantines_it_with_field_and_reason():
    bad = op("b", 1, T0, "job", "j1", SET, "title", "x" * 201)
    good = op("b", 2, T0 + 1, "job", "j1", SET, "notes", "ok")
    a = replica("a")

    result = a.ingest([bad, good], NOW)

    rejection = Rejection("title", "must be text of at most 200 characters")
    assert result.accepted == [good.id]
    assert result.rejected == [(bad.id, rejection)]
    assert result.duplicates == 0
    assert a.quarantine == {bad.id: (bad, rejection)}
    assert a.entity("job", "j1") == {"notes": "ok"}


def test_reingesting_a_quarantined_op_reports_it_again_as_rejected_not_duplicate():
    bad = op("b", 1, T0, "job", "j1", SET, "title", "x" * 201)
    a = replica("a")
    a.ingest([bad], NOW)
    before = a.canonical()

    again = a.ingest([bad], NOW)

    assert again.accepted == []
    assert again.duplicates == 0
    assert again.rejected == [(bad.id, Rejection("title", "must be text of at most 200 characters"))]
    assert again.to_json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [{"id": ["b", 1], "field": "title", "reason": "must be text of at most 200 characters",
                      "clock_ahead": False}],
    }
    assert a.canonical() == before


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (op("b", 1, T0, "customer", "c1", SET, "name", "x"), "entity", "unknown entity type 'customer'"),
        (op("b", 1, T0, "job", "j1", SET, "colour", "red"), "field", "job has no field 'colour'"),
        (op("b", 1, T0, "job", "j1", SET, "", "x"), "field", "job has no field ''"),
        (op("b", 1, T0, "job", "j1", MOVE, "stock", "en_route"), "action",
         "'move' does not apply to a counter field; use ['incr']"),
        (op("b", 1, T0, "job", "j1", SET, "title", "x", refs=[OpId("b", 1)]), "refs", "an op cannot refer to itself"),
    ],
)
def test_ops_that_fit_no_register_are_quarantined(bad, field, reason):
    a = replica("a")

    result = a.ingest([bad], NOW)

    assert result.rejected == [(bad.id, Rejection(field, reason))]
    assert a.registers == {}


def test_op_too_far_ahead_of_the_receivers_clock_is_quarantined():
    ahead = op("b", 1, T0 + DEFAULT_MAX_AHEAD_MS + 1_000, "job", "j1", SET, "title", "from the future")
    at_bound = op("b", 2, T0 + DEFAULT_MAX_AHEAD_MS, "job", "j1", SET, "notes", "just in time")
    a = replica("a")

    result = a.ingest([ahead, at_bound], T0)

    assert result.accepted == [at_bound.id]
    assert result.rejected == [
        (ahead.id, Rejection("hlc", "timestamp is 301.0 s ahead of this replica's clock (bound 300.0 s)",
                             clock_ahead=True))
    ]
    assert a.clock() == at_bound.hlc


def test_ingesting_the_same_batch_twice_changes_nothing_and_counts_duplicates():
    source = replica("a")
    source.write(T0, "job", "j1", SET, "title", "Boiler")
    source.write(T0, "job", "j1", INCR, "stock", 4)
    source.write(T0, "job", "j1", MOVE, "status", "en_route")
    source.write(T0, "job", "j1", ADD, "tags", "gas")
    source.write(T0, "time_log", "t1", APPEND, "", {"minutes": 15})
    batch = source.ops_after({}, 100)
    b = replica("b")

    first = b.ingest(batch, NOW)
    snapshot = b.canonical()
    second = b.ingest(batch, NOW)

    assert len(first.accepted) == 5 and first.duplicates == 0
    assert second.accepted == [] and second.duplicates == 5 and second.rejected == []
    assert b.canonical() == snapshot == source.canonical()
    assert b.entity("job", "j1") == {"stock": 4, "status": "en_route", "tags": ["gas"], "title": "Boiler"}


def test_duplicates_inside_one_batch_are_counted_and_applied_once():
    delta = op("b", 1, T0, "job", "j1", INCR, "stock", 4)
    a = replica("a")

    result = a.ingest([delta, delta, delta], NOW)

    assert result.accepted == [delta.id]
    assert result.duplicates == 2
    assert a.entity("job", "j1") == {"stock": 4}


def test_vector_and_ops_after_track_what_each_node_wrote():
    a = replica("a")
    ops = [a.write(T0 + i, "job", "j1", INCR, "stock", 1) for i in range(3)]
    theirs = op("b", 1, T0, "job", "j2", INCR, "stock", 1)
    a.ingest([theirs], NOW)

    assert [o.counter for o in ops] == [1, 2, 3]
    assert a.vector() == {"a": 3, "b": 1}
    assert a.ops_after({"a": 1}, 10) == [ops[1], ops[2], theirs]
    assert a.ops_after({"a": 1, "b": 1}, 10) == [ops[1], ops[2]]
    assert a.ops_after({}, 2) == [ops[0], ops[1]]


def test_vector_does_not_advance_over_a_gap():
    third = op("b", 3, T0, "job", "j1", INCR, "stock", 1)
    a = replica("a")
    a.ingest([op("b", 1, T0, "job", "j1", INCR, "stock", 1), third], NOW)

    assert a.vector() == {"b": 1}

    a.ingest([op("b", 2, T0, "job", "j1", INCR, "stock", 1)], NOW)

    assert a.vector() == {"b": 3}
    assert a.entity("job", "j1") == {"stock": 3}


def test_quarantined_op_still_counts_in_the_vector_but_is_never_shipped():
    bad = op("b", 1, T0, "job", "j1", SET, "title", "x" * 201)
    a = replica("a")
    a.ingest([bad], NOW)

    assert a.vector() == {"b": 1}
    assert a.ops_after({}, 10) == []
