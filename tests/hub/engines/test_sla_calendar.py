"""SLA calendars: 24x7, and business hours across weekends, bank holidays and clock changes.

Every figure is worked out by hand in the comment beside it (England & Wales, 2026: Christmas Day
is Friday 25 December, Boxing Day Saturday 26 December with its substitute holiday on Monday 28
December; the summer bank holiday is Monday 31 August; British Summer Time ends on 25 October).
"""

from datetime import UTC, datetime

import pytest

from hub.engines.sla_calendar import CalendarError, parse

MIN = 60_000


def utc(text):
    return datetime.fromisoformat(text).astimezone(UTC)


def test_24x7_counts_every_minute():
    calendar = parse("24x7")
    # Friday 17:00 to Monday 09:00 is 64 hours = 3,840 minutes, weekend and all.
    assert calendar.working_ms(utc("2026-11-27T17:00:00+00:00"), utc("2026-11-30T09:00:00+00:00")) == 3840 * MIN
    assert calendar.add_working(utc("2026-11-27T17:00:00+00:00"), 90 * MIN) == utc("2026-11-27T18:30:00+00:00")


def test_business_hours_skip_the_weekend():
    calendar = parse("business:GB")
    # Friday 27 Nov 2026 15:00 GMT: 120 minutes left on Friday (15:00-17:00); Saturday and Sunday
    # count nothing; the remaining 480 - 120 = 360 minutes run from Monday 09:00 to 15:00.
    start = utc("2026-11-27T15:00:00+00:00")
    assert calendar.add_working(start, 480 * MIN) == utc("2026-11-30T15:00:00+00:00")
    # Friday 15:00 to Monday 10:30: 120 (Friday) + 90 (Monday 09:00-10:30) = 210 minutes.
    assert calendar.working_ms(start, utc("2026-11-30T10:30:00+00:00")) == 210 * MIN


def test_business_hours_skip_christmas_and_the_substitute_boxing_day():
    calendar = parse("business:GB")
    # Thursday 24 Dec 16:00: 60 minutes that day; Fri 25 (Christmas), Sat, Sun, Mon 28 (Boxing
    # Day observed) count nothing; 480 - 60 = 420 minutes from Tuesday 29 Dec 09:00 end at 16:00.
    start = utc("2026-12-24T16:00:00+00:00")
    assert calendar.add_working(start, 480 * MIN) == utc("2026-12-29T16:00:00+00:00")
    # Thursday 16:00 to Tuesday 10:00: 60 + 60 = 120 working minutes across five days.
    assert calendar.working_ms(start, utc("2026-12-29T10:00:00+00:00")) == 120 * MIN


def test_business_hours_skip_the_summer_bank_holiday_in_summer_time():
    calendar = parse("business:GB")
    # Friday 28 Aug 16:00 BST (15:00 UTC): 60 minutes to 17:00 BST; Mon 31 Aug is a bank holiday;
    # the other 180 of 240 minutes run from Tuesday 1 Sep 09:00 BST to 12:00 BST = 11:00 UTC.
    assert calendar.add_working(utc("2026-08-28T15:00:00+00:00"), 240 * MIN) == utc("2026-09-01T11:00:00+00:00")


def test_scotland_keeps_its_own_holidays():
    # 31 Aug 2026 is no holiday in Scotland (its summer holiday is 3 Aug): Monday counts there.
    scotland = parse("business:GB-SCT")
    assert scotland.add_working(utc("2026-08-28T15:00:00+00:00"), 240 * MIN) == utc("2026-08-31T11:00:00+00:00")


def test_working_hours_follow_the_clock_change():
    calendar = parse("business:GB")
    # Friday 23 Oct 16:30 BST = 15:30 UTC: 30 minutes that day; BST ends Sunday 25 Oct, so Monday
    # 26 Oct opens at 09:00 GMT = 09:00 UTC; 60 - 30 = 30 more minutes end at 09:30 UTC.
    assert calendar.add_working(utc("2026-10-23T15:30:00+00:00"), 60 * MIN) == utc("2026-10-26T09:30:00+00:00")


def test_a_spec_names_days_hours_and_time_zone():
    calendar = parse("business:US-NY;days=mon-sat;hours=08:00-12:00;tz=America/New_York")
    # Saturday 28 Nov 2026 08:00 EST = 13:00 UTC is a working day here; 4 hours a day, so
    # 300 minutes = Saturday's 240 + Monday 08:00-09:00 EST (13:00-14:00 UTC).
    assert calendar.add_working(utc("2026-11-28T13:00:00+00:00"), 300 * MIN) == utc("2026-11-30T14:00:00+00:00")
    assert parse("business;days=sun-thu").days == frozenset({6, 0, 1, 2, 3})


def test_a_start_outside_working_hours_waits_for_the_next_opening():
    calendar = parse("business:GB")
    # Saturday 28 Nov 20:00: the first working minute is Monday 09:00; 30 minutes end at 09:30.
    assert calendar.add_working(utc("2026-11-28T20:00:00+00:00"), 30 * MIN) == utc("2026-11-30T09:30:00+00:00")
    # A target used up exactly at closing time is due at closing time, not the next morning.
    assert calendar.add_working(utc("2026-11-30T09:00:00+00:00"), 480 * MIN) == utc("2026-11-30T17:00:00+00:00")


@pytest.mark.parametrize(("spec", "part"), [
    ("nine-to-five", "a calendar is"),
    ("business:XX", "no country"),
    ("business:US", "time zone"),
    ("business:GB;hours=17:00-09:00", "close after it opens"),
    ("business:GB;hours=nine", "HH:MM"),
    ("business:GB;days=mon-someday", "day names"),
    ("business:GB;tz=Mars/Olympus", "IANA"),
    ("business:GB;colour=blue", "options are"),
])
def test_a_spec_that_cannot_be_read_says_which_part_is_wrong(spec, part):
    with pytest.raises(CalendarError, match=part):
        parse(spec)
