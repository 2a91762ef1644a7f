"""Example-based tests of the hybrid logical clock in ``sync/hlc.py``."""

from datetime import UTC, datetime

import pytest

from sync import hlc
from sync.errors import ClockExhausted, ClockSkewError
from sync.hlc import DEFAULT_MAX_AHEAD_MS, LOGICAL_MASK, pack
from sync.ops import Op
from tests.sync.model import FAR_FUTURE_MS

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


# -- pack / unpack ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "logical"),
    [(0, 0), (0, 1), (T0, 0), (T0, 42), (T0, LOGICAL_MASK), (FAR_FUTURE_MS, LOGICAL_MASK), ((1 << 47) - 1, 7)],
)
def test_pack_then_unpack_gives_back_wall_and_logical(wall, logical):
    packed = pack(wall, logical)

    assert hlc.wall_ms(packed) == wall
    assert hlc.logical(packed) == logical


def test_pack_puts_wall_time_in_the_high_bits_and_logical_in_the_low_16():
    assert hlc.LOGICAL_BITS == 16
    assert LOGICAL_MASK == 0xFFFF
    assert pack(1, 0) == 65_536
    assert pack(1, 5) == 65_541
    assert pack(T0) == T0 * 65_536


def test_integer_order_of_packed_hlcs_is_time_order():
    # The largest logical value of one millisecond still sorts before the next millisecond.
    assert pack(T0, LOGICAL_MASK) < pack(T0 + 1, 0)
    assert pack(T0, 1) < pack(T0, 2)
    assert sorted([pack(T0 + 1), pack(T0, 3), pack(T0, LOGICAL_MASK), pack(T0 - 1, 9)]) == [
        pack(T0 - 1, 9),
        pack(T0, 3),
        pack(T0, LOGICAL_MASK),
        pack(T0 + 1),
    ]


# -- tick ---------------------------------------------------------------------------------------


def test_tick_from_a_fresh_clock_uses_the_wall_time_with_logical_zero():
    assert hlc.tick(0, T0) == pack(T0, 0)


def test_tick_when_wall_clock_moves_forward_takes_wall_time_and_resets_logical():
    assert hlc.tick(pack(T0, 7), T0 + 1) == pack(T0 + 1, 0)
    assert hlc.tick(pack(T0, LOGICAL_MASK), T0 + 5_000) == pack(T0 + 5_000, 0)


def test_tick_with_stuck_wall_clock_increments_logical():
    assert hlc.tick(pack(T0, 7), T0) == pack(T0, 8)


def test_tick_with_wall_clock_going_backwards_stays_after_the_last_hlc():
    last = pack(T0, 7)

    nxt = hlc.tick(last, T0 - 60_000)

    assert nxt == pack(T0, 8)
    assert nxt > last


def test_successive_ticks_on_a_stuck_clock_strictly_increase():
    issued = [pack(T0, 0)]
    for _ in range(1_000):
        issued.append(hlc.tick(issued[-1], T0))

    assert issued == sorted(set(issued))
    assert issued[-1] == pack(T0, 1_000)


def test_tick_raises_clock_exhausted_when_logical_counter_overflows():
    with pytest.raises(ClockExhausted) as excinfo:
        hlc.tick(pack(T0, LOGICAL_MASK), T0)

    assert excinfo.value.retryable is True
    assert "65,535 events in one millisecond" in str(excinfo.value)


def test_tick_raises_clock_exhausted_when_clock_is_behind_and_logical_is_full():
    with pytest.raises(ClockExhausted):
        hlc.tick(pack(T0, LOGICAL_MASK), T0 - 1)


def test_tick_recovers_from_exhaustion_once_the_wall_clock_moves():
    assert hlc.tick(pack(T0, LOGICAL_MASK), T0 + 1) == pack(T0 + 1, 0)


def test_one_below_the_logical_limit_still_ticks():
    assert hlc.tick(pack(T0, LOGICAL_MASK - 1), T0) == pack(T0, LOGICAL_MASK)


# -- observe / check_ahead -----------------------------------------------------------------------


def test_observe_takes_the_remote_hlc_when_it_is_ahead():
    assert hlc.observe(pack(T0, 3), pack(T0 + 100, 2), now_ms=T0) == pack(T0 + 100, 2)


def test_observe_keeps_the_local_hlc_when_the_remote_is_behind():
    assert hlc.observe(pack(T0, 3), pack(T0 - 100, 9), now_ms=T0) == pack(T0, 3)


def test_observe_keeps_the_value_when_both_are_equal():
    assert hlc.observe(pack(T0, 3), pack(T0, 3), now_ms=T0) == pack(T0, 3)


def test_tick_after_observe_is_after_both_clocks():
    last = hlc.observe(pack(T0, 3), pack(T0 + 100, 2), now_ms=T0)

    nxt = hlc.tick(last, T0)

    assert nxt == pack(T0 + 100, 3)
    assert nxt > pack(T0 + 100, 2)


def test_observe_refuses_a_remote_hlc_beyond_the_default_bound():
    remote = pack(T0 + DEFAULT_MAX_AHEAD_MS + 1)

    with pytest.raises(ClockSkewError) as excinfo:
        hlc.observe(pack(T0), remote, now_ms=T0)

    assert DEFAULT_MAX_AHEAD_MS == 300_000
    assert excinfo.value.ahead_ms == DEFAULT_MAX_AHEAD_MS + 1
    assert excinfo.value.bound_ms == DEFAULT_MAX_AHEAD_MS
    assert excinfo.value.retryable is False
    assert excinfo.value.message == "timestamp is 300.0 s ahead of this replica's clock (bound 300.0 s)"


