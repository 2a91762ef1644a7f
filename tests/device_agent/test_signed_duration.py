"""How a clock change reads to the technician: two units at most, to the nearest second."""

import pytest

from device_agent.clock import signed_duration

HOUR_MS = 3600 * 1000


@pytest.mark.parametrize(("ms", "reads"), [
    (HOUR_MS, "+1h"),
    (HOUR_MS - 2, "+1h"),  # measured between two readings a few ms apart: still an hour
    (-HOUR_MS - 3, "-1h"),
    (HOUR_MS + 2 * 60_000, "+1h 2m"),
    (45_000, "+45s"),
    (400, "+0s"),
    (-(3 * 86_400 + 4 * 3600) * 1000, "-3d 4h"),
    ((73 * 365 * 86_400 + 18 * 86_400 + 5) * 1000, "+73y 18d"),
])
def test_a_clock_change_reads_as_a_person_would_say_it(ms, reads):
    assert signed_duration(ms) == reads