def test_observe_accepts_a_remote_hlc_exactly_at_the_bound():
    # The bound is on wall time: any logical value inside the boundary millisecond is accepted.
    remote = pack(T0 + DEFAULT_MAX_AHEAD_MS, LOGICAL_MASK)

    assert hlc.observe(pack(T0), remote, now_ms=T0) == remote


def test_observe_uses_a_custom_bound():
    assert hlc.observe(0, pack(T0 + 10), now_ms=T0, max_ahead_ms=10) == pack(T0 + 10)
    with pytest.raises(ClockSkewError) as excinfo:
        hlc.observe(0, pack(T0 + 11), now_ms=T0, max_ahead_ms=10)
    assert (excinfo.value.ahead_ms, excinfo.value.bound_ms) == (11, 10)


@pytest.mark.parametrize(
    "remote",
    [0, pack(T0 - 1), pack(T0), pack(T0, LOGICAL_MASK), pack(T0 + DEFAULT_MAX_AHEAD_MS, LOGICAL_MASK)],
)
def test_check_ahead_accepts_timestamps_behind_at_or_within_the_bound(remote):
    assert hlc.check_ahead(remote, T0) is None


def test_check_ahead_reports_how_far_ahead_a_refused_timestamp_is():
    with pytest.raises(ClockSkewError) as excinfo:
        hlc.check_ahead(pack(T0 + 3_600_000), T0)

    assert excinfo.value.ahead_ms == 3_600_000
    assert excinfo.value.bound_ms == DEFAULT_MAX_AHEAD_MS
    assert "3600.0 s ahead" in str(excinfo.value)
    assert "set the device clock right" in str(excinfo.value)


def test_check_ahead_with_zero_bound_refuses_one_millisecond_ahead():
    assert hlc.check_ahead(pack(T0, LOGICAL_MASK), T0, max_ahead_ms=0) is None
    with pytest.raises(ClockSkewError):
        hlc.check_ahead(pack(T0 + 1), T0, max_ahead_ms=0)


# -- formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packed", "text"),
    [
        (pack(0, 0), "1970-01-01T00:00:00.000Z#0"),
        (pack(T0, 0), "2023-11-14T22:13:20.000Z#0"),
        (pack(T0 + 123, 5), "2023-11-14T22:13:20.123Z#5"),
        (pack(T0 + 999, LOGICAL_MASK), "2023-11-14T22:13:20.999Z#65535"),
        (pack(FAR_FUTURE_MS, 1), "2100-01-01T00:00:00.000Z#1"),
    ],
)
def test_format_hlc_shows_utc_time_to_the_millisecond_and_the_logical_counter(packed, text):
    assert hlc.format_hlc(packed) == text


def test_format_hlc_is_exact_for_every_millisecond_of_a_present_day_second():
    for ms in range(1_000):
        assert hlc.format_hlc(pack(T0 + ms, 0)) == f"2023-11-14T22:13:20.{ms:03d}Z#0"


def test_format_hlc_is_exact_for_far_future_hlcs():
    # 9_000_000_000_001 ms is 2255-03-14T16:00:00.001Z; format_hlc prints "...:00.000Z#0".
    assert hlc.format_hlc(pack(9_000_000_000_001)) == "2255-03-14T16:00:00.001Z#0"


def test_to_datetime_is_an_aware_utc_datetime_of_the_wall_part():
    assert hlc.to_datetime(pack(T0 + 250, 99)) == datetime(2023, 11, 14, 22, 13, 20, 250_000, tzinfo=UTC)


# -- total order ---------------------------------------------------------------------------------


def test_order_key_breaks_equal_hlcs_by_node_id():
    assert hlc.order_key(pack(T0), "alpha", 9) < hlc.order_key(pack(T0), "bravo", 1)


def test_order_key_puts_hlc_before_node_id():
    # A later HLC wins even against a node id that sorts first.
    assert hlc.order_key(pack(T0, 1), "alpha", 1) > hlc.order_key(pack(T0, 0), "zulu", 1)


def test_order_key_breaks_a_repeated_hlc_of_one_node_by_counter():
    assert hlc.order_key(pack(T0), "alpha", 2) < hlc.order_key(pack(T0), "alpha", 3)


def test_sorting_writes_by_order_key_gives_one_total_order():
    writes = [(pack(T0, 1), "b", 1), (pack(T0), "b", 4), (pack(T0), "a", 2), (pack(T0 - 1, 9), "z", 1),
              (pack(T0, 1), "a", 3), (pack(T0), "a", 1)]

    ordered = sorted(writes, key=lambda w: hlc.order_key(*w))

    assert ordered == [
        (pack(T0 - 1, 9), "z", 1),
        (pack(T0), "a", 1),
        (pack(T0), "a", 2),
        (pack(T0), "b", 4),
        (pack(T0, 1), "a", 3),
        (pack(T0, 1), "b", 1),
    ]


def test_op_order_is_the_order_key_of_its_hlc_node_and_counter():
    first = Op("a", 7, pack(T0), "job", "j1", "set", "title", "x")
    second = Op("b", 1, pack(T0), "job", "j1", "set", "title", "y")

    assert first.order == hlc.order_key(pack(T0), "a", 7) == (pack(T0), "a", 7)
    # Node id comes before counter: node b's first op still sorts after node a's seventh.
    assert first.order < second.order
